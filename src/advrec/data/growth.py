"""Growing the id space of :class:`~advrec.data.Interactions` (fake users, generated items).

Helpers behind :meth:`Interactions.append_users`, :meth:`Interactions.append_items`
and :meth:`Interactions.new_records`. Growing appends the new external ids at the
end, so every existing index keeps its meaning; the record arrays are shared, not
copied, and the side-feature tables get one concatenation per call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np
import pandas as pd

from advrec.data.encoding import encode_ids
from advrec.errors import DataError

if TYPE_CHECKING:
    from advrec.data.interactions import Interactions

FeatureRows: TypeAlias = pd.DataFrame | Mapping[str, Any] | None
"""Side-feature rows of new ids: a DataFrame (or a dict of columns) with one row per new id."""


def _check_new_ids(old: np.ndarray, new: np.ndarray, kind: str, name: str) -> np.ndarray:
    """The new ids as an array of the old ids' kind; DataError on a repeat or a collision."""
    if new.ndim != 1:
        raise DataError(f"{name}: new {kind} ids must be a 1-D sequence, got shape {new.shape}")
    numeric = (np.issubdtype(old.dtype, np.number), np.issubdtype(new.dtype, np.number))
    if len(old) and numeric[0] != numeric[1]:
        raise DataError(
            f"{name}: new {kind} ids have dtype {new.dtype} but the existing {kind} ids have dtype "
            f"{old.dtype}; give ids of the same kind (e.g. numbers after the largest existing id)"
        )
    sorted_new = np.sort(new)
    rep = np.flatnonzero(sorted_new[1:] == sorted_new[:-1])
    if len(rep):
        raise DataError(f"{name}: new {kind} id {sorted_new[rep[0]].item()!r} is given more than once")
    clash = np.isin(new, old)
    if clash.any():
        bad = new[int(np.flatnonzero(clash)[0])]
        raise DataError(f"{name}: new {kind} id {bad.item()!r} is already in the {kind} id space "
                        f"({int(clash.sum())} colliding ids in all)")
    return new


def _grow_frame(old: pd.DataFrame | None, n_new: int, rows: FeatureRows, label: str, name: str) -> pd.DataFrame | None:
    """``old`` plus ``n_new`` rows: the given ones (columns aligned) or rows of missing values."""
    if old is None:
        if rows is not None:
            raise DataError(f"{name}: {label} given for the new ids but the data has no {label} table to extend")
        return None
    base = old.reset_index(drop=True)
    if rows is None:
        return base.reindex(np.arange(len(base) + n_new))  # one reindex; missing values in new rows
    new = pd.DataFrame(rows).reset_index(drop=True)
    if len(new) != n_new:
        raise DataError(f"{name}: {label} has {len(new)} rows for {n_new} new ids")
    extra = [c for c in new.columns if c not in base.columns]
    if extra:
        raise DataError(f"{name}: {label} columns {extra} are not in the existing table "
                        f"(columns {list(base.columns)})")
    return pd.concat([base, new.reindex(columns=base.columns)], ignore_index=True)


def grow_ids(inter: Interactions, kind: str, new_ids: Sequence[Any] | np.ndarray, features: FeatureRows) -> Interactions:
    """``inter`` with ``new_ids`` appended to its ``kind`` (``"user"`` / ``"item"``) id space.

    The record arrays are shared with ``inter``; indices of existing ids are unchanged.
    """
    old_ids = inter.user_ids if kind == "user" else inter.item_ids
    label = f"{kind}_features"
    table = getattr(inter, label)
    new = np.asarray(new_ids)
    if new.size == 0:
        if features is not None and len(pd.DataFrame(features)):
            raise DataError(f"{inter.name}: {label} has rows but no new {kind} ids are given")
        return inter
    new = _check_new_ids(old_ids, new, kind, inter.name)
    ids = np.concatenate([old_ids, new]) if len(old_ids) else new
    frame = _grow_frame(table, len(new), features, label, inter.name)
    if kind == "user":
        return replace(inter, user_ids=ids, user_features=frame)
    return replace(inter, item_ids=ids, item_features=frame)


def encode_records(
    inter: Interactions,
    users: Sequence[Any] | np.ndarray,
    items: Sequence[Any] | np.ndarray,
    values: Sequence[float] | np.ndarray | None,
    timestamps: Sequence[int] | np.ndarray | None,
    *,
    external: bool,
    duplicates: str,
    name: str | None,
) -> Interactions:
    """New records over ``inter``'s id space (see :meth:`Interactions.new_records`)."""
    label = name or inter.name
    u, i = np.asarray(users), np.asarray(items)
    if u.shape != i.shape or u.ndim != 1:
        raise DataError(f"{label}: users and items must be 1-D of equal length, got {u.shape} and {i.shape}")
    if external:
        u = encode_ids(u, inter.user_ids, label, "user")[1]
        i = encode_ids(i, inter.item_ids, label, "item")[1]
    n = len(u)
    v = np.ones(n, np.float32) if values is None else np.asarray(values, np.float32)
    if timestamps is not None and inter.timestamps is None:
        raise DataError(f"{label}: timestamps given but {inter.name!r} has none (they could not be concatenated)")
    if timestamps is None and inter.timestamps is not None:
        latest = int(inter.timestamps.max()) if len(inter.timestamps) else 0
        t: np.ndarray | None = np.full(n, latest, np.int64)
    else:
        t = None if timestamps is None else np.asarray(timestamps, np.int64)
    out = replace(inter, users=u, items=i, values=v, timestamps=t, name=label)
    return out.deduplicate(duplicates)
