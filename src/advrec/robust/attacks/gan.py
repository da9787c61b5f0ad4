"""GAN-based poisoning attack in the spirit of AUSH (Lin et al., CIKM 2020) and Leg-UP
(Lin et al., TKDE 2022): kind ``inject-gan``.

Each fake user starts from a real *template* profile drawn by the seed. A generator
(:class:`~advrec.robust.attacks.gan_parts.ProfileGenerator`) chooses exactly ``filler`` items
per fake user (straight-through top-k over Gumbel-perturbed logits) and, on explicit data, a
rating for each (straight-through rounding to the data's rating levels); the targets are always
added at the top value. Two losses train it:

* **attack** (Leg-UP's surrogate idea): a closed-form ridge item-item recommender
  (:class:`~advrec.robust.attacks.gan_parts.RidgeSurrogate`) is refit on real + fake profiles,
  differentiably in the fake rows, and a CW-style margin pushes each target above the ``K``-th
  score of every sampled real user who has not interacted with it;
* **adversarial** (with ``adversarial=True``): the non-saturating GAN loss against an MLP
  discriminator trained at the same time to tell real profiles from generated ones.

Encoding: the surrogate sees binary profiles (which items a user has, targets included), since
the victims rank items from interactions; the discriminator sees each profile's values divided
by the top value (0 for items not in the profile), i.e. ratings on explicit data and a set of
items on implicit data, with the target columns left out for real and fake users alike (the
generator cannot change them, so they would only hand the discriminator a feature the
generator gets no useful gradient from). The final profiles take each fake user's ``filler``
highest generator logits without noise.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Literal

import numpy as np
import torch
from pydantic import Field
from tqdm.auto import tqdm

from advrec.data.splits import Split
from advrec.errors import ConfigError
from advrec.gan.losses import bce_d_loss, nonsaturating_g_loss
from advrec.robust.attacks.base import AttackData, InjectionAttack, InjectParams, Profiles, with_targets
from advrec.robust.attacks.gan_parts import (
    ProfileDiscriminator,
    ProfileGenerator,
    RidgeSurrogate,
    round_to_levels,
    straight_through_topk,
)

#: at most this many distinct values count as a rating scale to round to
MAX_LEVELS = 20


class GANParams(InjectParams):
    """Parameters of :class:`InjectGAN` (besides those of every injection attack)."""

    epochs: int = Field(60, ge=1)
    """Generator (and discriminator) updates, each on all fake users at once."""
    lr: float = Field(0.01, gt=0)
    """Adam learning rate of the generator."""
    d_lr: float = Field(0.001, gt=0)
    """Adam learning rate of the discriminator."""
    hidden: int = Field(128, ge=1)
    """Hidden width of the generator and the discriminator."""
    temperature: float = Field(1.0, gt=0)
    """Scale of the Gumbel noise and softness of the straight-through top-k relaxation."""
    surrogate: Literal["ridge"] = "ridge"
    """Surrogate recommender of the attack loss (closed-form ridge item-item model)."""
    surrogate_l2: float = Field(500.0, gt=0)
    """Ridge penalty of the surrogate (EASE's default)."""
    surrogate_users: int = Field(2000, ge=1)
    """Real users (drawn by the seed) whose top-``top_k`` lists the attack loss looks at."""
    top_k: int = Field(20, ge=1)
    """List length ``K`` of the attack loss."""
    adv_weight: float = Field(0.01, ge=0)
    """Weight of the adversarial (fool the discriminator) term in the generator loss."""
    adversarial: bool = True
    """Train the discriminator and use the adversarial term (False: the ablation without)."""


class InjectGAN(InjectionAttack):
    """Fake profiles learnt by a template-based generator against a ridge surrogate, made to
    look real by a discriminator (see the module docstring). :attr:`report` keeps what the last
    :meth:`profiles` call did; :meth:`apply` adds it to the stage record under ``"gan"``."""

    kind = "inject-gan"
    params_class = GANParams
    params: GANParams

    def __init__(self, name: str, params: dict[str, Any]) -> None:
        super().__init__(name, params)
        self.report: dict[str, Any] = {}

    def apply(self, split: Split, seed: int) -> tuple[Split, dict[str, Any]]:
        out, record = super().apply(split, seed)
        return out, {**record, "gan": self.report}

    def profiles(self, data: AttackData, rng: np.random.Generator) -> Profiles:
        start = time.perf_counter()
        try:
            game = _Game(data, self.params, rng)
        except ConfigError as exc:
            raise ConfigError(f"data stage {self.name!r} ({self.kind}): {exc}") from None
        history = game.train(self.name)
        fill, values = game.final()
        self.report = {**game.summary(fill), "history": history, "craft_seconds": time.perf_counter() - start}
        return with_targets(data, fill, values)


class _Game:
    """The tensors, networks and optimisers of one attack."""

    def __init__(self, data: AttackData, p: GANParams, rng: np.random.Generator) -> None:
        self.data, self.p = data, p
        self.gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        train = data.train
        real_values = torch.from_numpy(train.csr.toarray()).float()
        self.real_bin = (real_values != 0).float()
        self.active = torch.from_numpy(train.active_users())
        self.real_enc = real_values / data.top  # the encoding of profiles (0: not in the profile)
        levels = np.unique(train.values)
        self.levels = torch.from_numpy(levels).float() if 1 < len(levels) <= MAX_LEVELS else None
        templates = rng.choice(train.active_users(), data.n_fake, replace=data.n_fake > len(self.active))
        self.template = self.real_enc[templates]
        span = max(data.top - data.low, 1e-12)
        prior = float((train.values.mean() - data.low) / span) if not data.implicit else 1.0
        rated = real_values[templates]
        self.base = torch.where(rated != 0, (rated - data.low) / span, torch.full_like(rated, prior))
        n_items = train.n_items
        allowed = torch.zeros(n_items, dtype=torch.bool)
        allowed[torch.from_numpy(data.filler_pool())] = True
        self.target_row = torch.zeros(n_items)
        self.target_row[torch.from_numpy(data.targets)] = 1.0
        self.real_shown = self.real_enc * (1.0 - self.target_row)  # what the discriminator sees
        users = rng.permutation(train.active_users())[: p.surrogate_users]
        self.surrogate = RidgeSurrogate(self.real_bin, torch.from_numpy(np.sort(users)),
                                        torch.from_numpy(data.targets), p.surrogate_l2, p.top_k)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**62)))
            self.g = ProfileGenerator(n_items, p.hidden, allowed)
            self.d = ProfileDiscriminator(n_items, p.hidden)
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=p.lr)
        self.opt_d = torch.optim.Adam(self.d.parameters(), lr=p.d_lr)
        with torch.no_grad():  # the untrained generator's profiles, for the record
            self.initial = self.surrogate.loss(self.generate(noise=False)[0])

    def generate(self, noise: bool) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(binary profiles for the surrogate, encoded fillers for the discriminator, values)."""
        logits, ratings = self.g(self.template, self.base)
        if noise:
            u = torch.rand(logits.shape, generator=self.gen).clamp(1e-10, 1.0 - 1e-7)
            logits = logits - self.p.temperature * torch.log(-torch.log(u))
        sel = straight_through_topk(logits, self.p.filler, self.p.temperature)
        data = self.data
        if data.implicit:
            values = torch.full_like(ratings, data.top)
        else:
            values = data.low + (data.top - data.low) * ratings
            if self.levels is not None:
                values = round_to_levels(values, self.levels)
        return sel + self.target_row, sel * values / data.top, values

    def real_batch(self) -> torch.Tensor:
        """As many real users (drawn with replacement) as there are fake ones, encoded, without
        the target columns."""
        rows = self.active[torch.randint(len(self.active), (self.data.n_fake,), generator=self.gen)]
        return self.real_shown[rows]

    def train(self, name: str) -> dict[str, list[float]]:
        """Run the epochs; per-epoch attack loss, surrogate hit rate and discriminator stats."""
        hist: dict[str, list[float]] = {"attack_loss": [], "surrogate_hit": [], "d_loss": [], "d_accuracy": []}
        bar = tqdm(range(self.p.epochs), desc=f"{name}: inject-gan", unit="epoch", file=sys.stderr,
                   disable=None, leave=False)
        for _ in bar:
            binary, encoded, _ = self.generate(noise=True)
            if self.p.adversarial:
                real = self.real_batch()
                r_logit, f_logit = self.d(real), self.d(encoded.detach())
                d_loss = bce_d_loss(r_logit, f_logit)
                self.opt_d.zero_grad()
                d_loss.backward()
                self.opt_d.step()
                hist["d_loss"].append(float(d_loss.detach()))
                hist["d_accuracy"].append(_accuracy(r_logit, f_logit))
            attack, hit = self.surrogate.loss(binary)
            loss = attack
            if self.p.adversarial and self.p.adv_weight > 0:
                loss = loss + self.p.adv_weight * nonsaturating_g_loss(self.d(encoded))
            self.opt_g.zero_grad()
            loss.backward()
            self.opt_g.step()
            hist["attack_loss"].append(float(attack.detach()))
            hist["surrogate_hit"].append(hit)
            bar.set_postfix(attack=f"{float(attack.detach()):.3f}", hit=f"{hit:.3f}")
        return hist

    @torch.no_grad()
    def final(self) -> tuple[np.ndarray, np.ndarray]:
        """The fillers (``n_fake x filler`` item indices) and their values, without noise."""
        logits, _ = self.g(self.template, self.base)
        _, _, values = self.generate(noise=False)
        fill = torch.topk(logits, self.p.filler, dim=1).indices
        return fill.numpy(), torch.gather(values, 1, fill).numpy()

    @torch.no_grad()
    def summary(self, fill: np.ndarray) -> dict[str, Any]:
        """Final attack loss and surrogate hit rate of the output profiles, and the
        discriminator's accuracy on them against as many real profiles (None without one)."""
        binary, encoded, _ = self.generate(noise=False)
        attack, hit = self.surrogate.loss(binary)
        acc = _accuracy(self.d(self.real_batch()), self.d(encoded)) if self.p.adversarial else None
        from_template = float((self.template.gather(1, torch.from_numpy(fill)) > 0).float().mean()) \
            if fill.size else None
        return {"initial_attack_loss": float(self.initial[0]), "initial_surrogate_hit": self.initial[1],
                "final_attack_loss": float(attack), "final_surrogate_hit": hit, "d_accuracy": acc,
                "filler_from_template": from_template}


def _accuracy(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> float:
    """Fraction of real rows with a positive logit and fake rows with a negative one."""
    right = (real_logits > 0).sum() + (fake_logits <= 0).sum()
    return float(right) / (len(real_logits) + len(fake_logits))
