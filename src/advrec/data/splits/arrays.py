"""Vectorised helpers shared by the splitters in :mod:`advrec.data.splits`.

Everything here works on whole arrays: per-user ranks come from one sort by
``(user, key)`` and the start offset of each user's block (a cumulative sum of
the per-user counts), never from a Python loop over users or records.
"""

from __future__ import annotations

import numpy as np

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError

BY_CHOICES = ("time", "random")

# Stream tags: each splitter draws from its own stream of the same seed, so
# that e.g. carving validation with the seed of the split is not correlated
# with the split itself.
TAG_RANDOM, TAG_LOO, TAG_COLD_ITEMS, TAG_COLD_USERS, TAG_VALID = 11, 12, 13, 14, 15


def rng_for(seed: int, tag: int) -> np.random.Generator:
    """A generator for ``seed`` on the stream ``tag`` (deterministic)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ConfigError(f"seed must be a non-negative integer, got {seed!r}")
    return np.random.default_rng([int(seed), tag])


def round_half_up(x: np.ndarray | float) -> np.ndarray:
    """Round to the nearest integer, halves upwards (``2.5 -> 3``), as int64.

    A tiny epsilon absorbs float error, so ``0.15 * 10`` counts as ``1.5``.
    """
    return np.floor(np.asarray(x, dtype=np.float64) + 0.5 + 1e-9).astype(np.int64)


def check_fraction(value: float, label: str) -> float:
    """Return ``value`` as a float if it lies strictly between 0 and 1, else raise ConfigError."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{label} must be a number in (0, 1), got {value!r}") from None
    if not 0.0 < v < 1.0:
        raise ConfigError(f"{label} must be in (0, 1), got {value!r}")
    return v


def check_by(by: str, inter: Interactions) -> str:
    """Validate an ordering choice; ``"time"`` needs timestamps."""
    if by not in BY_CHOICES:
        raise ConfigError(f"by must be one of {BY_CHOICES}, got {by!r}")
    if by == "time" and inter.timestamps is None:
        raise DataError(
            f"{inter.name}: by='time' needs timestamps but the records have none; use by='random'"
        )
    return by


def user_ranks(
    inter: Interactions, by: str, rng: np.random.Generator | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rank of each record within its user's records, and the per-user counts.

    Parameters
    ----------
    inter
        The records.
    by
        ``"time"``: rank 0 is the earliest record (ties keep record order).
        ``"random"``: a random order drawn from ``rng``.
    rng
        Needed for ``by="random"``.

    Returns
    -------
    rank : np.ndarray
        int64 per record, ``0 .. count[user] - 1``.
    counts : np.ndarray
        Records per user index (length ``n_users``).
    """
    n = len(inter)
    users = inter.users
    # A unique secondary key in 0..n-1: the time order (ties by record order) or a permutation.
    if by == "time":
        secondary = np.empty(n, dtype=np.int64)
        secondary[np.argsort(inter.timestamps, kind="stable")] = np.arange(n, dtype=np.int64)
    else:
        if rng is None:
            raise ValueError("by='random' needs a generator")
        secondary = rng.permutation(n).astype(np.int64)
    if inter.n_users * (n + 1) < 2**62:
        order = np.argsort(users * np.int64(n) + secondary)  # unique keys: any sort is exact
    else:
        order = np.lexsort((secondary, users))
    counts = np.bincount(users, minlength=inter.n_users)
    starts = np.cumsum(counts) - counts
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n, dtype=np.int64) - starts[users[order]]
    return rank, counts


def pick_fraction(
    candidates: np.ndarray, frac: float, rng: np.random.Generator, *, keep: int, label: str
) -> np.ndarray:
    """Draw ``round_half_up(frac * len(candidates))`` of ``candidates`` (sorted result).

    At least one is drawn, and at most ``len(candidates) - keep`` so that ``keep``
    candidates stay behind. Raises DataError when that is impossible.
    """
    n = len(candidates)
    most = n - keep
    if most < 1:
        raise DataError(f"not enough {label} to hold out: {n} candidates, {keep} must stay")
    k = int(np.clip(round_half_up(frac * n), 1, most))
    return np.sort(rng.permutation(candidates)[:k])


def index_mask(size: int, idx: np.ndarray) -> np.ndarray:
    """Boolean array of length ``size`` that is True at ``idx``."""
    m = np.zeros(size, dtype=bool)
    m[idx] = True
    return m


def part_names(name: str) -> dict[str, str]:
    """Names of the parts of a split made from data called ``name``."""
    return {p: f"{name}/{p}" for p in ("train", "valid", "test", "revealed")}


def duplicate_pairs(inter: Interactions) -> int:
    """Number of records that repeat an earlier (user, item) pair."""
    keys = np.sort(inter.pair_keys())  # sort + diff: much faster than np.unique here
    return int((keys[1:] == keys[:-1]).sum())
