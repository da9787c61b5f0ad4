"""Base config and base class of adversarial recommenders (generator vs discriminator).

:class:`GANRecommender` is a :class:`~advrec.models.torch_base.TorchRecommender`
whose ``train_epoch`` is one :func:`~advrec.gan.trainer.minmax_epoch` followed by
the model's per-epoch diagnostics, so :func:`~advrec.train.loop.train_loop` gives
every GAN model seeding, early stopping, checkpoints and progress for free.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar, Literal

import torch
from pydantic import Field
from torch import nn

from advrec.gan.losses import GANLoss, LossName
from advrec.gan.trainer import DOut, GOut, MinMaxSettings, minmax_epoch
from advrec.models.config import Renamed
from advrec.models.torch_base import TorchConfig, TorchRecommender, make_optimizer


class GANConfig(TorchConfig):
    """Training settings shared by adversarial models.

    ``lr`` and ``batch_size`` (inherited) are the generator's; the discriminator
    has its own ``lr_d`` and ``batch_size_d``. ``l2`` / ``l2_d`` are L2
    coefficients applied as the optimiser's (coupled) weight decay, i.e. the
    gradient of ``l2 * ||theta||^2 / 2`` (TensorFlow's ``reg * l2_loss``).
    """

    lr_d: float = Field(1e-4, gt=0)
    """Learning rate of the discriminator."""
    batch_size_d: int = Field(64, ge=1)
    """Rows per discriminator mini-batch."""
    renamed: ClassVar[Renamed] = {"reg_g": "l2", "reg_d": "l2_d"}

    l2: float = Field(0.0, ge=0)
    """L2 coefficient of the generator's weights."""
    l2_d: float = Field(0.0, ge=0)
    """L2 coefficient of the discriminator's weights."""
    d_steps: int = Field(1, ge=0)
    """Discriminator updates (or passes, schedule "pass") per round."""
    g_steps: int = Field(1, ge=1)
    """Generator updates (or passes, schedule "pass") per round."""
    schedule: Literal["pass", "interleaved"] = "pass"
    """How D and G updates alternate (see :mod:`advrec.gan.trainer`)."""
    clip_norm_g: float | None = Field(None, gt=0)
    """Max-norm clipping of the generator's gradient; None: no clipping."""
    clip_norm_d: float | None = Field(None, gt=0)
    """Max-norm clipping of the discriminator's gradient; None: no clipping."""
    gan_loss: LossName = "nonsaturating"
    """Adversarial objective: "nonsaturating", "minimax" or "wgan-gp"."""
    gp_weight: float = Field(10.0, ge=0)
    """Gradient-penalty weight (wgan-gp only)."""
    precision: Literal["fp32", "bf16"] = "fp32"
    """``"bf16"``: compute the training losses under bfloat16 autocast (matrix products in
    bfloat16; weights, gradients, optimiser states and scoring stay float32). Faster on CPUs
    with AVX512-BF16/AMX; see docs/benchmarks/cfgan_cost.md."""
    diagnostics_every: int = Field(1, ge=0)
    """Compute mode-collapse diagnostics every this many epochs (0: never)."""
    diag_k: int = Field(20, ge=1)
    """Top-k length of the coverage diagnostics."""
    diag_rows: int = Field(1000, ge=2)
    """Users (a fixed seeded sample) on which the diagnostics are computed."""


class GANRecommender(TorchRecommender):
    """A recommender trained by the generic min-max loop.

    Subclasses build ``self.g_net`` (and ``self.d_net``, or None to train the
    generator alone) in ``_build`` and implement the
    :class:`~advrec.gan.trainer.MinMaxProblem` methods ``d_batches``,
    ``g_batches``, ``d_loss`` and ``g_loss``, plus the scoring methods.
    """

    config: GANConfig
    config_class = GANConfig
    g_net: nn.Module
    d_net: nn.Module | None = None

    # ------------------------------------------------------------ the game
    @abstractmethod
    def d_batches(self, generator: torch.Generator) -> Any:
        """One pass of discriminator mini-batches."""

    @abstractmethod
    def g_batches(self, generator: torch.Generator) -> Any:
        """One pass of generator mini-batches."""

    @abstractmethod
    def d_loss(self, batch: Any, generator: torch.Generator) -> DOut:
        """Discriminator loss on a mini-batch."""

    @abstractmethod
    def g_loss(self, batch: Any, generator: torch.Generator) -> GOut:
        """Generator loss on a mini-batch."""

    def g_parameters(self) -> list[nn.Parameter]:
        """The generator's parameters."""
        return list(self.g_net.parameters())

    def d_parameters(self) -> list[nn.Parameter]:
        """The discriminator's parameters (empty without one)."""
        return [] if self.d_net is None else list(self.d_net.parameters())

    def gan_objective(self) -> GANLoss:
        """The configured :class:`GANLoss`."""
        return GANLoss(self.config.gan_loss, self.config.gp_weight)

    def minmax_settings(self) -> MinMaxSettings:
        """The configured :class:`MinMaxSettings`."""
        c = self.config
        return MinMaxSettings(
            d_steps=c.d_steps if self.d_net is not None else 0,
            g_steps=c.g_steps,
            schedule=c.schedule,
            clip_norm_d=c.clip_norm_d,
            clip_norm_g=c.clip_norm_g,
            loss=self.gan_objective(),
            precision=c.precision,
            device_type=self.device.type,
        )

    # ------------------------------------------------------- loop plumbing
    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        """One :func:`minmax_epoch`, then :meth:`diagnostics` when due."""
        self.g_net.train()
        if self.d_net is not None:
            self.d_net.train()
        self.start_epoch(epoch, generator)
        logs = minmax_epoch(self, self._optimizers, self.minmax_settings(), generator)
        self.weights_changed()
        every = self.config.diagnostics_every
        if every and (epoch % every == 0 or epoch == self.config.epochs):
            self.g_net.eval()
            with torch.no_grad():
                logs.update(self.diagnostics(epoch))
        return logs

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Hook before the epoch's updates (e.g. draw the epoch's negative samples)."""

    def diagnostics(self, epoch: int) -> dict[str, float]:
        """Per-epoch mode-collapse diagnostics to log; the default has none."""
        return {}

    def train_tensors(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = {f"g.{k}": v for k, v in self.g_net.named_parameters()}
        if self.d_net is not None:
            out.update({f"d.{k}": v for k, v in self.d_net.named_parameters()})
        return out

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        opts = {"g": make_optimizer(self.g_net.parameters(), c.optimizer, c.lr, c.l2)}
        if self.d_net is not None:
            opts["d"] = make_optimizer(self.d_net.parameters(), c.optimizer, c.lr_d, c.l2_d)
        return opts
