"""Cleaning the records of :class:`~advrec.data.Interactions`: repeated pairs, k-cores, compact ids.

Helpers behind :meth:`Interactions.deduplicate`, :meth:`Interactions.kcore` and
:meth:`Interactions.compact`; each works on whole arrays (one sort, or one bincount
per k-core round) and returns new records over the same or a compacted id space.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from advrec.errors import DataError

if TYPE_CHECKING:
    from advrec.data.interactions import Interactions

DUPLICATE_POLICIES = ("error", "last", "first", "sum", "max")


def deduplicate(inter: Interactions, policy: str = "error") -> Interactions:
    """Resolve repeated (user, item) pairs of ``inter`` by ``policy`` (one of :data:`DUPLICATE_POLICIES`).

    Records are ordered by pair, then by timestamp (else by position); ``"first"`` /
    ``"last"`` keep one record of each pair, ``"sum"`` / ``"max"`` also reduce its values,
    ``"error"`` raises :class:`DataError` naming the first repeated pair. Without repeats
    ``inter`` itself is returned.
    """
    if policy not in DUPLICATE_POLICIES:
        raise DataError(f"unknown duplicate policy {policy!r}; use one of {DUPLICATE_POLICIES}")
    keys = inter.pair_keys()
    order = np.lexsort(
        (inter.timestamps if inter.timestamps is not None else np.arange(len(keys)), keys)
    )
    sk = keys[order]
    dup = np.zeros(len(sk), bool)
    dup[1:] = sk[1:] == sk[:-1]
    if not dup.any():
        return inter
    if policy == "error":
        r = order[int(np.flatnonzero(dup)[0])]
        raise DataError(
            f"{inter.name}: duplicate (user, item) pair ({inter.user_ids[inter.users[r]]}, "
            f"{inter.item_ids[inter.items[r]]}) at record {r} ({int(dup.sum())} duplicate "
            "records in all); pass duplicates='last', 'first', 'sum' or 'max'"
        )
    starts = np.flatnonzero(~dup)
    ends = np.append(starts[1:], len(sk)) - 1
    keep = order[starts] if policy == "first" else order[ends]
    srt = np.argsort(keep)
    out = inter.subset(keep[srt])
    if policy in ("sum", "max"):
        ufunc = np.add if policy == "sum" else np.maximum
        out = out.with_values(ufunc.reduceat(inter.values[order], starts)[srt])
    return out


def kcore_mask(inter: Interactions, k: int, items_k: int) -> np.ndarray:
    """Records that survive iteratively dropping users with < ``k`` and items with < ``items_k`` records."""
    keep = np.ones(len(inter), bool)
    while True:
        uc = np.bincount(inter.users[keep], minlength=inter.n_users)
        ic = np.bincount(inter.items[keep], minlength=inter.n_items)
        new = keep & (uc[inter.users] >= k) & (ic[inter.items] >= items_k)
        if new.sum() == keep.sum():
            return keep
        keep = new


def compact(inter: Interactions) -> Interactions:
    """``inter`` re-indexed to the users and items that have records (side features follow)."""
    au, ai = inter.active_users(), inter.active_items()
    umap = np.full(inter.n_users, -1, np.int64)
    umap[au] = np.arange(len(au))
    imap = np.full(inter.n_items, -1, np.int64)
    imap[ai] = np.arange(len(ai))
    uf = None if inter.user_features is None else inter.user_features.iloc[au].reset_index(drop=True)
    itf = None if inter.item_features is None else inter.item_features.iloc[ai].reset_index(drop=True)
    return replace(
        inter,
        users=umap[inter.users],
        items=imap[inter.items],
        user_ids=inter.user_ids[au],
        item_ids=inter.item_ids[ai],
        user_features=uf,
        item_features=itf,
    )
