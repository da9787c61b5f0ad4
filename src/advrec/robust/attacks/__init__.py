"""Poisoning (shilling) attacks as data stages; see :mod:`advrec.robust.attacks.base`."""

from advrec.robust.attacks.base import AttackData, InjectionAttack, InjectParams, Profiles
from advrec.robust.attacks.gan import InjectGAN
from advrec.robust.attacks.heuristic import InjectAverage, InjectBandwagon, InjectPopular, InjectRandom

#: attack data stages by kind
ATTACKS: dict[str, type[InjectionAttack]] = {
    c.kind: c for c in (InjectRandom, InjectAverage, InjectBandwagon, InjectPopular, InjectGAN)
}

__all__ = ["ATTACKS", "AttackData", "InjectAverage", "InjectBandwagon", "InjectGAN", "InjectParams", "InjectPopular",
           "InjectRandom", "InjectionAttack", "Profiles"]
