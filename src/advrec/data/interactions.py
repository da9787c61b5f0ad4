"""The one data model of advrec: :class:`Interactions`."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from advrec.data import cleaning
from advrec.data.encoding import check_records, encode_ids, readonly, record_arrays
from advrec.data.growth import FeatureRows, encode_records, grow_ids
from advrec.errors import DataError


@dataclass(frozen=True, eq=False)
class Interactions:
    """Immutable (user, item, value, timestamp) records over a fixed id space.

    The id space (``user_ids`` / ``item_ids``, external ids by index) is shared
    by every slice taken from the same data, so train, valid and test of one
    split all have the same ``n_users`` and ``n_items`` and their indices agree.

    Parameters
    ----------
    users, items
        int64 indices into ``user_ids`` / ``item_ids``, one per record.
    values
        float32 value per record (rating, play count, or 1.0 for implicit data).
    user_ids, item_ids
        External ids; position ``i`` is the external id of index ``i``.
    timestamps
        Optional int64 unix time per record.
    user_features, item_features
        Optional side tables with one row per index (``len == n_users`` /
        ``n_items``), in index order.
    name
        Human-readable dataset name.

    Examples
    --------
    >>> inter = Interactions.from_records(["a", "a", "b"], [10, 20, 10])
    >>> inter.n_users, inter.n_items, len(inter)
    (2, 2, 3)
    """

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    timestamps: np.ndarray | None = None
    user_features: pd.DataFrame | None = field(default=None, repr=False)
    item_features: pd.DataFrame | None = field(default=None, repr=False)
    name: str = "interactions"

    def __post_init__(self) -> None:
        arrays = record_arrays(self.name, self.users, self.items, self.values, self.timestamps)
        for key, array in arrays.items():
            object.__setattr__(self, key, array)
        object.__setattr__(self, "user_ids", readonly(np.asarray(self.user_ids)))
        object.__setattr__(self, "item_ids", readonly(np.asarray(self.item_ids)))
        check_records(self)

    # ------------------------------------------------------------------ build
    @classmethod
    def from_records(
        cls,
        users: Sequence[Any] | np.ndarray,
        items: Sequence[Any] | np.ndarray,
        values: Sequence[float] | np.ndarray | None = None,
        timestamps: Sequence[int] | np.ndarray | None = None,
        *,
        user_ids: np.ndarray | None = None,
        item_ids: np.ndarray | None = None,
        duplicates: str = "error",
        name: str = "interactions",
    ) -> Interactions:
        """Encode external ids into contiguous indices.

        Parameters
        ----------
        users, items
            External ids per record (any hashable, sortable dtype).
        values
            Values per record; 1.0 when omitted.
        timestamps
            Optional unix times per record.
        user_ids, item_ids
            A fixed vocabulary to encode against (e.g. from another file of the
            same dataset). Ids missing from it raise :class:`DataError`.
            Without it the vocabulary is the sorted set of ids seen.
        duplicates
            What to do with repeated (user, item) pairs: ``"error"`` (default),
            ``"last"`` / ``"first"`` (keep the latest / earliest record by
            timestamp, else by position), ``"sum"`` or ``"max"`` of values.
        name
            Dataset name used in messages.
        """
        u = np.asarray(users)
        i = np.asarray(items)
        if len(u) != len(i):
            raise DataError(f"{name}: {len(u)} users but {len(i)} items")
        v = np.ones(len(u), np.float32) if values is None else np.asarray(values, np.float32)
        t = None if timestamps is None else np.asarray(timestamps, np.int64)
        uid, uidx = encode_ids(u, user_ids, name, "user")
        iid, iidx = encode_ids(i, item_ids, name, "item")
        inter = cls(uidx, iidx, v, uid, iid, t, name=name)
        return inter.deduplicate(duplicates)

    # ----------------------------------------------------------- properties
    @property
    def n_users(self) -> int:
        """Size of the user id space."""
        return len(self.user_ids)

    @property
    def n_items(self) -> int:
        """Size of the item id space."""
        return len(self.item_ids)

    def __len__(self) -> int:
        return len(self.users)

    def __repr__(self) -> str:
        ts = "yes" if self.timestamps is not None else "no"
        return (
            f"Interactions(name={self.name!r}, records={len(self)}, users={self.n_users}, "
            f"items={self.n_items}, timestamps={ts})"
        )

    @cached_property
    def csr(self) -> sp.csr_matrix:
        """Users x items CSR matrix of values (cached; do not modify)."""
        m = sp.csr_matrix(
            (self.values, (self.users, self.items)),
            shape=(self.n_users, self.n_items),
            dtype=np.float32,
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    @cached_property
    def binary_csr(self) -> sp.csr_matrix:
        """Users x items CSR matrix with 1.0 for every observed pair (cached)."""
        m = self.csr.copy()
        m.data = np.ones_like(m.data)
        return m

    def user_counts(self) -> np.ndarray:
        """Number of records per user index (length ``n_users``)."""
        return np.bincount(self.users, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """Number of records per item index (length ``n_items``)."""
        return np.bincount(self.items, minlength=self.n_items)

    def active_users(self) -> np.ndarray:
        """Sorted user indices with at least one record."""
        return np.flatnonzero(self.user_counts())

    def active_items(self) -> np.ndarray:
        """Sorted item indices with at least one record."""
        return np.flatnonzero(self.item_counts())

    def pair_keys(self) -> np.ndarray:
        """One int64 key per record, ``user * n_items + item`` (for set operations)."""
        return self.users * np.int64(self.n_items) + self.items

    def checksum(self) -> str:
        """sha256 over ids, indices, values and timestamps: identifies the content."""
        h = hashlib.sha256()
        for a in (self.users, self.items, self.values):
            h.update(a.tobytes())
        if self.timestamps is not None:
            h.update(self.timestamps.tobytes())
        h.update(str((self.n_users, self.n_items)).encode())
        return h.hexdigest()

    # --------------------------------------------------------------- slicing
    def subset(self, selector: np.ndarray, name: str | None = None) -> Interactions:
        """Records picked by a boolean mask or an index array; same id space."""
        sel = np.asarray(selector)
        ts = None if self.timestamps is None else self.timestamps[sel]
        return replace(
            self,
            users=self.users[sel],
            items=self.items[sel],
            values=self.values[sel],
            timestamps=ts,
            name=name or self.name,
        )

    def with_values(self, values: np.ndarray) -> Interactions:
        """The same records with new values."""
        return replace(self, values=np.asarray(values, np.float32))

    def concat(self, other: Interactions, name: str | None = None) -> Interactions:
        """Records of ``self`` followed by ``other`` (must share the id space)."""
        if self.n_users != other.n_users or self.n_items != other.n_items:
            raise DataError(f"cannot concatenate {self.name!r} and {other.name!r}: id spaces differ")
        if (self.timestamps is None) != (other.timestamps is None):
            raise DataError("cannot concatenate records with and without timestamps")
        ts = (
            None
            if self.timestamps is None
            else np.concatenate([self.timestamps, other.timestamps])  # type: ignore[list-item]
        )
        return replace(
            self,
            users=np.concatenate([self.users, other.users]),
            items=np.concatenate([self.items, other.items]),
            values=np.concatenate([self.values, other.values]),
            timestamps=ts,
            name=name or self.name,
        )

    # ---------------------------------------------------------------- growing
    def append_users(self, user_ids: Sequence[Any] | np.ndarray, features: FeatureRows = None) -> Interactions:
        """The same records over a user id space grown by ``user_ids`` at the end.

        Indices of existing users are unchanged; the new users get indices
        ``n_users .. n_users + len(user_ids) - 1`` and no records (add them with
        :meth:`new_records` and :meth:`concat`). One concatenation per call, the
        record arrays are shared. No ids: ``self`` is returned.

        Parameters
        ----------
        user_ids
            New external ids, of the same kind (numbers or strings) as ``self.user_ids``.
        features
            Rows of ``user_features`` for the new users (a DataFrame or dict of columns,
            a subset of the existing columns); missing columns and, without it, whole
            rows are missing values.

        Raises
        ------
        DataError
            Naming an id that repeats or is already in the id space, or bad feature rows.
        """
        return grow_ids(self, "user", user_ids, features)

    def append_items(self, item_ids: Sequence[Any] | np.ndarray, features: FeatureRows = None) -> Interactions:
        """The same records over an item id space grown by ``item_ids`` (see :meth:`append_users`)."""
        return grow_ids(self, "item", item_ids, features)

    def new_records(
        self,
        users: Sequence[Any] | np.ndarray,
        items: Sequence[Any] | np.ndarray,
        values: Sequence[float] | np.ndarray | None = None,
        timestamps: Sequence[int] | np.ndarray | None = None,
        *,
        external: bool = False,
        duplicates: str = "error",
        name: str | None = None,
    ) -> Interactions:
        """Records over this id space (ids, features, name kept), ready for :meth:`concat`.

        Parameters
        ----------
        users, items
            Indices, or external ids with ``external=True`` (unknown ids raise DataError).
        values
            Values per record; 1.0 when omitted.
        timestamps
            Times per record. When ``self`` has timestamps and none are given, every
            new record gets the latest timestamp of ``self``; giving them to data
            without timestamps raises DataError.
        external
            Whether ``users`` / ``items`` are external ids.
        duplicates
            Policy for repeated pairs among the new records (see :meth:`from_records`).
        name
            Name of the result (default ``self.name``).
        """
        return encode_records(self, users, items, values, timestamps, external=external,
                              duplicates=duplicates, name=name)

    def implicit(self, threshold: float | None = None) -> Interactions:
        """Keep records with ``value >= threshold`` (all if None) and set values to 1.0."""
        kept = self if threshold is None else self.subset(self.values >= threshold)
        return kept.with_values(np.ones(len(kept), np.float32))

    def deduplicate(self, policy: str = "error") -> Interactions:
        """Resolve repeated (user, item) pairs; see :meth:`from_records` for policies."""
        return cleaning.deduplicate(self, policy)

    def kcore(self, k: int, *, items_k: int | None = None, compact: bool = True) -> Interactions:
        """Iteratively drop users with fewer than ``k`` and items with fewer than ``items_k`` records.

        Parameters
        ----------
        k
            Minimum records per user.
        items_k
            Minimum records per item (defaults to ``k``).
        compact
            Re-index so that the id space holds only the surviving users and items.
        """
        out = self.subset(cleaning.kcore_mask(self, k, k if items_k is None else items_k))
        return out.compact() if compact else out

    def compact(self) -> Interactions:
        """Re-index to the users and items that have records (features follow)."""
        return cleaning.compact(self)

    def to_frame(self, external: bool = False) -> pd.DataFrame:
        """Records as a DataFrame (``user``, ``item``, ``value``[, ``timestamp``])."""
        cols: dict[str, np.ndarray] = {
            "user": self.user_ids[self.users] if external else self.users,
            "item": self.item_ids[self.items] if external else self.items,
            "value": self.values,
        }
        if self.timestamps is not None:
            cols["timestamp"] = self.timestamps
        return pd.DataFrame(cols)

