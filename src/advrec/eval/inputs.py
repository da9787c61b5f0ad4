"""Checks of what an evaluation is given: cutoffs, candidate items, the model and the id spaces."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

import numpy as np

from advrec.errors import AdvrecError, ConfigError, DataError

if TYPE_CHECKING:
    from advrec.data.interactions import Interactions
    from advrec.models.base import Recommender


def check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    """The cutoffs as sorted unique ints; ConfigError unless a non-empty set of positive integers."""
    try:
        out = tuple(sorted({int(k) for k in ks}))
    except (TypeError, ValueError):
        raise ConfigError(f"ks must be positive integers, got {ks!r}") from None
    if not out or out[0] < 1:
        raise ConfigError(f"ks must be a non-empty set of positive integers, got {ks!r}")
    return out


def check_candidates(candidates: np.ndarray) -> np.ndarray:
    """Sorted unique int64 item indices; ConfigError unless a non-empty 1-D index array."""
    c = np.asarray(candidates)
    if c.ndim != 1 or not len(c) or not np.issubdtype(c.dtype, np.integer):
        raise ConfigError(f"candidates must be a non-empty 1-D array of item indices, got shape {c.shape} "
                          f"and dtype {c.dtype}")
    if c.min() < 0:
        raise ConfigError(f"candidates: negative item index {int(c.min())}")
    return np.unique(c).astype(np.int64)


def check_spaces(model: Recommender, train: Interactions, test: Interactions) -> tuple[int, int]:
    """The model's ``(n_users, n_items)``; an error unless it is fitted on the id space of both parts."""
    if not model.is_fitted:
        raise AdvrecError(f"{model.name}: the model is not fitted; call fit() or load() first")
    space = (model.n_users, model.n_items)
    for label, part in (("train/exclude", train), ("test", test)):
        if (part.n_users, part.n_items) != space:
            raise DataError(
                f"{label} {part.name!r} has id space {(part.n_users, part.n_items)} but the model "
                f"{model.name!r} was fit on {space}"
            )
    return space
