"""Base classes of the named, typed stages of a run (data stages and evaluations)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict

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

    def apply_after(self, split: Split, seed: int, records: list[dict[str, Any]]) -> tuple[Split, dict[str, Any]]:
        """:meth:`apply` for a stage that reads the records of the stages applied before it in
        the same run (e.g. a defence scored against an attack's fake users); default: ``apply``."""
        return self.apply(split, seed)

    def target_index(self, split: Split, seed: int) -> np.ndarray | None:
        """The items this stage would target on ``split`` with ``seed`` (None: it has no targets),
        so a model fit without the stage can be measured on the same targets."""
        return None


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
    pos = {plain(x): i for i, x in enumerate(inter.item_ids)}
    missing = [x for x in ids if plain(x) not in pos]
    if missing:
        raise DataError(f"{what}: {missing[:5]} are not items of the data")
    return np.array([pos[plain(x)] for x in ids], np.int64)


def plain(x: Any) -> Any:
    """A numpy scalar as the Python value (JSON-friendly); anything else unchanged."""
    return x.item() if isinstance(x, np.generic) else x
