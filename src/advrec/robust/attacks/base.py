"""Fake-user injection: the shared part of every poisoning (shilling) attack.

An attack is a data stage: it draws target items, asks its subclass for the fake profiles
(:meth:`InjectionAttack.profiles`) and appends the fake users to the training part of the
split (valid and test never change). The record names the fake users and the targets, so
target-item metrics and detectors can be scored against the truth, and gives the time the
attack took to craft its profiles (``craft_seconds``: :meth:`InjectionAttack.profiles` only,
not the draw of the targets).

Encoding of ratings: on explicit data (values not all equal) a profile gives each target the
highest value of the data and each filler a value chosen by the attack; on implicit data
(every value equal) a profile is a set of items, every value that one value.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import Field

from advrec.data.interactions import Interactions
from advrec.data.splits import Split
from advrec.errors import ConfigError
from advrec.experiments.stage_base import DataStage, StageParams, fake_ids, item_index, plain, records_like


class InjectParams(StageParams):
    """Parameters shared by the injection attacks."""

    fraction: float = Field(0.01, gt=0, le=1)
    """Fake users as a fraction of the real users with training data (rounded, at least 1)."""
    n_fake: int | None = Field(None, ge=1)
    """Exact number of fake users, instead of ``fraction``."""
    filler: int = Field(10, ge=0)
    """Filler items per fake user (besides the targets)."""
    targets: int = Field(5, ge=1)
    """Target items drawn by the seed from ``target_pool`` (ignored when ``target_items`` is set)."""
    target_pool: Literal["unpopular", "popular"] = "unpopular"
    """Draw targets from the least (default) or the most popular half of the items with training data."""
    target_items: list[Any] | None = None
    """External ids of the target items, instead of a draw."""


@dataclass(frozen=True)
class Profiles:
    """Fake profiles as records: ``users`` in ``[0, n_fake)``, item indices and values."""

    users: np.ndarray
    items: np.ndarray
    values: np.ndarray


@dataclass(frozen=True)
class AttackData:
    """What an attack may know: the training data, its rating scale and the targets."""

    train: Interactions
    targets: np.ndarray
    n_fake: int
    implicit: bool
    low: float
    top: float

    def filler_pool(self) -> np.ndarray:
        """Items with training data that are not targets."""
        return np.setdiff1d(self.train.active_items(), self.targets)


class InjectionAttack(DataStage):
    """Base of the attacks that append fake users; subclasses implement :meth:`profiles`."""

    params_class: ClassVar[type[StageParams]] = InjectParams
    params: InjectParams

    @abstractmethod
    def profiles(self, data: AttackData, rng: np.random.Generator) -> Profiles:
        """The fake users' records (targets included) for ``data``, drawn with ``rng``."""

    def target_index(self, split: Split, seed: int) -> np.ndarray:
        return self._targets(split.train, self._rng(seed))

    @staticmethod
    def _rng(seed: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), 0x5A17])

    def apply(self, split: Split, seed: int) -> tuple[Split, dict[str, Any]]:
        p, train = self.params, split.train
        rng = self._rng(seed)
        targets = self._targets(train, rng)  # drawn first: target_index() repeats this draw
        n_fake = p.n_fake if p.n_fake is not None else max(1, round(p.fraction * len(train.active_users())))
        data = AttackData(train, targets, n_fake, *_scale(train))
        if p.filler > len(data.filler_pool()):
            raise ConfigError(f"data stage {self.name!r}: filler={p.filler} but only {len(data.filler_pool())} "
                              "non-target items have training data")
        t0 = time.perf_counter()
        prof = self.profiles(data, rng)
        craft = time.perf_counter() - t0
        new_ids = fake_ids(train.user_ids, n_fake)
        grown = split.grow(user_ids=new_ids)
        fake = records_like(grown.train, prof.users + split.n_users, prof.items, prof.values.astype(np.float32))
        out = grown.with_train(grown.train.concat(fake), note=f"{self.name}: {self.kind} added {n_fake} users")
        record = {
            "kind": self.kind, "n_real_users": int(split.n_users), "n_fake_users": n_fake,
            "fake_user_ids": new_ids.tolist(), "records_added": len(fake),
            "targets": [plain(x) for x in train.item_ids[targets]], "target_index": targets.tolist(),
            "implicit": data.implicit, "params": p.model_dump(mode="json"), "craft_seconds": round(craft, 4),
        }
        return out, record

    def _targets(self, train: Interactions, rng: np.random.Generator) -> np.ndarray:
        p = self.params
        if p.target_items is not None:
            return item_index(train, p.target_items, f"data stage {self.name!r}: target_items")
        counts = train.item_counts()
        active = np.flatnonzero(counts)
        order = active[np.argsort(counts[active], kind="stable")]  # least popular first
        half = order[: len(order) // 2] if p.target_pool == "unpopular" else order[len(order) // 2:]
        if p.targets > len(half):
            raise ConfigError(f"data stage {self.name!r}: targets={p.targets} but the {p.target_pool} half "
                              f"has {len(half)} items")
        return np.sort(rng.choice(half, p.targets, replace=False))


def _scale(train: Interactions) -> tuple[bool, float, float]:
    """(implicit, lowest value, highest value) of the training data."""
    if not len(train):
        return True, 1.0, 1.0
    implicit = bool(np.all(train.values == train.values[0]))
    return implicit, float(train.values.min()), float(train.values.max())


def with_targets(data: AttackData, fill: np.ndarray, fill_values: np.ndarray) -> Profiles:
    """Profiles of ``n_fake`` users: every target at the top value plus the filler matrix
    ``fill`` (``n_fake x filler`` item indices) with ``fill_values`` of the same shape."""
    n, t = data.n_fake, data.targets
    users = np.arange(n)
    return Profiles(
        users=np.concatenate([np.repeat(users, len(t)), np.repeat(users, fill.shape[1])]),
        items=np.concatenate([np.tile(t, n), fill.ravel()]),
        values=np.concatenate([np.full(n * len(t), data.top, np.float32), fill_values.ravel().astype(np.float32)]),
    )


def random_fillers(pool: np.ndarray, n: int, k: int, rng: np.random.Generator,
                   weights: np.ndarray | None = None) -> np.ndarray:
    """``n x k`` distinct items per row from ``pool``: uniform, or drawn without replacement
    with probability proportional to ``weights`` (exponential race: key ``-ln(u) / w``, the
    ``k`` smallest keys win), vectorised over rows."""
    if k == 0:
        return np.empty((n, 0), np.int64)
    keys = rng.random((n, len(pool)))
    if weights is not None:
        keys = -np.log(np.maximum(keys, 1e-300)) / np.maximum(weights, 1e-300)[None, :]
    return pool[np.argpartition(keys, k - 1, axis=1)[:, :k]]
