"""Generic interaction tables: CSV, TSV or Parquet with a column mapping.

>>> ds = load_tabular("clicks.csv", user="customer", item="sku", value="qty")  # doctest: +SKIP

Ids that are all integers become int64 ids, otherwise they stay strings. The id
space is the users and items seen. Duplicate policy: ``"error"`` by default
(pass ``duplicates="sum"`` for event logs where repeats should add up).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.interactions import Interactions
from advrec.data.parsing import read_source, read_table
from advrec.data.record_checks import check_duplicate_pairs, check_range
from advrec.data.sources import Dataset, source_record
from advrec.errors import DataError

SEPARATORS = {".csv": ",", ".tsv": "\t", ".tab": "\t", ".txt": None, ".dat": None}
PARQUET = (".parquet", ".pq")
GUESSES = {
    "user": ("user", "user_id", "userid", "uid", "user_id:token", "customer_id"),
    "item": ("item", "item_id", "itemid", "iid", "movieid", "movie_id", "artistid", "item_id:token"),
    "value": ("rating", "value", "weight", "score", "count", "rating:float"),
    "timestamp": ("timestamp", "time", "ts", "unixtime", "timestamp:float"),
}


def guess_columns(columns: list[str]) -> dict[str, str]:
    """Map ``user``/``item`` (required) and ``value``/``timestamp`` to header names by common spellings."""
    lower = {c.strip().lower(): c for c in columns}
    out = {}
    for role, names in GUESSES.items():
        hit = next((lower[n] for n in names if n in lower), None)
        if hit is not None:
            out[role] = hit
    if "user" not in out or "item" not in out:
        raise DataError(
            f"cannot tell which columns hold users and items among {columns}; on the command line pass "
            "--columns with one name per field (e.g. --columns user,item,rating,timestamp; '-' skips one), "
            "in Python load_tabular(path, user=..., item=..., value=..., timestamp=...)"
        )
    return out


def _ids(s: pd.Series) -> np.ndarray:
    v = s.astype(str).str.strip()
    if bool(v.str.fullmatch(r"-?\d{1,18}").all()):
        return v.astype(np.int64).to_numpy()
    return v.to_numpy(dtype=object).astype(str)


def load_tabular(
    path: str | Path,
    *,
    user: str | None = None,
    item: str | None = None,
    value: str | None = None,
    timestamp: str | None = None,
    sep: str | None = None,
    encoding: str = "utf-8",
    duplicates: str = "error",
    value_range: tuple[float, float] | None = None,
    name: str | None = None,
) -> Dataset:
    """Load interactions from a table with a header row (or a Parquet file).

    Parameters
    ----------
    path
        ``.csv`` / ``.tsv`` / ``.parquet`` (others need ``sep``).
    user, item, value, timestamp
        Column names; ``user``/``item`` are guessed from the header when both
        are None. Without ``value`` every value is 1.0. Timestamps must be
        integers (unix time) or, in Parquet, datetimes.
    sep
        Field separator; inferred from the extension when None.
    value_range
        Inclusive bounds that every value must lie in.
    """
    path = Path(path)
    is_parquet = path.suffix.lower() in PARQUET
    raw, label = (b"", path.name) if is_parquet else read_source(path)
    header = _parquet_columns(path) if is_parquet else _header(raw, path, sep, encoding)
    if user is None and item is None:
        try:
            g = guess_columns(header)
        except DataError as exc:
            raise DataError(f"{label}: {exc}") from None
        user, item = g["user"], g["item"]
        value = value or g.get("value")
        timestamp = timestamp or g.get("timestamp")
    if user is None or item is None:
        raise DataError(f"{label}: pass both user= and item= column names (--columns on the command line)")
    mapping = {"user": user, "item": item, "value": value, "timestamp": timestamp}
    for role, col in mapping.items():
        if col is not None and col not in header:
            raise DataError(f"{label}: no column {col!r} (for {role}); columns are {header}")
    if is_parquet:
        df, first, where = _read_parquet(path, mapping), 0, "row"
    else:
        kinds = {user: "str", item: "str", value: "float", timestamp: "int"}
        cols = [(c, kinds.get(c, "str?")) for c in header]
        df, first = read_table(raw, cols, sep=_sep(path, sep), header=header, encoding=encoding,
                               quoting=True, label=label)
        where = "line"
    vals = df[value].to_numpy(np.float64) if value else np.ones(len(df))
    u, i = _ids(df[user]), _ids(df[item])
    try:
        if value_range is not None:
            check_range(vals, label=label, field=value or "value", first_line=first, lo=value_range[0],
                        hi=value_range[1])
        if duplicates == "error":
            check_duplicate_pairs(u, i, label=label, lines=first)
    except DataError as exc:
        raise DataError(str(exc).replace(" line ", f" {where} ", 2)) from None
    ts = df[timestamp].to_numpy(np.int64) if timestamp else None
    inter = Interactions.from_records(u, i, vals, ts, duplicates=duplicates, name=name or path.stem)
    desc = f"interactions from {path.name} (user={user}, item={item}, value={value}, timestamp={timestamp})"
    return Dataset(name or path.stem, inter, None, source_record(path.parent, [path]), desc)


def _sep(path: Path, sep: str | None) -> str | None:
    if sep is not None:
        return sep
    ext = path.suffix.lower()
    if ext not in SEPARATORS:
        raise DataError(f"{path.name}: cannot infer the separator from {ext!r}; pass sep= (--sep on the command line)")
    return SEPARATORS[ext]


def _header(raw: bytes, path: Path, sep: str | None, encoding: str) -> list[str]:
    if not raw.strip():
        raise DataError(f"{path.name}: file is empty")
    first = raw.split(b"\n", 1)[0].decode(encoding, errors="replace").rstrip("\r")
    s = _sep(path, sep)
    import csv

    fields = first.split() if s is None else next(csv.reader([first], delimiter=s))
    return [f.strip() for f in fields]


def _parquet_columns(path: Path) -> list[str]:
    import pyarrow.parquet as pq

    try:
        return list(pq.read_schema(path).names)
    except Exception as exc:  # noqa: BLE001 - pyarrow raises several types for bad files
        raise DataError(f"{path.name}: not a readable Parquet file ({exc})") from None


def _read_parquet(path: Path, mapping: dict[str, str | None]) -> pd.DataFrame:
    cols = [c for c in mapping.values() if c is not None]
    df = pd.read_parquet(path, columns=cols)
    if len(df) == 0:
        raise DataError(f"{path.name}: no rows")
    for role, c in mapping.items():
        if c is None:
            continue
        na = df[c].isna().to_numpy()
        if na.any():
            raise DataError(f"{path.name} row {int(np.flatnonzero(na)[0])}: missing {role} ({c!r})")
        if role == "timestamp" and pd.api.types.is_datetime64_any_dtype(df[c]):
            df[c] = df[c].astype("datetime64[s]").astype(np.int64)
        if role == "value":
            v = pd.to_numeric(df[c], errors="coerce").to_numpy(np.float64)
            bad = ~np.isfinite(v)
            if bad.any():
                r = int(np.flatnonzero(bad)[0])
                raise DataError(f"{path.name} row {r}: {c} {df[c].iloc[r]!r} is not a finite number")
            df[c] = v
    return df
