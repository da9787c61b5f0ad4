"""Building blocks of :class:`~advrec.data.Interactions`: id encoding and checked record arrays.

:func:`encode_ids` turns external ids into indices of a vocabulary;
:func:`record_arrays` and :func:`check_records` give the read-only, typed record
arrays of a new :class:`Interactions` and check them against its id space.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from advrec.errors import DataError

if TYPE_CHECKING:
    from advrec.data.interactions import Interactions


def readonly(a: np.ndarray) -> np.ndarray:
    """A contiguous, write-protected version of ``a``."""
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def record_arrays(
    name: str, users: np.ndarray, items: np.ndarray, values: np.ndarray, timestamps: np.ndarray | None
) -> dict[str, np.ndarray | None]:
    """The record arrays as read-only int64 / float32 / int64 arrays, by field name.

    Raises
    ------
    DataError
        If users, items, values (and timestamps, if given) differ in length.
    """
    u = readonly(np.asarray(users, dtype=np.int64))
    i = readonly(np.asarray(items, dtype=np.int64))
    v = readonly(np.asarray(values, dtype=np.float32))
    n = len(u)
    if len(i) != n or len(v) != n:
        raise DataError(f"{name}: users, items and values differ in length ({n}, {len(i)}, {len(v)})")
    out: dict[str, np.ndarray | None] = {"users": u, "items": i, "values": v}
    if timestamps is not None:
        ts = readonly(np.asarray(timestamps, dtype=np.int64))
        if len(ts) != n:
            raise DataError(f"{name}: {len(ts)} timestamps for {n} records")
        out["timestamps"] = ts
    return out


def check_records(inter: Interactions) -> None:
    """Raise :class:`DataError` on an index outside the id space, a non-finite value or a side
    table whose row count is not the size of its id space."""
    name = inter.name
    if len(inter):
        if inter.users.min() < 0 or inter.users.max() >= len(inter.user_ids):
            raise DataError(f"{name}: user index out of range [0, {len(inter.user_ids)})")
        if inter.items.min() < 0 or inter.items.max() >= len(inter.item_ids):
            raise DataError(f"{name}: item index out of range [0, {len(inter.item_ids)})")
        if not np.isfinite(inter.values).all():
            bad = int(np.flatnonzero(~np.isfinite(inter.values))[0])
            raise DataError(f"{name}: non-finite value at record {bad}")
    for label, table, size in (
        ("user_features", inter.user_features, len(inter.user_ids)),
        ("item_features", inter.item_features, len(inter.item_ids)),
    ):
        if table is not None and len(table) != size:
            raise DataError(f"{name}: {label} has {len(table)} rows, expected {size}")


def encode_ids(
    ids: np.ndarray, vocab: np.ndarray | None, name: str, kind: str
) -> tuple[np.ndarray, np.ndarray]:
    """``(vocabulary, int64 index per id)``: the sorted unique ids without ``vocab``, else ``vocab``.

    Raises
    ------
    DataError
        If ``vocab`` repeats an id or lacks one of ``ids`` (naming the record); ``name``
        (the data set) and ``kind`` (``"user"`` / ``"item"``) word the message.
    """
    if vocab is None:
        uniq, idx = np.unique(ids, return_inverse=True)
        return uniq, idx.astype(np.int64)
    vocab = np.asarray(vocab)
    order = np.argsort(vocab, kind="stable")
    sorted_vocab = vocab[order]
    if len(sorted_vocab) > 1 and (sorted_vocab[1:] == sorted_vocab[:-1]).any():
        raise DataError(f"{name}: the {kind} id vocabulary has repeated ids")
    pos = np.searchsorted(sorted_vocab, ids)
    pos_c = np.clip(pos, 0, max(len(sorted_vocab) - 1, 0))
    ok = (pos < len(sorted_vocab)) & (sorted_vocab[pos_c] == ids) if len(sorted_vocab) else np.zeros(len(ids), bool)
    if not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise DataError(f"{name}: {kind} id {ids[bad].item()!r} (record {bad}) is not in the {kind} vocabulary")
    return vocab, order[pos_c].astype(np.int64)
