"""The one split type of advrec: :class:`Split`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from advrec.data.growth import FeatureRows
from advrec.data.interactions import Interactions
from advrec.errors import DataError, LeakageError

PARTS = ("train", "test", "valid", "revealed", "valid_revealed", "generated")
"""The :class:`Interactions` parts of a split (those present share one id space)."""


def _isin(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mask of the entries of ``a`` that occur in ``b`` (``np.isin``, via one sort)."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros(len(a), bool)
    sb = np.sort(b)
    pos = np.minimum(np.searchsorted(sb, a), len(sb) - 1)
    return sb[pos] == a


def _count_in(a: np.ndarray, b: np.ndarray) -> int:
    """How many entries of ``a`` occur in ``b`` (``np.isin(a, b).sum()``, via one sort)."""
    if len(a) == 0 or len(b) == 0:
        return 0
    sb = np.sort(b)
    pos = np.minimum(np.searchsorted(sb, a), len(sb) - 1)
    return int((sb[pos] == a).sum())


@dataclass(frozen=True, eq=False)
class Split:
    """Train / valid / test interactions over one id space.

    Parameters
    ----------
    train
        What models may fit on.
    test
        Held-out records for the final evaluation.
    valid
        Held-out records carved out of the training data for tuning and early
        stopping (``None`` when the split has none).
    cold_users, cold_items
        Indices of users / items wholly held out of ``train`` (cold-start
        splits). For a cold-user split that reveals the first ``n``
        interactions, the revealed records are in ``revealed``.
    revealed
        Interactions of cold users that a cold-start method may use at
        inference time (never for fitting the warm model).
    name
        The split spec, e.g. ``"random:0.8"`` or ``"fixed"``.
    meta
        Free-form provenance (seed, parameters); ``meta["notes"]`` lists what
        :meth:`grow` and :meth:`with_train` changed, in order.
    valid_cold_users, valid_cold_items, valid_revealed
        The cold sets (and revealed records) of the validation part when it
        was carved to mirror a cold-start test (see
        :func:`advrec.data.splits.carve_validation`); :meth:`tuning` puts them
        in place of the test ones. ``None`` otherwise.
    generated
        Records a generator added to ``train`` (augmentation; they are also in
        ``train``). Models fit on them, but they are not real consumption: they
        may coincide with held-out pairs (the generator never saw those, so this
        is no leakage) and :meth:`real` leaves them out of the records that
        evaluation excludes from the candidates and groups users by.
    """

    train: Interactions
    test: Interactions
    valid: Interactions | None = None
    cold_users: np.ndarray | None = None
    cold_items: np.ndarray | None = None
    revealed: Interactions | None = None
    name: str = "split"
    meta: dict[str, Any] = field(default_factory=dict)
    valid_cold_users: np.ndarray | None = None
    valid_cold_items: np.ndarray | None = None
    valid_revealed: Interactions | None = None
    generated: Interactions | None = None

    def __post_init__(self) -> None:
        parts = [
            p
            for p in (self.train, self.test, self.valid, self.revealed, self.valid_revealed, self.generated)
            if p is not None
        ]
        shapes = {(p.n_users, p.n_items) for p in parts}
        if len(shapes) != 1:
            raise LeakageError(f"split {self.name!r}: parts have different id spaces {sorted(shapes)}")

    @property
    def n_users(self) -> int:
        """Size of the shared user id space."""
        return self.train.n_users

    @property
    def n_items(self) -> int:
        """Size of the shared item id space."""
        return self.train.n_items

    def tuning(self) -> Split:
        """The split used for hyper-parameter search: fit on train, score on valid.

        Raises
        ------
        LeakageError
            If the split has no validation part (carve one with
            :func:`advrec.data.splits.carve_validation`).
        """
        if self.valid is None:
            raise LeakageError(
                f"split {self.name!r} has no validation part; tuning on test is not allowed"
            )
        # A cold-mirrored valid part brings its own cold sets and revealed records.
        revealed = self.revealed if self.valid_cold_users is None else self.valid_revealed
        return replace(
            self,
            test=self.valid,
            valid=None,
            cold_users=self.cold_users if self.valid_cold_users is None else self.valid_cold_users,
            cold_items=self.cold_items if self.valid_cold_items is None else self.valid_cold_items,
            revealed=revealed,
            valid_cold_users=None,
            valid_cold_items=None,
            valid_revealed=None,
            name=f"{self.name}/valid",
        )

    def real(self, part: Interactions) -> Interactions:
        """``part`` without its :attr:`generated` records (``part`` itself when nothing was
        generated): the real records of a fit's data, which evaluation excludes from the candidates.

        A generated pair that is also a real record of ``part`` (a validation record put back by
        :meth:`train_full`) stays, once: it is real.
        """
        if self.generated is None or not len(self.generated):
            return part
        keys = part.pair_keys()
        generated = _isin(keys, self.generated.pair_keys())
        real_too = [p.pair_keys() for p in (self.valid, self.valid_revealed) if p is not None]
        if real_too:  # a key with a generated and a real record in part: keep one record
            both = np.flatnonzero(generated & _isin(keys, np.concatenate(real_too)))
            _, first, count = np.unique(keys[both], return_index=True, return_counts=True)
            generated[both[first[count > 1]]] = False
        return part.subset(~generated, name=part.name)

    def train_full(self) -> Interactions:
        """Train plus valid (and the valid part's revealed records), for the final fit."""
        out = self.train
        for part in (self.valid_revealed, self.valid):
            if part is not None:
                out = out.concat(part, name=self.train.name)
        return out

    def grow(
        self,
        user_ids: Sequence[Any] | np.ndarray = (),
        item_ids: Sequence[Any] | np.ndarray = (),
        *,
        user_features: FeatureRows = None,
        item_features: FeatureRows = None,
    ) -> Split:
        """Every part over an id space grown by new users and items at the end.

        Existing indices (and the cold sets) are unchanged; the new ids have no
        records anywhere yet (add them with :meth:`with_train`). Train is grown with
        :meth:`Interactions.append_users` / :meth:`~Interactions.append_items` and the
        other parts share its grown id arrays and, where they shared train's
        feature tables, its grown tables. No ids: ``self`` is returned.

        Parameters
        ----------
        user_ids, item_ids
            New external ids (see :meth:`Interactions.append_users`).
        user_features, item_features
            Side-feature rows of the new ids (missing values without them).

        Raises
        ------
        DataError
            Naming an id already in the id space (or repeated), or bad feature rows.
        """
        if np.asarray(user_ids).size == 0 and np.asarray(item_ids).size == 0:
            self.train.append_users(user_ids, user_features)  # refuses feature rows without ids
            self.train.append_items(item_ids, item_features)
            return self
        old = self.train
        grown = old.append_users(user_ids, user_features).append_items(item_ids, item_features)
        changes: dict[str, Any] = {"train": grown}
        for label in PARTS[1:]:
            part = getattr(self, label)
            if part is not None:
                changes[label] = _follow(part, old, grown, (user_ids, user_features), (item_ids, item_features))
        n_u, n_i = grown.n_users - old.n_users, grown.n_items - old.n_items
        return replace(self, **changes, meta=_noted(self.meta, f"grow: +{n_u} users, +{n_i} items"))

    def with_train(self, train: Interactions, note: str = "train replaced") -> Split:
        """The split with ``train`` as its training part, leakage-checked, the change noted.

        The data stage of a pipeline (poison, augment, filter) builds the new
        training part over the split's id space (after :meth:`grow` when it adds
        users or items) and puts it in place here.

        Parameters
        ----------
        train
            The new training records, over exactly this split's id space.
        note
            What changed (e.g. ``"poison: 50 fake users"``); appended, with the
            record counts, to ``meta["notes"]``.

        Raises
        ------
        DataError
            If ``train`` has another id space (grow the split first).
        LeakageError
            If ``train`` now shares pairs with valid / test or uses cold users / items.
        """
        old = self.train
        same = train.n_users == old.n_users and train.n_items == old.n_items
        if not (same and np.array_equal(train.user_ids, old.user_ids)
                and np.array_equal(train.item_ids, old.item_ids)):
            raise DataError(
                f"split {self.name!r}: the new train {train.name!r} has id space "
                f"({train.n_users}, {train.n_items}) or ids other than the split's ({old.n_users}, "
                f"{old.n_items}); grow the split with Split.grow(...) and build train over it"
            )
        text = f"{note} (train records {len(old)} -> {len(train)})"
        return replace(self, train=train, meta=_noted(self.meta, text)).check_leakage()

    def with_generated(self, records: Interactions, note: str = "generated records added") -> Split:
        """The split with generated ``records`` added to train and to :attr:`generated`.

        Parameters
        ----------
        records
            New records over this split's id space, none already in train (the caller
            chose items the users do not have).
        note
            What was added, appended to ``meta["notes"]`` (see :meth:`with_train`).

        Raises
        ------
        DataError
            If a record is already a training pair.
        """
        if _count_in(records.pair_keys(), self.train.pair_keys()):
            raise DataError(f"split {self.name!r}: generated records repeat training pairs")
        generated = records if self.generated is None else self.generated.concat(records, name=records.name)
        train = self.train.concat(records, name=self.train.name)
        return replace(self, generated=generated).with_train(train, note)

    def check_leakage(self) -> Split:
        """Refuse overlapping pairs and cold users/items that appear in training data.

        Returns
        -------
        Split
            ``self``, so the call can be chained.

        Raises
        ------
        LeakageError
            Naming the offending parts and the number of shared pairs.
        """
        train_keys = self.real(self.train).pair_keys()  # generated pairs may meet held-out ones
        named = [("test", self.test)]
        if self.valid is not None:
            named.append(("valid", self.valid))
        for label, part in named:
            n = _count_in(part.pair_keys(), train_keys)
            if n:
                raise LeakageError(f"split {self.name!r}: {n} (user, item) pairs are in both train and {label}")
        if self.valid is not None:
            n = _count_in(self.test.pair_keys(), self.valid.pair_keys())
            if n:
                raise LeakageError(f"split {self.name!r}: {n} pairs are in both valid and test")
        for label, rev, held in (("revealed", self.revealed, self.test),
                                 ("valid_revealed", self.valid_revealed, self.valid)):
            if rev is not None and held is not None:
                n = _count_in(held.pair_keys(), rev.pair_keys())
                if n:
                    raise LeakageError(
                        f"split {self.name!r}: {n} pairs are in both {label} and the held-out part"
                    )
        for label, cold, col in (("valid cold users", self.valid_cold_users, self.train.users),
                                 ("valid cold items", self.valid_cold_items, self.train.items)):
            if cold is not None:
                n = _count_in(col, cold)
                if n:
                    raise LeakageError(f"split {self.name!r}: {n} train records use {label}")
        fit_parts = [self.train] + ([self.valid] if self.valid is not None else [])
        for part in fit_parts:
            if self.cold_items is not None:
                n = _count_in(part.items, self.cold_items)
                if n:
                    raise LeakageError(
                        f"split {self.name!r}: {n} {part.name} records use cold items"
                    )
            if self.cold_users is not None:
                n = _count_in(part.users, self.cold_users)
                if n:
                    raise LeakageError(
                        f"split {self.name!r}: {n} {part.name} records belong to cold users"
                    )
        return self

    def summary(self) -> dict[str, Any]:
        """Counts per part, for logs and manifests."""
        out: dict[str, Any] = {"name": self.name, "n_users": self.n_users, "n_items": self.n_items}
        for label in ("train", "valid", "test", "revealed", "valid_revealed", "generated"):
            part = getattr(self, label)
            if part is not None:
                out[label] = {
                    "records": len(part),
                    "users": len(part.active_users()),
                    "items": len(part.active_items()),
                }
        for label in ("cold_users", "cold_items", "valid_cold_users", "valid_cold_items"):
            arr = getattr(self, label)
            if arr is not None:
                out[label] = len(arr)
        return out


def _noted(meta: dict[str, Any], note: str) -> dict[str, Any]:
    """A copy of ``meta`` with ``note`` appended to its ``"notes"`` list."""
    return {**meta, "notes": [*meta.get("notes", []), note]}


def _follow(
    part: Interactions,
    old: Interactions,
    grown: Interactions,
    new_users: tuple[Sequence[Any] | np.ndarray, FeatureRows],
    new_items: tuple[Sequence[Any] | np.ndarray, FeatureRows],
) -> Interactions:
    """``part`` over the id space of ``grown`` (train grown from ``old`` by the new ids and rows)."""
    if part.user_features is old.user_features and part.item_features is old.item_features:
        return replace(part, user_ids=grown.user_ids, item_ids=grown.item_ids,
                       user_features=grown.user_features, item_features=grown.item_features)
    return part.append_users(*new_users).append_items(*new_items)
