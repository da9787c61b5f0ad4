"""Shared line-level parsing and validation for the data loaders.

Files are parsed with pandas' C reader (vectorised). When that reader fails or a
vectorised check finds a bad value, :func:`locate_problem` re-reads the text line
by line, only then, to name the exact file and line in the error message.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.errors import DataError

#: Column kinds: ``int`` and ``float`` must parse and be finite, ``str`` must be
#: non-empty, ``str?`` may be empty (read as NaN).
KINDS = ("int", "float", "str", "str?")
_UNIT_SEP = "\x1f"
_SEP_NAMES = {"\t": "tab", ",": "comma", "|": "pipe", ";": "semicolon", "::": "'::'", None: "whitespace"}

Columns = Sequence[tuple[str, str]]


def read_source(source: str | Path | bytes, label: str | None = None) -> tuple[bytes, str]:
    """Return the raw bytes of a file (or bytes as given) and a label for messages."""
    if isinstance(source, bytes):
        return source, label or "<bytes>"
    p = Path(source)
    if not p.is_file():
        raise DataError(f"{p}: file not found")
    return p.read_bytes(), label or p.name


def count_lines(raw: bytes) -> int:
    """Number of lines up to the last non-blank byte (trailing blank lines ignored)."""
    end = len(raw.rstrip())
    return raw.count(b"\n", 0, end) + 1 if end else 0


def read_table(
    source: str | Path | bytes,
    columns: Columns,
    *,
    sep: str | None,
    header: Sequence[str] | bool | None = None,
    encoding: str = "utf-8",
    quoting: bool = False,
    label: str | None = None,
) -> tuple[pd.DataFrame, int]:
    """Parse a delimited text file with a fixed number of typed fields.

    Parameters
    ----------
    source
        File path, or raw bytes (then pass ``label``).
    columns
        ``(name, kind)`` per field, ``kind`` in :data:`KINDS`.
    sep
        Field separator; ``"::"`` is supported; ``None`` means runs of whitespace.
    header
        ``None``/``False``: no header. A sequence: the exact expected header
        fields (checked). ``True``: a header whose fields become the names.
    encoding
        Text encoding (``latin-1`` for ``u.item``, ``movies.dat``, ``tags.dat``).
    quoting
        Honour CSV double quotes (``movies.csv``); off for MovieLens ``.dat`` files.
    label
        Name used in messages (default: the file name).

    Returns
    -------
    frame, first_line
        The records and the 1-based line number of the first record, so that
        row ``r`` is line ``first_line + r``.

    Raises
    ------
    DataError
        Empty file, wrong header, wrong field count, unparsable, empty or
        non-finite value, with file name and line number.
    """
    raw, label = read_source(source, label)
    if not raw.strip():
        raise DataError(f"{label}: file is empty")
    raw, psep = _one_byte_separator(raw, sep, label)
    kinds = [k for _, k in columns]
    names, skip = _header_names(raw, [c for c, _ in columns], header, psep, encoding, quoting, label)
    n_records = count_lines(raw) - skip
    if n_records <= 0:
        raise DataError(f"{label}: no records after the header")
    dtypes = {n: {"int": "int64", "float": "float64"}.get(k, "object") for n, k in zip(names, kinds)}
    try:
        df = pd.read_csv(
            io.BytesIO(raw),
            sep=psep if psep is not None else r"\s+",
            header=None,
            skiprows=skip,
            names=names,
            index_col=False,
            dtype=dtypes,
            encoding=encoding,
            quoting=csv.QUOTE_MINIMAL if quoting else csv.QUOTE_NONE,
            keep_default_na=False,
            na_values=[""],
            engine="c",
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise _located(raw, kinds, psep, sep, encoding, quoting, label, skip) or DataError(
            f"{label}: cannot parse: {exc}"
        ) from None
    if len(df) != n_records or _has_bad_values(df, names, kinds):
        raise _located(raw, kinds, psep, sep, encoding, quoting, label, skip) or DataError(
            f"{label}: {len(df)} records parsed but the file has {n_records} lines"
        )
    return df, skip + 1


def _one_byte_separator(raw: bytes, sep: str | None, label: str) -> tuple[bytes, str | None]:
    """``raw`` and the separator to parse it with: a multi-character one (``"::"``) becomes
    the unit separator 0x1f, which pandas' C reader takes (the file must not hold it)."""
    if sep is None or len(sep) == 1:
        return raw, sep
    if _UNIT_SEP.encode() in raw:
        raise DataError(f"{label}: unexpected control character 0x1f in the file")
    return raw.replace(sep.encode(), _UNIT_SEP.encode()), _UNIT_SEP


def _header_names(
    raw: bytes,
    names: list[str],
    header: Sequence[str] | bool | None,
    sep: str | None,
    encoding: str,
    quoting: bool,
    label: str,
) -> tuple[list[str], int]:
    """The column names and the number of header lines to skip (0 or 1), checking the header."""
    if header is None or header is False:
        return names, 0
    first = _decode_line(raw.split(b"\n", 1)[0], encoding, label, 1)
    got = _split(first, sep, quoting)
    if header is True:
        if len(got) != len(names):
            raise DataError(f"{label} line 1: expected {len(names)} header fields, got {len(got)}")
        return got, 1
    if [g.strip() for g in got] != list(header):
        raise DataError(f"{label} line 1: expected header {list(header)}, got {got}")
    return names, 1


def _has_bad_values(df: pd.DataFrame, names: Sequence[str], kinds: Sequence[str]) -> bool:
    """Whether a ``float`` column holds a non-finite value or a ``str`` column an empty one."""
    for n, k in zip(names, kinds):
        col = df[n]
        if k == "float" and not bool(np.isfinite(col.to_numpy()).all()):
            return True
        if k == "str" and bool(col.isna().any()):
            return True
    return False

def _split(line: str, sep: str | None, quoting: bool) -> list[str]:
    if sep is None:
        return line.split()
    if quoting:
        return next(csv.reader([line], delimiter=sep), [])
    return line.split(sep)


def _decode_line(b: bytes, encoding: str, label: str, lineno: int) -> str:
    try:
        return b.decode(encoding).rstrip("\r")
    except UnicodeDecodeError as exc:
        raise DataError(
            f"{label} line {lineno}: not valid {encoding} text ({exc.reason} at byte {exc.start})"
        ) from None


def _located(
    raw: bytes,
    kinds: Sequence[str],
    psep: str | None,
    sep: str | None,
    encoding: str,
    quoting: bool,
    label: str,
    skip: int,
) -> DataError | None:
    """Find the first bad line (slow path, run only after a fast check failed)."""
    msg = locate_problem(raw, kinds, psep, encoding, quoting, label, skip, _SEP_NAMES.get(sep, repr(sep)))
    return DataError(msg) if msg else None


def locate_problem(
    raw: bytes,
    kinds: Sequence[str],
    sep: str | None,
    encoding: str,
    quoting: bool,
    label: str,
    skip: int,
    sep_name: str,
) -> str | None:
    """Return a message naming the first malformed line, or None if none is found."""
    n_lines = count_lines(raw)
    lines = raw.split(b"\n")
    for idx in range(skip, n_lines):
        lineno = idx + 1
        text = _decode_line(lines[idx], encoding, label, lineno)
        if not text.strip():
            return f"{label} line {lineno}: empty line"
        fields = _split(text, sep, quoting)
        if len(fields) != len(kinds):
            return f"{label} line {lineno}: expected {len(kinds)} {sep_name}-separated fields, got {len(fields)}"
        for pos, (field, kind) in enumerate(zip(fields, kinds), start=1):
            problem = _field_problem(field.strip(), kind)
            if problem:
                return f"{label} line {lineno}, field {pos}: {problem}"
    return None


def _field_problem(field: str, kind: str) -> str | None:
    if kind == "int":
        try:
            int(field)
        except ValueError:
            return f"{field!r} is not an integer"
    elif kind == "float":
        try:
            x = float(field)
        except ValueError:
            return f"{field!r} is not a number"
        if not math.isfinite(x):
            return f"{field!r} is not a finite number"
    elif kind == "str" and not field:
        return "empty value"
    return None
