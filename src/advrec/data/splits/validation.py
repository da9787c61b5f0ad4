"""Carve a validation part out of the training part of a split."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from advrec.data.interactions import Interactions
from advrec.data.splits.arrays import (
    TAG_VALID,
    check_by,
    check_fraction,
    index_mask,
    pick_fraction,
    rng_for,
    round_half_up,
    user_ranks,
)
from advrec.data.splits.cold_item import warm_holdout
from advrec.data.splits.cold_user import hold_out_users
from advrec.data.splits.holdout import time_cut
from advrec.data.splits.split import Split
from advrec.errors import ConfigError, DataError


def split_kind(split: Split) -> str:
    """The kind of a split: ``meta["kind"]``, else guessed from its cold sets."""
    kind = split.meta.get("kind")
    if isinstance(kind, str):
        return kind
    if split.cold_users is not None:
        return "cold-user"
    if split.cold_items is not None:
        return "cold-item"
    return "plain"


def carve_validation(
    split: Split, ratio: float = 0.1, *, seed: int = 0, by: str = "random", mirror: bool = True
) -> Split:
    """Move part of ``split.train`` into a new ``split.valid``; test is never touched.

    The default carving is per user: a user with ``n`` train records gives
    ``min(round_half_up(ratio * n), n - 1)`` of them to valid (a random choice,
    or the latest by time with ``by="time"``), so every user keeps at least
    one train record and users with fewer than ``ceil(0.5 / ratio)`` records
    give none. With ``mirror=True`` (default) the carving copies the protocol
    of the test part where that is sensible, read from ``split.meta["kind"]``:

    ``"loo"``
        One record per user with at least 2 train records (latest by time or
        random, per ``by``); ``ratio`` is not used.
    ``"temporal"`` with ``by="time"``
        One global cut of the train timestamps: the latest
        ``round_half_up(ratio * n)`` train records (ties at the cut included)
        become valid.
    ``"cold-item"``
        ``round_half_up(ratio * m)`` of the ``m`` items with train records are
        held out whole; ``Split.valid_cold_items`` holds them. Like the test,
        each user also gives ``meta["warm_test"]`` (0 when absent) of their
        remaining warm train records to valid, with the same rounding.
    ``"cold-user"``
        A fraction ``ratio`` of the train users with more than ``reveal``
        records is held out whole; with ``meta["reveal"] > 0`` their first
        ``reveal`` records (ordered like the test: ``meta["by"]``) go to
        ``Split.valid_revealed``. ``Split.valid_cold_users`` holds the users.

    :meth:`Split.tuning` then evaluates on valid with the valid cold sets, and
    :meth:`Split.train_full` puts every carved record back for the final fit.

    Parameters
    ----------
    split
        A split without a validation part.
    ratio
        Fraction to carve, in (0, 1).
    seed
        Seed of the random choices (a stream separate from the splitters').
    by
        ``"random"`` or ``"time"``.
    mirror
        Copy the test protocol as above; ``False`` always carves per user.

    Raises
    ------
    ConfigError
        If the split already has a validation part, or for a bad argument.
    DataError
        If the carving leaves the validation part empty.
    """
    if split.valid is not None:
        raise ConfigError(f"split {split.name!r} already has a validation part")
    r = check_fraction(ratio, "ratio")
    train = split.train
    check_by(by, train)
    rng = rng_for(seed, TAG_VALID)
    kind = split_kind(split) if mirror else "plain"
    carving = _carve(split, kind, r, by, rng)
    to_valid = carving.to_valid
    info: dict[str, Any] = {"ratio": r, "by": by, "seed": int(seed), **carving.info}
    out_of_train = to_valid if carving.revealed is None else to_valid | carving.revealed
    if not to_valid.any():
        raise DataError(
            f"split {split.name!r}: carving validation ({info['mode']}, ratio={r:g}) from "
            f"{len(train)} train records gives nothing; use a larger ratio or no validation"
        )
    info["records"] = int(to_valid.sum())
    return replace(
        split,
        train=train.subset(~out_of_train),
        valid=train.subset(to_valid, name=_rename(train, "valid")),
        meta={**split.meta, "valid": info},
        **carving.extra,
    )


@dataclass
class _Carving:
    """What one protocol carves out of train: the valid records and what goes with them."""

    to_valid: np.ndarray
    """Mask of the train records that become valid."""
    info: dict[str, Any]
    """The protocol's entries of ``meta["valid"]`` (``"mode"`` and its settings)."""
    extra: dict[str, Any] = field(default_factory=dict)
    """Fields of the new :class:`Split` besides train / valid (the valid cold sets)."""
    revealed: np.ndarray | None = None
    """Mask of the train records revealed for cold valid users: out of train, not in valid."""


def _carve(split: Split, kind: str, r: float, by: str, rng: np.random.Generator) -> _Carving:
    """The carving of the protocol that mirrors ``kind`` (per user when none does)."""
    train = split.train
    if kind == "loo":
        rank, counts = user_ranks(train, by, rng)
        c = counts[train.users]
        return _Carving((c >= 2) & (rank == c - 1), {"mode": "leave-one-out"})
    if kind == "temporal" and by == "time":
        to_valid, cutoff = _global_cut(train, r)
        return _Carving(to_valid, {"cutoff": cutoff, "mode": "global-time"})
    if kind == "cold-item":
        return _carve_cold_items(split, r, rng)
    if kind == "cold-user":
        return _carve_cold_users(split, r, by, rng)
    rank, counts = user_ranks(train, by, rng)
    n = counts[train.users]
    n_valid = np.minimum(round_half_up(r * n), n - 1)
    return _Carving(rank >= n - n_valid, {"mode": "per-user"})


def _carve_cold_items(split: Split, r: float, rng: np.random.Generator) -> _Carving:
    """Items held out whole, plus ``meta["warm_test"]`` of each user's warm train records."""
    train = split.train
    cold = pick_fraction(train.active_items(), r, rng, keep=1, label="train items")
    is_cold = index_mask(train.n_items, cold)[train.items]
    warm_test = float(split.meta.get("warm_test", 0.0))
    to_valid = is_cold | warm_holdout(train, ~is_cold, warm_test, rng)
    return _Carving(to_valid, {"mode": "cold-item", "warm_test": warm_test}, {"valid_cold_items": cold})


def _carve_cold_users(split: Split, r: float, by: str, rng: np.random.Generator) -> _Carving:
    """Users held out whole, their first ``meta["reveal"]`` records revealed (ordered like the test)."""
    train = split.train
    reveal = int(split.meta.get("reveal", 0))
    reveal_by = str(split.meta.get("by", by))
    if reveal:
        check_by(reveal_by, train)
    cold, revealed, to_valid = hold_out_users(train, r, reveal, reveal_by, rng)
    extra: dict[str, Any] = {"valid_cold_users": cold}
    if reveal:
        extra["valid_revealed"] = train.subset(revealed, name=_rename(train, "valid_revealed"))
    info = {"mode": "cold-user", "reveal": reveal, "reveal_by": reveal_by}
    return _Carving(to_valid, info, extra, revealed)

def _global_cut(train: Interactions, ratio: float) -> tuple[np.ndarray, int]:
    """Mask of the latest ``ratio`` of ``train`` by time (all ties at the cut included)."""
    ts = train.timestamps
    assert ts is not None  # check_by made sure
    if len(ts) < 2:
        raise DataError(
            f"{train.name}: too few train records ({len(ts)}) for a temporal validation cut"
        )
    cut = time_cut(ts, 1.0 - ratio)
    mask = ts >= cut
    if mask.all():
        raise DataError(
            f"{train.name}: every train record shares the cut time {cut}; no valid cut exists"
        )
    return mask, cut


def _rename(part: Interactions, label: str) -> str:
    """``"data/train"`` -> ``"data/<label>"``; other names get ``/<label>`` appended."""
    base = part.name.removesuffix("/train")
    return f"{base}/{label}"
