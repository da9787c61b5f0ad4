"""Data stages: seeded transformations of a split's training part before the fit.

A stage gets the split (train, valid, test over one id space) and returns a new split whose
training part is changed (users or items may be appended to the id space) plus a JSON record
of what it did. Valid and test parts are never changed, so every model of an experiment is
evaluated on the same held-out data. Stages are registered by kind in :data:`DATA_STAGES`;
an experiment names them in ``[[data]]`` tables and models list the names they use.

Kinds
-----
``inject-random``
    The random shilling attack (Lam & Riedl, WWW 2004): fake users, a fraction of the real
    ones, each rating every target item with the highest value and ``filler`` random other
    items with values drawn around the data's mean (implicit data: every value 1).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from advrec.data.interactions import Interactions
from advrec.data.splits import Split
from advrec.errors import ConfigError, DataError


class StageParams(BaseModel):
    """Base of a stage's typed parameters (unknown keys are errors)."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Registered:
    """A named, typed stage of a run (data stage or evaluation); subclasses set ``kind`` and
    ``params_class``, and their parameters are validated on construction."""

    kind: ClassVar[str]
    params_class: ClassVar[type[StageParams]]

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        self.name = name
        self.params = self.params_class(**params)


class DataStage(Registered, ABC):
    """A transformation of the training part."""

    @abstractmethod
    def apply(self, split: Split, seed: int) -> tuple[Split, dict[str, Any]]:
        """The changed split and a JSON-friendly record of the change."""

    def target_index(self, split: Split, seed: int) -> np.ndarray | None:
        """The items this stage would target on ``split`` with ``seed`` (None: it has no targets),
        so a model fit without the stage can be measured on the same targets."""
        return None


class InjectParams(StageParams):
    """Parameters of :class:`InjectRandom`."""

    fraction: float = Field(0.01, gt=0, le=1)
    """Fake users as a fraction of the real users with training data (rounded, at least 1)."""
    filler: int = Field(10, ge=0)
    """Random filler items per fake user (besides the targets)."""
    targets: int = Field(5, ge=1)
    """Target items drawn by the seed from ``target_pool`` (ignored when ``target_items`` is set)."""
    target_pool: Literal["unpopular", "popular"] = "unpopular"
    """Draw targets from the least (default) or the most popular half of the items with training data."""
    target_items: list[Any] | None = None
    """External ids of the target items, instead of a draw."""


class InjectRandom(DataStage):
    """Random attack: fake users that rate the targets high and random fillers around the mean."""

    kind = "inject-random"
    params_class = InjectParams
    params: InjectParams

    def target_index(self, split: Split, seed: int) -> np.ndarray:
        return self._targets(split.train, self._rng(seed))

    @staticmethod
    def _rng(seed: int) -> np.random.Generator:
        return np.random.default_rng([int(seed), 0x5A17])

    def apply(self, split: Split, seed: int) -> tuple[Split, dict[str, Any]]:
        p, train = self.params, split.train
        rng = self._rng(seed)
        targets = self._targets(train, rng)  # drawn first: target_index() repeats this draw
        real = train.active_users()
        n_fake = max(1, round(p.fraction * len(real)))
        items = train.active_items()
        pool = np.setdiff1d(items, targets)
        if p.filler > len(pool):
            raise ConfigError(f"data stage {self.name!r}: filler={p.filler} but only {len(pool)} non-target "
                              "items have training data")
        # each fake user's fillers: the first `filler` of a random permutation key per (user, item)
        keys = rng.random((n_fake, len(pool)))
        fill = pool[np.argpartition(keys, p.filler - 1, axis=1)[:, : p.filler]] if p.filler else \
            np.empty((n_fake, 0), np.int64)
        implicit = bool(np.all(train.values == train.values[0])) if len(train) else True
        top = float(train.values.max()) if len(train) else 1.0
        if implicit:
            fill_values = np.full(fill.shape, top, np.float32)
        else:
            lo, hi = float(train.values.min()), top
            drawn = rng.normal(float(train.values.mean()), float(train.values.std()), fill.shape)
            fill_values = np.clip(np.rint(drawn), lo, hi).astype(np.float32)
        new_ids = fake_ids(train.user_ids, n_fake)
        grown = split.grow(user_ids=new_ids)
        users = np.arange(split.n_users, split.n_users + n_fake)
        rec_users = np.concatenate([np.repeat(users, len(targets)), np.repeat(users, fill.shape[1])])
        rec_items = np.concatenate([np.tile(targets, n_fake), fill.ravel()])
        rec_values = np.concatenate([np.full(n_fake * len(targets), top, np.float32), fill_values.ravel()])
        fake = records_like(grown.train, rec_users, rec_items, rec_values)
        out = grown.with_train(grown.train.concat(fake), note=f"{self.name}: {self.kind} added {n_fake} users")
        record = {
            "kind": self.kind, "n_real_users": int(split.n_users), "n_fake_users": n_fake,
            "fake_user_ids": new_ids.tolist(), "records_added": len(fake),
            "targets": [_plain(x) for x in train.item_ids[targets]], "target_index": targets.tolist(),
            "implicit": implicit, "params": p.model_dump(mode="json"),
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


def fake_ids(existing: np.ndarray, n: int) -> np.ndarray:
    """``n`` new external user ids that cannot collide with ``existing`` (integers above the
    largest integer id, else strings ``"fake-<k>"``)."""
    if np.issubdtype(existing.dtype, np.integer):
        start = int(existing.max()) + 1 if len(existing) else 0
        return np.arange(start, start + n, dtype=existing.dtype)
    taken = set(existing.tolist())
    out = [f"fake-{k}" for k in range(n)]
    if taken.intersection(out):
        raise DataError("the data already has user ids of the form 'fake-<k>'")
    return np.asarray(out, dtype=existing.dtype if existing.dtype.kind == "U" else object)


def records_like(like: Interactions, users: np.ndarray, items: np.ndarray, values: np.ndarray) -> Interactions:
    """Records over ``like``'s id space (timestamps: the latest one of ``like``, if it has any)."""
    ts = None
    if like.timestamps is not None:
        ts = np.full(len(users), int(like.timestamps.max()) if len(like) else 0, np.int64)
    return Interactions(users, items, values, like.user_ids, like.item_ids, ts, name=like.name)


def item_index(inter: Interactions, ids: list[Any], what: str) -> np.ndarray:
    """Indices of external item ids; DataError naming ``what`` for ids not in the data."""
    pos = {_plain(x): i for i, x in enumerate(inter.item_ids)}
    missing = [x for x in ids if _plain(x) not in pos]
    if missing:
        raise DataError(f"{what}: {missing[:5]} are not items of the data")
    return np.array([pos[_plain(x)] for x in ids], np.int64)


def _plain(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


DATA_STAGES: dict[str, type[DataStage]] = {InjectRandom.kind: InjectRandom}


def make_stage(name: str, kind: str, params: dict[str, Any]) -> DataStage:
    """The registered stage ``kind`` with validated parameters (ConfigError naming the stage)."""
    return build_registered(DATA_STAGES, "data stage", name, kind, params)


def build_registered(registry: dict[str, type[Any]], what: str, name: str, kind: str, params: dict[str, Any]) -> Any:
    """``registry[kind](name, params)``; unknown kinds and bad parameters raise ConfigError naming ``what``."""
    from pydantic import ValidationError

    if kind not in registry:
        raise ConfigError(f"{what} {name!r}: unknown kind {kind!r}; known: {sorted(registry)}")
    try:
        return registry[kind](name, params)
    except ValidationError as exc:
        msgs = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ConfigError(f"{what} {name!r} ({kind}): {msgs}") from None


def apply_stages(split: Split, stages: list[DataStage], seed: int) -> tuple[Split, list[dict[str, Any]]]:
    """Apply ``stages`` in order; each record also gets the stage's name and the new train checksum."""
    records = []
    for stage in stages:
        split, record = stage.apply(split, seed)
        records.append({"name": stage.name, **record, "train_sha256": split.train.checksum()})
    return split, records
