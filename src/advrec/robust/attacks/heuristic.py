"""The classic heuristic shilling attacks (Lam & Riedl, WWW 2004; Mobasher et al., TOIT 2007)."""

from __future__ import annotations

import numpy as np

from advrec.robust.attacks.base import AttackData, InjectionAttack, Profiles, random_fillers, with_targets


class InjectRandom(InjectionAttack):
    """Random attack: fake users that rate the targets high and random fillers around the
    data's mean (implicit data: every value the one value)."""

    kind = "inject-random"

    def profiles(self, data: AttackData, rng: np.random.Generator) -> Profiles:
        pool = data.filler_pool()
        fill = random_fillers(pool, data.n_fake, self.params.filler, rng)
        if data.implicit:
            values = np.full(fill.shape, data.top, np.float32)
        else:
            v = data.train.values
            drawn = rng.normal(float(v.mean()), float(v.std()), fill.shape)
            values = np.clip(np.rint(drawn), data.low, data.top)
        return with_targets(data, fill, values)

