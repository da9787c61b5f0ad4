"""The classic heuristic shilling attacks (Lam & Riedl, WWW 2004; O'Mahony, Hurley & Silvestre,
AAAI 2005; Mobasher, Burke, Bhaumik & Williams, ACM TOIT 2007).

Every attack gives each target the data's highest value (explicit data) and differs in its
``filler`` other items. ``filler`` counts *every* non-target item of a profile, so all attacks at
the same ``filler`` inject the same number of records (Mobasher et al. count the bandwagon
attack's selected items apart from its fillers; here they are part of the ``filler`` budget).

=====================  ===============================================  ==========================================
kind                   non-target items                                 explicit values
=====================  ===============================================  ==========================================
``inject-random``      uniform over the items with training data        around the global mean (normal, rounded)
``inject-average``     uniform (implicit data: proportional to item     around each item's own mean and std
                       popularity, so the set looks like a real user's)
``inject-bandwagon``   the ``selected`` most popular items, the rest    selected: top value; rest: as random
                       uniform
``inject-popular``     only popular items: drawn from the ``pool``      ``low + 1`` where the item's mean is at
                       most popular (default: exactly the ``filler``    least the global mean, else ``low``
                       most popular, so every profile has the same      (O'Mahony et al.: correlates with real
                       items)                                           users, pushes the target the most)
=====================  ===============================================  ==========================================

On implicit data (every value equal) a profile is a set of items, every value that one value.
Popularity is the number of training records of an item (ties: the lower item index first).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field, model_validator

from advrec.errors import ConfigError
from advrec.robust.attacks.base import (
    AttackData,
    InjectionAttack,
    InjectParams,
    Profiles,
    random_fillers,
    with_targets,
)


def _around(rng: np.random.Generator, mean: float | np.ndarray, std: float | np.ndarray,
            shape: tuple[int, ...], data: AttackData) -> np.ndarray:
    """Values drawn from a normal around ``mean``, rounded and clipped to the data's scale."""
    return np.clip(np.rint(rng.normal(mean, std, shape)), data.low, data.top)


def _most_popular(data: AttackData, pool: np.ndarray, k: int) -> np.ndarray:
    """The ``k`` items of ``pool`` with the most training records (ties: lower index first)."""
    counts = data.train.item_counts()[pool]
    return pool[np.argsort(-counts, kind="stable")[:k]]


def _item_means(data: AttackData) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each item's training values (0 for items without any)."""
    t = data.train
    n = np.maximum(t.item_counts(), 1).astype(np.float64)
    v = t.values.astype(np.float64)
    mean = np.bincount(t.items, weights=v, minlength=t.n_items) / n
    sq = np.bincount(t.items, weights=v * v, minlength=t.n_items) / n
    return mean, np.sqrt(np.maximum(sq - mean * mean, 0.0))


class InjectRandom(InjectionAttack):
    """Random attack (Lam & Riedl 2004): the targets at the top value and ``filler`` items drawn
    uniformly, rated around the data's mean (implicit data: every value the one value)."""

    kind = "inject-random"

    def profiles(self, data: AttackData, rng: np.random.Generator) -> Profiles:
        pool = data.filler_pool()
        fill = random_fillers(pool, data.n_fake, self.params.filler, rng)
        if data.implicit:
            values = np.full(fill.shape, data.top, np.float32)
        else:
            v = data.train.values
            values = _around(rng, float(v.mean()), float(v.std()), fill.shape, data)
        return with_targets(data, fill, values)


class InjectAverage(InjectionAttack):
    """Average attack (Lam & Riedl 2004): ``filler`` items drawn uniformly, each rated around
    that item's own mean (normal with the item's mean and std, rounded and clipped).

    Implicit data have no rating to copy; the fillers are then drawn without replacement with
    probability proportional to item popularity, so a profile holds the items an average user
    would (a uniform draw would be the random attack)."""

    kind = "inject-average"

    def profiles(self, data: AttackData, rng: np.random.Generator) -> Profiles:
        pool = data.filler_pool()
        if data.implicit:
            weights = data.train.item_counts()[pool].astype(np.float64)
            fill = random_fillers(pool, data.n_fake, self.params.filler, rng, weights=weights)
            return with_targets(data, fill, np.full(fill.shape, data.top, np.float32))
        fill = random_fillers(pool, data.n_fake, self.params.filler, rng)
        mean, std = _item_means(data)
        return with_targets(data, fill, _around(rng, mean[fill], std[fill], fill.shape, data))


class BandwagonParams(InjectParams):
    """Parameters of :class:`InjectBandwagon`."""

    selected: int | None = Field(None, ge=0)
    """Most popular items in every profile, part of ``filler`` (default: a tenth of ``filler``,
    rounded, at least 1 when ``filler`` > 0)."""

    @model_validator(mode="after")
    def _check_selected(self) -> BandwagonParams:
        if self.selected is not None and self.selected > self.filler:
            raise ValueError(f"selected={self.selected} exceeds filler={self.filler} (the selected items "
                             "are part of the filler budget)")
        return self

    @property
    def n_selected(self) -> int:
        """The number of selected (popular) items per profile."""
        if self.selected is not None:
            return self.selected
        return max(1, round(self.filler / 10)) if self.filler else 0


class InjectBandwagon(InjectionAttack):
    """Bandwagon attack (Mobasher et al. 2007): every profile holds the ``selected`` most popular
    items at the top value; the rest of its ``filler`` items are drawn uniformly and rated as in
    the random attack."""

    kind = "inject-bandwagon"
    params_class = BandwagonParams
    params: BandwagonParams

    def profiles(self, data: AttackData, rng: np.random.Generator) -> Profiles:
        pool = data.filler_pool()
        n_sel = self.params.n_selected
        chosen = _most_popular(data, pool, n_sel)
        rest = random_fillers(np.setdiff1d(pool, chosen), data.n_fake, self.params.filler - n_sel, rng)
        fill = np.concatenate([np.broadcast_to(chosen, (data.n_fake, n_sel)), rest], axis=1)
        if data.implicit:
            return with_targets(data, fill, np.full(fill.shape, data.top, np.float32))
        v = data.train.values
        values = np.concatenate([np.full((data.n_fake, n_sel), data.top),
                                 _around(rng, float(v.mean()), float(v.std()), rest.shape, data)], axis=1)
        return with_targets(data, fill, values)


class PopularParams(InjectParams):
    """Parameters of :class:`InjectPopular`."""

    pool: int | None = Field(None, ge=1)
    """Draw each profile's ``filler`` items uniformly from this many most popular non-target items
    (default: ``filler``, i.e. every profile holds exactly the ``filler`` most popular items)."""

    @model_validator(mode="after")
    def _check_pool(self) -> PopularParams:
        if self.pool is not None and self.pool < self.filler:
            raise ValueError(f"pool={self.pool} is smaller than filler={self.filler}")
        return self


class InjectPopular(InjectionAttack):
    """Popular attack (O'Mahony, Hurley & Silvestre 2005): every non-target item is a popular one.

    Unlike the bandwagon attack (a few popular items, random rest) the whole profile is made of
    popular items, which maximises its overlap with real users. On explicit data those items get
    ``low + 1`` (capped at the top value) where the item's mean is at least the global mean and
    ``low`` otherwise, so the profile correlates positively with real users while the target,
    at the top value, deviates as much as possible from the profile's mean."""

    kind = "inject-popular"
    params_class = PopularParams
    params: PopularParams

    def profiles(self, data: AttackData, rng: np.random.Generator) -> Profiles:
        p, pool = self.params, data.filler_pool()
        size = p.filler if p.pool is None else p.pool
        if size > len(pool):
            raise ConfigError(f"data stage {self.name!r}: pool={size} but only {len(pool)} non-target items "
                              "have training data")
        fill = random_fillers(_most_popular(data, pool, size), data.n_fake, p.filler, rng)
        if data.implicit:
            return with_targets(data, fill, np.full(fill.shape, data.top, np.float32))
        mean, _ = _item_means(data)
        liked = mean[fill] >= float(data.train.values.mean())
        return with_targets(data, fill, np.where(liked, min(data.low + 1.0, data.top), data.low))
