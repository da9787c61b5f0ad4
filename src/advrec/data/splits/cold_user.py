"""Cold-user split: users wholly held out of training, optionally revealing their first records."""

from __future__ import annotations

import numpy as np

from advrec.data.interactions import Interactions
from advrec.data.splits.arrays import (
    BY_CHOICES,
    TAG_COLD_USERS,
    check_fraction,
    index_mask,
    part_names,
    pick_fraction,
    rng_for,
    user_ranks,
)
from advrec.data.splits.split import Split
from advrec.errors import ConfigError, DataError


def hold_out_users(
    inter: Interactions, frac: float, reveal: int, by: str, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw cold users and split their records into revealed / held-out.

    Returns the sorted cold user indices and two record masks (revealed, held).
    Only users with more than ``reveal`` records are candidates, so every cold
    user keeps at least one held-out record; one active user always stays warm.
    """
    counts = inter.user_counts()
    candidates = np.flatnonzero(counts > reveal)
    n_active = int((counts > 0).sum())
    keep = max(0, 1 - (n_active - len(candidates)))  # one warm user must remain
    cold = pick_fraction(candidates, frac, rng, keep=keep, label=f"users with > {reveal} records")
    is_cold = index_mask(inter.n_users, cold)[inter.users]
    if reveal:
        rank, _ = user_ranks(inter, by, rng)
        revealed = is_cold & (rank < reveal)
    else:
        revealed = np.zeros(len(inter), dtype=bool)
    return cold, revealed, is_cold & ~revealed


def cold_users(
    inter: Interactions,
    frac: float = 0.2,
    *,
    reveal: int = 0,
    seed: int = 0,
    by: str = "time",
) -> Split:
    """Hold out a fraction of the users with all their records.

    ``round_half_up(frac * n)`` users are drawn among the ``n`` users with more
    than ``reveal`` records (at least one; one active user always stays warm).
    The first ``reveal`` records of each cold user (earliest by time, or a
    random choice) go to ``Split.revealed`` — what a cold-start method may see
    at inference time, never fitted on — and the rest to test.

    Parameters
    ----------
    inter
        The records.
    frac
        Fraction of the candidate users to hold out, in (0, 1).
    reveal
        Records per cold user revealed at inference time (0: none;
        ``Split.revealed`` is then ``None``).
    seed
        Seed of the draw (and of the random reveal order).
    by
        Order that defines "first" for ``reveal``: ``"time"`` or ``"random"``.
        Timestamps are only needed when ``reveal > 0``.
    """
    f = check_fraction(frac, "frac")
    if isinstance(reveal, bool) or not isinstance(reveal, (int, np.integer)) or reveal < 0:
        raise ConfigError(f"reveal must be a non-negative integer, got {reveal!r}")
    if by not in BY_CHOICES:
        raise ConfigError(f"by must be one of {BY_CHOICES}, got {by!r}")
    if reveal and by == "time" and inter.timestamps is None:
        raise DataError(
            f"{inter.name}: cold-user:{f:g}:{int(reveal)} reveals each cold user's {int(reveal)} earliest "
            f"records by time, but the records have no timestamps; use "
            f"cold-user:{f:g}:{int(reveal)}:random (a seeded random choice of the revealed records)"
        )
    rng = rng_for(seed, TAG_COLD_USERS)
    cold, revealed, held = hold_out_users(inter, f, int(reveal), by, rng)
    names = part_names(inter.name)
    name = f"cold-user:{f:g}" + (f":{int(reveal)}" if reveal else "") + (":random" if reveal and by == "random" else "")
    return Split(
        train=inter.subset(~(revealed | held), name=names["train"]),
        test=inter.subset(held, name=names["test"]),
        cold_users=cold,
        revealed=inter.subset(revealed, name=names["revealed"]) if reveal else None,
        name=name,
        meta={
            "kind": "cold-user",
            "frac": f,
            "reveal": int(reveal),
            "by": by,
            "seed": int(seed),
            "n_cold_users": len(cold),
        },
    )
