"""Checks of parsed records that name the offending line: value ranges, unique ids, repeated pairs.

The loaders run them on the columns :func:`advrec.data.parsing.read_table` returns (row
``r`` of a file is line ``first_line + r``); each is one vectorised pass and raises a
:class:`~advrec.errors.DataError` naming the file, the line and the value.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from advrec.errors import DataError


def check_range(
    values: np.ndarray | pd.Series,
    *,
    label: str,
    field: str,
    first_line: int,
    lo: float | None = None,
    hi: float | None = None,
    allowed: Sequence[float] | None = None,
) -> None:
    """Raise a :class:`DataError` naming the first line whose value is out of range.

    Parameters
    ----------
    values
        Parsed values in file order (row ``r`` is line ``first_line + r``).
    lo, hi
        Inclusive bounds (either may be None).
    allowed
        If given, the only admissible values (e.g. MovieLens half-star ratings).
    """
    v = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(v)
    if lo is not None:
        ok &= v >= lo
    if hi is not None:
        ok &= v <= hi
    if allowed is not None:
        ok &= np.isin(v, np.asarray(allowed, np.float64))
    if ok.all():
        return
    r = int(np.flatnonzero(~ok)[0])
    want = f"one of {list(allowed)}" if allowed is not None else f"in [{lo}, {hi}]"
    raise DataError(
        f"{label} line {first_line + r}: {field} {_fmt(v[r])} is out of range (expected {want}; "
        f"{int((~ok).sum())} bad values in all)"
    )


def check_unique(values: np.ndarray | pd.Series, *, label: str, field: str, first_line: int) -> None:
    """Raise a :class:`DataError` when an id is defined twice in a side file."""
    v = np.asarray(values)
    order = np.argsort(v, kind="stable")
    sv = v[order]
    dup = np.flatnonzero(sv[1:] == sv[:-1])
    if len(dup) == 0:
        return
    second = order[dup + 1]
    r = int(second.min())
    first = int(order[np.flatnonzero(sv == v[r])[0]])
    raise DataError(
        f"{label} line {first_line + r}: {field} {_item(v[r])!r} is defined twice "
        f"(first on line {first_line + first})"
    )


def check_duplicate_pairs(
    users: np.ndarray, items: np.ndarray, *, label: str, lines: np.ndarray | int
) -> None:
    """Raise a :class:`DataError` naming the line of the first repeated (user, item) pair.

    Parameters
    ----------
    lines
        1-based line number per record, or the line number of record 0 when
        records are one per line.
    """
    u = np.asarray(users)
    i = np.asarray(items)
    if len(u) < 2:
        return
    pairs = pd.DataFrame({"u": u, "i": i})
    dup = pairs.duplicated(keep="first").to_numpy()
    if not dup.any():
        return
    r = int(np.flatnonzero(dup)[0])
    f = int(np.flatnonzero((u == u[r]) & (i == i[r]))[0])
    ln = np.asarray(lines) if not np.isscalar(lines) else None
    at_r = int(ln[r]) if ln is not None else int(lines) + r  # type: ignore[arg-type]
    at_f = int(ln[f]) if ln is not None else int(lines) + f  # type: ignore[arg-type]
    raise DataError(
        f"{label} line {at_r}: duplicate (user, item) pair ({_item(u[r])}, {_item(i[r])}), first on line {at_f} "
        f"({int(dup.sum())} repeated records in all); pass duplicates='first', 'last', 'sum' or 'max' "
        "(on the command line --duplicates first|last|sum|max) to resolve them"
    )


def _item(x: object) -> object:
    return x.item() if isinstance(x, np.generic) else x


def _fmt(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))
