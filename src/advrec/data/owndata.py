"""A user's own interaction files: one file, or a fixed split of any names (``X.train`` / ``X.test``).

>>> ds = load_own_split("X.train", "X.test", options=FileOptions(implicit_threshold=4))  # doctest: +SKIP

The layout of every file (table or one line per user, separator, header, which
field is what) is sniffed from its first lines (:mod:`advrec.data.sniff`) unless
:class:`FileOptions` says it; every message names the file, the line and the
command-line option that fixes the problem.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.cleaning import DUPLICATE_POLICIES
from advrec.data.interactions import Interactions
from advrec.data.lgcn import encode, read_lightgcn, split_from_parts, unique_ids
from advrec.data.parsing import read_source, read_table
from advrec.data.record_checks import check_duplicate_pairs
from advrec.data.sniff import Layout, parse_columns, parse_sep, sniff_layout
from advrec.data.sources import Dataset, source_record
from advrec.data.tabular import GUESSES, _ids
from advrec.errors import AdvrecError, DataError

_KINDS = {"user": "str", "item": "str", "rating": "float", "timestamp": "int", None: "str?"}


@dataclass(frozen=True)
class FileOptions:
    """How to read the files (the command line's file options); None: sniffed from the file.

    Parameters
    ----------
    columns
        Field roles in order, e.g. ``"user,item,rating,timestamp"`` (``-`` skips a
        field; ``"user,items"``: one line per user). With a header, names it.
    sep
        Field separator (a character, ``tab``, ``comma``, ``whitespace``, ...).
    header
        Whether the first line is a header.
    implicit_threshold
        Keep records with rating ``>=`` this value, as implicit positives (1.0).
    duplicates
        Repeated (user, item) pairs: ``"error"``, ``"first"``, ``"last"``, ``"sum"`` or ``"max"``.
    encoding
        Text encoding of the files.
    """

    columns: str | None = None
    sep: str | None = None
    header: bool | None = None
    implicit_threshold: float | None = None
    duplicates: str = "error"
    encoding: str = "utf-8"

    def is_default(self) -> bool:
        """Whether no option was given (every file is sniffed)."""
        return self == FileOptions()


@dataclass(frozen=True)
class _Part:
    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    timestamps: np.ndarray | None
    lines: np.ndarray
    path: Path
    layout: Layout


def _hint(layout: Layout) -> str:
    return f" (read as {layout.describe()}; set --columns, --sep or --header/--no-header if that is wrong)"


def _header_roles(raw: bytes, layout: Layout, label: str, encoding: str) -> tuple[str | None, ...]:
    first = raw.split(b"\n", 1)[0].decode(encoding, errors="replace").rstrip("\r")
    names = [f.strip().strip('"') for f in (first.split() if layout.sep is None else first.split(layout.sep))]
    lower = [n.lower() for n in names]
    roles: list[str | None] = [None] * len(names)
    for role, key in (("user", "user"), ("item", "item"), ("rating", "value"), ("timestamp", "timestamp")):
        hit = next((lower.index(n) for n in GUESSES[key] if n in lower), None)
        if hit is not None:
            roles[hit] = role
    if "user" not in roles or "item" not in roles:
        raise DataError(f"{label}: cannot tell which columns hold users and items among {names}; pass --columns "
                        "with one name per field, e.g. --columns user,item,rating,timestamp ('-' skips one)")
    return tuple(roles)


def read_part(path: str | Path, options: FileOptions = FileOptions()) -> _Part:
    """Read one file into raw ids, values, timestamps and line numbers (no id encoding yet)."""
    path = Path(path)
    raw, label = read_source(path)
    layout = sniff_layout(raw, label, sep=parse_sep(options.sep), header=options.header,
                          columns=parse_columns(options.columns), encoding=options.encoding)
    if layout.kind == "lines":
        body = raw.split(b"\n", 1)[1] if layout.header else raw
        if layout.sep is not None:
            body = body.replace(layout.sep.encode(), b" ")
        try:
            u, i, _, lines = read_lightgcn(body, label)
        except DataError as exc:
            raise DataError(f"{exc}{_hint(layout)}") from None
        lines = lines + int(layout.header)
        return _Part(u, i, np.ones(len(u), np.float32), None, lines, path, layout)
    roles = layout.roles or _header_roles(raw, layout, label, options.encoding)
    layout = Layout(layout.kind, layout.sep, layout.header, roles)
    cols = [(f"f{k}", _KINDS[r]) for k, r in enumerate(roles)]
    try:
        df, first = read_table(raw, cols, sep=layout.sep, header=True if layout.header else None,
                               encoding=options.encoding, quoting=layout.sep in (",", ";"), label=label)
    except DataError as exc:
        raise DataError(f"{exc}{_hint(layout)}") from None
    by_role = {r: df.iloc[:, k] for k, r in enumerate(roles) if r is not None}
    values = by_role["rating"].to_numpy(np.float32) if "rating" in by_role else np.ones(len(df), np.float32)
    ts = by_role["timestamp"].to_numpy(np.int64) if "timestamp" in by_role else None
    users = by_role["user"].astype(str).str.strip().to_numpy()
    items = by_role["item"].astype(str).str.strip().to_numpy()
    return _Part(users, items, values, ts, first + np.arange(len(df)), path, layout)


def _encode_parts(parts: dict[str, _Part], options: FileOptions) -> dict[str, Interactions]:
    if options.duplicates not in DUPLICATE_POLICIES:
        raise DataError(f"--duplicates {options.duplicates!r}: use one of error, first, last, sum, max")
    if len({p.timestamps is None for p in parts.values()}) > 1:
        with_ts = [p.path.name for p in parts.values() if p.timestamps is not None]
        raise DataError(f"only {', '.join(with_ts)} of the files have timestamps; drop that column with "
                        "--columns (e.g. --columns user,item,rating,-)")
    sizes = np.cumsum([0] + [len(p.users) for p in parts.values()])
    users = _ids(pd.Series(np.concatenate([np.asarray(p.users).astype(str) for p in parts.values()])))
    items = _ids(pd.Series(np.concatenate([np.asarray(p.items).astype(str) for p in parts.values()])))
    uid, iid = unique_ids(users), unique_ids(items)
    out = {}
    for (key, p), a, b in zip(parts.items(), sizes[:-1], sizes[1:]):
        u, i = users[a:b], items[a:b]
        if options.duplicates == "error":
            check_duplicate_pairs(u, i, label=p.path.name, lines=p.lines)
        inter = Interactions(encode(u, uid), encode(i, iid), p.values, uid, iid, p.timestamps, name=p.path.name)
        inter = inter.deduplicate(options.duplicates)
        if options.implicit_threshold is not None:
            if "rating" not in p.layout.roles:
                raise DataError(f"--implicit-threshold: {p.path.name} has no rating column ({p.layout.describe()})")
            inter = inter.implicit(options.implicit_threshold)
        if key != "test" and len(inter) == 0:
            raise DataError(f"{p.path.name}: no records left (--implicit-threshold {options.implicit_threshold} "
                            "keeps none)")
        out[key] = inter
    return out


def _describe(parts: dict[str, _Part], options: FileOptions) -> str:
    text = "; ".join(f"{p.path.name}: {p.layout.describe()}" for p in parts.values())
    if options.implicit_threshold is not None:
        text += f"; ratings >= {options.implicit_threshold:g} kept as implicit positives"
    if options.duplicates != "error":
        text += f"; repeated pairs resolved by {options.duplicates!r}"
    return text


def load_own_file(path: str | Path, options: FileOptions = FileOptions(), *, name: str | None = None) -> Dataset:
    """Load one interaction file of any name and layout (no published split)."""
    path = Path(path)
    part = read_part(path, options)
    inter = _encode_parts({"all": part}, options)["all"]
    from dataclasses import replace

    name = name or path.stem
    return Dataset(name, replace(inter, name=name), None, source_record(path.parent, [path]),
                   _describe({"all": part}, options))


def split_name(train: Path, test: Path) -> str:
    """Dataset name from the files' names: the stems' common leading words (``X.train`` -> ``X``),
    else the folder's name."""
    words = [re.split(r"[._\- ]+", p.stem) for p in (train, test)]
    common = []
    for a, b in zip(*words):
        if a != b:
            break
        common.append(a)
    if train.stem == test.stem:
        return train.stem
    return "_".join(common) or train.resolve().parent.name or "data"


def load_own_split(train: str | Path, test: str | Path, valid: str | Path | None = None,
                   generated: str | Path | None = None, *,
                   options: FileOptions = FileOptions(), name: str | None = None) -> Dataset:
    """Load a fixed split from files of any names, over one id space.

    Parameters
    ----------
    train, test, valid
        The parts' files (``--train``, ``--test``, ``--valid``).
    generated
        Records a generator added to the training data (written by ``advrec augment``): models fit
        on them, evaluation keeps them as candidates (:attr:`Split.generated`).
    options
        How to read them (every file is sniffed on its own where an option is None).
    name
        Dataset name; by default from the file names (see :func:`split_name`).

    Raises
    ------
    DataError
        A file that cannot be read (with file, line and the option that fixes it),
        or parts that share (user, item) pairs.
    """
    files = {"train": Path(train), "test": Path(test)}
    for key, f in (("valid", valid), ("generated", generated)):
        if f is not None:
            files[key] = Path(f)
    parts = {k: read_part(f, options) for k, f in files.items()}
    name = name or split_name(files["train"], files["test"])
    encoded = _encode_parts(parts, options)
    try:
        union, split = split_from_parts(name, encoded)
    except AdvrecError as exc:
        raise DataError(f"{', '.join(f.name for f in files.values())}: the parts overlap ({exc}); a fixed "
                        "split needs files without common (user, item) pairs") from None
    src = source_record(files["train"].resolve().parent, [f.resolve() for f in files.values()])
    return Dataset(name, union, split, src, f"fixed split from your files; {_describe(parts, options)}")
