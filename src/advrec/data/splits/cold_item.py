"""Cold-item split: items wholly held out of training, plus a per-user share of the warm records.

:func:`warm_holdout` is also the warm part of the validation carving of such splits.
"""

from __future__ import annotations

import numpy as np

from advrec.data.interactions import Interactions
from advrec.data.splits.arrays import (
    TAG_COLD_ITEMS,
    check_fraction,
    index_mask,
    part_names,
    pick_fraction,
    rng_for,
    round_half_up,
    user_ranks,
)
from advrec.data.splits.split import Split
from advrec.errors import ConfigError


def warm_holdout(inter: Interactions, warm: np.ndarray, frac: float, rng: np.random.Generator) -> np.ndarray:
    """Mask of the records among ``warm`` held out: a per-user random ``frac`` of each user's.

    The rule of ``random:`` with ``train_ratio = 1 - frac``: a user with ``n`` warm
    records keeps ``max(round_half_up((1 - frac) * n), min(1, n))`` of them.
    ``frac == 0`` holds out nothing (and draws nothing from ``rng``).
    """
    out = np.zeros(len(inter), dtype=bool)
    if frac <= 0.0:
        return out
    idx = np.flatnonzero(warm)
    rank, counts = user_ranks(inter.subset(idx), "random", rng)
    keep = np.maximum(round_half_up((1.0 - frac) * counts), np.minimum(1, counts))
    out[idx] = rank >= keep[inter.users[idx]]
    return out


def check_warm_test(value: float) -> float:
    """``warm_test`` as a float in [0, 1), else ConfigError."""
    try:
        w = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"warm_test must be a number in [0, 1), got {value!r}") from None
    if not 0.0 <= w < 1.0:
        raise ConfigError(f"warm_test must be in [0, 1), got {value!r}")
    return w


def cold_items(inter: Interactions, frac: float = 0.2, warm_test: float = 0.2, *, seed: int = 0) -> Split:
    """Hold out a fraction of the items with all their records, and some warm records.

    ``round_half_up(frac * n)`` of the ``n`` items that have records are drawn
    (at least one, and at least one item stays warm); every record of a drawn
    item is test. Of the records of the other (warm) items, each user holds out
    a random ``warm_test`` share to test, with the rounding of ``random:`` (a
    user with ``n`` warm records keeps ``max(round_half_up((1 - warm_test) n), 1)``),
    so the warm and hybrid settings of cold-start evaluation (GAR, Chen et al.
    SIGIR 2022) have test data; see :func:`advrec.eval.evaluate_cold_items`.
    ``Split.cold_items`` holds the drawn item indices (sorted). The draw of the
    cold items does not depend on ``warm_test``.

    Parameters
    ----------
    inter
        The records.
    frac
        Fraction of the active items to hold out, in (0, 1).
    warm_test
        Fraction of each user's warm-item records held out to test, in [0, 1)
        (0: only cold-item records are test).
    seed
        Seed of the draws.
    """
    f = check_fraction(frac, "frac")
    w = check_warm_test(warm_test)
    rng = rng_for(seed, TAG_COLD_ITEMS)
    cold = pick_fraction(inter.active_items(), f, rng, keep=1, label="items")
    is_cold = index_mask(inter.n_items, cold)[inter.items]
    warm_held = warm_holdout(inter, ~is_cold, w, rng)
    test = is_cold | warm_held
    names = part_names(inter.name)
    return Split(
        train=inter.subset(~test, name=names["train"]),
        test=inter.subset(test, name=names["test"]),
        cold_items=cold,
        name=f"cold-item:{f:g}:{w:g}",
        meta={"kind": "cold-item", "frac": f, "warm_test": w, "seed": int(seed), "n_cold_items": len(cold),
              "n_warm_test_records": int(warm_held.sum())},
    )
