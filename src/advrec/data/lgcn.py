"""LightGCN-style files and ``user item [value]`` pair files, with published splits.

Two formats are common in the graph-recommendation literature:

* LightGCN (``gowalla``, ``ml-1m-lgcn``): one line per user,
  ``user_idx item_idx item_idx ...``, whitespace-separated, 0-based indices.
* pair files (``amazon-beauty``, CFGAN's ML-100K): one record per line,
  ``user item`` or ``user item value``.

A folder holds ``train.txt``, optionally ``valid.txt``, and ``test.txt``. The
loaders build one id space over all parts (the sorted union of the indices seen
in any part), so ``split.train``, ``split.valid`` and ``split.test`` line up.

Duplicate policy: ``"error"`` by default. Published splits list each (user,
item) pair once; a repeat means a corrupted or concatenated file, and silently
merging it would change the evaluation. Pass ``duplicates=`` to override.
"""

from __future__ import annotations

import warnings
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.interactions import Interactions
from advrec.data.parsing import read_source, read_table
from advrec.data.record_checks import check_duplicate_pairs, check_range
from advrec.data.sources import Dataset, source_record
from advrec.data.splits.split import Split
from advrec.errors import DataError

PARTS = ("train", "valid", "test")


def read_lightgcn(
    source: str | Path | bytes, label: str | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Parse a LightGCN file.

    Returns
    -------
    users, items, listed_users, lines
        One (user, item) per pair in file order, every user that has a line
        (including users listed with no items), and the 1-based line of each pair.

    Raises
    ------
    DataError
        Empty file, an empty line between records, a token that is not a
        non-negative integer (all with file name and line number).
    """
    raw, label = read_source(source, label)
    if not raw.strip():
        raise DataError(f"{label}: file is empty")
    buf = np.frombuffer(raw, np.uint8)
    ws = (buf == 32) | ((buf >= 9) & (buf <= 13))  # the ASCII whitespace of bytes.split()
    starts = np.flatnonzero(~ws & np.concatenate(([True], ws[:-1])))
    line_idx = np.searchsorted(np.flatnonzero(buf == 10), starts)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            vals = np.fromstring(raw, dtype=np.int64, sep=" ")  # type: ignore[call-overload]
    except ValueError:  # recent numpy raises instead of warning on unparsable text
        vals = np.empty(0, np.int64)
    if len(vals) != len(starts) or (vals < 0).any():
        raise DataError(_bad_token(raw, line_idx, label))
    lines_present = np.unique(line_idx)
    if len(lines_present) != lines_present[-1] + 1:
        gap = int(np.flatnonzero(lines_present != np.arange(len(lines_present)))[0])
        raise DataError(f"{label} line {gap + 1}: empty line")
    first = np.concatenate(([True], line_idx[1:] != line_idx[:-1]))
    listed = vals[first]
    owner = listed[np.cumsum(first) - 1]
    return owner[~first], vals[~first], listed, line_idx[~first] + 1


def _bad_token(raw: bytes, line_idx: np.ndarray, label: str) -> str:
    tokens = raw.split()
    for tok, ln in zip(tokens, line_idx):
        try:
            ok = int(tok) >= 0
        except ValueError:
            ok = False
        if not ok:
            text = tok.decode("utf-8", "replace")
            return f"{label} line {int(ln) + 1}: {text!r} is not a non-negative integer index"
    return f"{label}: could not parse the file as whitespace-separated integers"


def read_pairs(source: str | Path | bytes, label: str | None = None) -> tuple[pd.DataFrame, int]:
    """Parse a ``user item [value]`` file (whitespace-separated, no header).

    The number of fields (2 or 3) is taken from the first line and enforced on
    every line. Without a value column every value is 1.0.
    """
    raw, label = read_source(source, label)
    head = raw.lstrip().split(b"\n", 1)[0].split()
    if len(head) not in (2, 3):
        raise DataError(f"{label} line 1: expected 2 or 3 whitespace-separated fields, got {len(head)}")
    cols = [("user", "int"), ("item", "int")] + ([("value", "float")] if len(head) == 3 else [])
    df, first = read_table(raw, cols, sep=None, label=label)
    if "value" not in df:
        df["value"] = 1.0
    return df, first


def split_from_parts(
    name: str,
    parts: dict[str, Interactions],
    *,
    user_features: pd.DataFrame | None = None,
    item_features: pd.DataFrame | None = None,
    check: bool = True,
) -> tuple[Interactions, Split]:
    """Join published parts (same id space) into all records plus a fixed :class:`Split`.

    Parameters
    ----------
    parts
        ``"train"`` and ``"test"``, optionally ``"valid"`` and ``"generated"`` (records a
        generator added to train: :attr:`Split.generated`, not part of the union).
    user_features, item_features
        Side tables attached to the union and to every part.
    check
        Refuse parts that share (user, item) pairs (:meth:`Split.check_leakage`).
    """
    named = {k: replace(v, name=f"{name}/{k}", user_features=user_features, item_features=item_features)
             for k, v in parts.items()}
    order = [k for k in PARTS if k in named and k != "generated"]  # generated records are no data
    union = named[order[0]]
    for k in order[1:]:
        union = union.concat(named[k])
    union = replace(union, name=name)
    generated = named.get("generated")
    split = Split(
        train=named["train"] if generated is None else named["train"].concat(generated, name=named["train"].name),
        test=named["test"],
        valid=named.get("valid"),
        generated=generated,
        name=f"{name}:fixed",
        meta={"fixed": True, "parts": {k: len(named[k]) for k in order}},
    )
    if check:
        split.check_leakage()
    return union, split


def unique_ids(ids: np.ndarray) -> np.ndarray:
    """Sorted distinct ids; a bincount for dense non-negative integers (much faster)."""
    a = np.asarray(ids)
    if a.dtype.kind in "iu" and len(a) and a.min() >= 0 and a.max() < 4 * len(a) + 1_000_000:
        return np.flatnonzero(np.bincount(a)).astype(a.dtype)
    return np.unique(a)


def encode(ids: np.ndarray, vocab: np.ndarray) -> np.ndarray:
    """Index of each id in the sorted ``vocab`` (every id must be in it)."""
    a = np.asarray(ids)
    if a.dtype.kind in "iu" and len(vocab) and vocab[0] >= 0 and vocab[-1] < 4 * len(a) + 1_000_000:
        lut = np.full(int(vocab[-1]) + 1, -1, np.int64)
        lut[vocab] = np.arange(len(vocab))
        idx = lut[a]
    else:
        idx = np.searchsorted(vocab, a)
    return idx.astype(np.int64)


def _part_files(folder: Path, parts: tuple[str, ...], ext: str) -> dict[str, Path]:
    files = {p: folder / f"{p}{ext}" for p in parts}
    missing = [str(f) for p, f in files.items() if p != "valid" and not f.is_file()]
    if missing:
        raise DataError(f"{folder}: missing {', '.join(missing)}")
    return {p: f for p, f in files.items() if f.is_file()}


def _assemble(
    name: str,
    folder: Path,
    files: dict[str, Path],
    records: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]],
    lines: dict[str, np.ndarray],
    extra_users: np.ndarray,
    duplicates: str,
    description: str,
) -> Dataset:
    if duplicates == "error":
        for k, (u, i, _) in records.items():
            check_duplicate_pairs(u, i, label=files[k].name, lines=lines[k])
    uid = unique_ids(np.concatenate([r[0] for r in records.values()] + [extra_users]))
    iid = unique_ids(np.concatenate([r[1] for r in records.values()]))
    parts = {
        k: Interactions(encode(u, uid), encode(i, iid), v, uid, iid, name=files[k].name).deduplicate(duplicates)
        for k, (u, i, v) in records.items()
    }
    union, split = split_from_parts(name, parts)
    src = source_record(folder, list(files.values()))
    return Dataset(name, union, split, src, description)


def load_lightgcn(
    folder: str | Path, *, name: str | None = None, duplicates: str = "error", description: str = ""
) -> Dataset:
    """Load ``train.txt`` [``valid.txt``] ``test.txt`` in LightGCN format (values 1.0, no timestamps)."""
    folder = Path(folder)
    files = _part_files(folder, PARTS, ".txt")
    records: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    lines: dict[str, np.ndarray] = {}
    listed = []
    for part, f in files.items():
        u, i, lu, ln = read_lightgcn(f)
        records[part] = (u, i, np.ones(len(u), np.float32))
        lines[part] = ln
        listed.append(lu)
    desc = description or f"LightGCN-format implicit feedback from {folder} (fixed split)."
    return _assemble(
        name or folder.name, folder, files, records, lines, np.concatenate(listed), duplicates, desc
    )


def load_pairs(
    folder: str | Path,
    *,
    name: str | None = None,
    parts: dict[str, str] | None = None,
    duplicates: str = "error",
    implicit: bool = False,
    value_range: tuple[float, float] | None = None,
    description: str = "",
) -> Dataset:
    """Load pair files with a published split.

    Parameters
    ----------
    parts
        Part name to file name, e.g. ``{"train": "ML100K.train", "test": "ML100K.test"}``;
        default ``train.txt`` [``valid.txt``] ``test.txt``.
    implicit
        Set every value to 1.0 (e.g. CFGAN counts every rating as a positive).
    value_range
        Inclusive bounds the file's values must lie in (checked before ``implicit``).
    """
    folder = Path(folder)
    if parts is None:
        files = _part_files(folder, PARTS, ".txt")
    else:
        files = {p: folder / f for p, f in parts.items()}
        missing = [str(f) for f in files.values() if not f.is_file()]
        if missing:
            raise DataError(f"{folder}: missing {', '.join(missing)}")
    records = {}
    lines = {}
    for part, f in files.items():
        df, first = read_pairs(f)
        check_range(df["user"], label=f.name, field="user", first_line=first, lo=0)
        check_range(df["item"], label=f.name, field="item", first_line=first, lo=0)
        if value_range is not None:
            check_range(df["value"], label=f.name, field="value", first_line=first,
                        lo=value_range[0], hi=value_range[1])
        vals = np.ones(len(df), np.float32) if implicit else df["value"].to_numpy(np.float32)
        records[part] = (df["user"].to_numpy(), df["item"].to_numpy(), vals)
        lines[part] = first + np.arange(len(df))
    desc = description or f"user-item pair files from {folder} (fixed split)."
    return _assemble(
        name or folder.name, folder, files, records, lines, np.empty(0, np.int64), duplicates, desc
    )
