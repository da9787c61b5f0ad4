"""The one split type of advrec: :class:`Split`."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from advrec.data.interactions import Interactions
from advrec.errors import LeakageError


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
        Free-form provenance (seed, parameters).
    """

    train: Interactions
    test: Interactions
    valid: Interactions | None = None
    cold_users: np.ndarray | None = None
    cold_items: np.ndarray | None = None
    revealed: Interactions | None = None
    name: str = "split"
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parts = [p for p in (self.train, self.test, self.valid, self.revealed) if p is not None]
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
        return replace(self, test=self.valid, valid=None, name=f"{self.name}/valid")

    def train_full(self) -> Interactions:
        """Train plus valid, for the final fit after tuning."""
        if self.valid is None:
            return self.train
        return self.train.concat(self.valid, name=self.train.name)

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
        train_keys = np.unique(self.train.pair_keys())
        named = [("test", self.test)]
        if self.valid is not None:
            named.append(("valid", self.valid))
        for label, part in named:
            n = int(np.isin(part.pair_keys(), train_keys).sum())
            if n:
                raise LeakageError(f"split {self.name!r}: {n} (user, item) pairs are in both train and {label}")
        if self.valid is not None:
            n = int(np.isin(self.test.pair_keys(), self.valid.pair_keys()).sum())
            if n:
                raise LeakageError(f"split {self.name!r}: {n} pairs are in both valid and test")
        fit_parts = [self.train] + ([self.valid] if self.valid is not None else [])
        for part in fit_parts:
            if self.cold_items is not None:
                n = int(np.isin(part.items, self.cold_items).sum())
                if n:
                    raise LeakageError(
                        f"split {self.name!r}: {n} {part.name} records use cold items"
                    )
            if self.cold_users is not None:
                n = int(np.isin(part.users, self.cold_users).sum())
                if n:
                    raise LeakageError(
                        f"split {self.name!r}: {n} {part.name} records belong to cold users"
                    )
        return self

    def summary(self) -> dict[str, Any]:
        """Counts per part, for logs and manifests."""
        out: dict[str, Any] = {"name": self.name, "n_users": self.n_users, "n_items": self.n_items}
        for label in ("train", "valid", "test", "revealed"):
            part = getattr(self, label)
            if part is not None:
                out[label] = {
                    "records": len(part),
                    "users": int(len(part.active_users())),
                    "items": int(len(part.active_items())),
                }
        for label in ("cold_users", "cold_items"):
            arr = getattr(self, label)
            if arr is not None:
                out[label] = int(len(arr))
        return out
