"""GAN objectives on discriminator logits, written with ``softplus`` for stability.

With ``D(x) = sigmoid(l(x))`` for a logit ``l``:

* ``-log D(x) = softplus(-l)`` and ``-log(1 - D(x)) = softplus(l)``;
* non-saturating (Goodfellow et al., 2014, the practical variant):
  ``L_D = -log D(x) - log(1 - D(G(z)))`` and ``L_G = -log D(G(z))``;
* minimax (the original two-player value): same ``L_D``, ``L_G = log(1 - D(G(z)))``
  ``= -softplus(l_fake)`` (saturates when D wins early: weak generator gradients);
* WGAN-GP (Gulrajani et al., 2017): the "logits" are unbounded critic scores,
  ``L_D = E[f(G(z))] - E[f(x)] + lambda * E[(||grad f(x_hat)||_2 - 1)^2]`` with
  ``x_hat`` uniform on segments between real and fake samples, ``L_G = -E[f(G(z))]``.

Every loss is a mean over the batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, get_args

import torch
import torch.nn.functional as F

from advrec.errors import ConfigError

LossName = Literal["nonsaturating", "minimax", "wgan-gp"]
LOSS_NAMES: tuple[str, ...] = get_args(LossName)


def bce_d_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(-log D(x)) + mean(-log(1 - D(G(z))))`` from logits."""
    return F.softplus(-real_logits).mean() + F.softplus(fake_logits).mean()


def nonsaturating_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(-log D(G(z)))`` from logits."""
    return F.softplus(-fake_logits).mean()


def minimax_g_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """``mean(log(1 - D(G(z))))`` from logits (the generator minimises it)."""
    return -F.softplus(fake_logits).mean()


def wgan_d_loss(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """Critic loss without the penalty: ``mean(f(G(z))) - mean(f(x))``."""
    return fake_scores.mean() - real_scores.mean()


def wgan_g_loss(fake_scores: torch.Tensor) -> torch.Tensor:
    """Generator loss of WGAN: ``-mean(f(G(z)))``."""
    return -fake_scores.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """``mean((||grad_x critic(x_hat)||_2 - 1)^2)`` at random interpolates ``x_hat``.

    Parameters
    ----------
    critic
        Maps a batch shaped like ``real`` to one score per row.
    real, fake
        Batches of the same shape; ``fake`` is detached here.
    generator
        Source of the interpolation weights (one per row, uniform on [0, 1]).

    Returns
    -------
    torch.Tensor
        A scalar that keeps the graph (so the critic's weights get its gradient).
    """
    if real.shape != fake.shape:
        raise ValueError(f"real {tuple(real.shape)} and fake {tuple(fake.shape)} batches differ in shape")
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, generator=generator, dtype=real.dtype).to(real.device)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    with torch.enable_grad():
        scores = critic(x_hat)
        (grad,) = torch.autograd.grad(scores.sum(), x_hat, create_graph=True)
    norms = grad.flatten(1).norm(dim=1)
    return (norms - 1.0).square().mean()


@dataclass(frozen=True)
class GANLoss:
    """A GAN objective chosen by name: ``"nonsaturating"``, ``"minimax"`` or ``"wgan-gp"``.

    Parameters
    ----------
    name
        Which objective.
    gp_weight
        Weight ``lambda`` of the gradient penalty (WGAN-GP only).
    """

    name: LossName = "nonsaturating"
    gp_weight: float = 10.0

    def __post_init__(self) -> None:
        if self.name not in LOSS_NAMES:
            raise ConfigError(f"gan loss {self.name!r} is unknown; choose one of {', '.join(LOSS_NAMES)}")
        if self.gp_weight < 0:
            raise ConfigError(f"gp_weight must be >= 0, got {self.gp_weight}")

    @property
    def uses_penalty(self) -> bool:
        """Whether :meth:`penalty` is non-zero (WGAN-GP)."""
        return self.name == "wgan-gp" and self.gp_weight > 0

    def d_loss(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
        """Discriminator (critic) loss, without the gradient penalty (computed in float32)."""
        real_logits, fake_logits = real_logits.float(), fake_logits.float()
        if self.name == "wgan-gp":
            return wgan_d_loss(real_logits, fake_logits)
        return bce_d_loss(real_logits, fake_logits)

    def g_loss(self, fake_logits: torch.Tensor) -> torch.Tensor:
        """Generator loss (computed in float32)."""
        fake_logits = fake_logits.float()
        if self.name == "nonsaturating":
            return nonsaturating_g_loss(fake_logits)
        if self.name == "minimax":
            return minimax_g_loss(fake_logits)
        return wgan_g_loss(fake_logits)

    def penalty(
        self,
        critic: Callable[[torch.Tensor], torch.Tensor],
        real: torch.Tensor,
        fake: torch.Tensor,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``gp_weight * gradient_penalty(...)`` for WGAN-GP, else a zero scalar."""
        if not self.uses_penalty:
            return real.new_zeros(())
        return self.gp_weight * gradient_penalty(critic, real, fake, generator)

    def accuracy(self, real_logits: torch.Tensor, fake_logits: torch.Tensor) -> tuple[float, float]:
        """Fractions of real and of fake rows the discriminator classifies correctly.

        Logit losses threshold at 0 (``D = 0.5``); a WGAN critic has no calibrated
        threshold, so it uses the midpoint of the mean real and mean fake scores.
        """
        with torch.no_grad():
            thr = 0.0
            if self.name == "wgan-gp":
                thr = float(0.5 * (real_logits.mean() + fake_logits.mean()))
            real_ok = (real_logits > thr).float().mean() if real_logits.numel() else real_logits.new_zeros(())
            fake_ok = (fake_logits < thr).float().mean() if fake_logits.numel() else fake_logits.new_zeros(())
        return float(real_ok), float(fake_ok)
