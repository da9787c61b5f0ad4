"""Differentially private training (DP-SGD, Abadi et al. 2016) through Opacus.

A model with the fields of :class:`DPFields` trains privately when ``dp_epsilon`` is set: its
per-example losses come from an ``nn.Module`` run through Opacus' ghost clipping (per-example
gradient norms without materialising per-example gradients, so embedding tables stay cheap),
every example's gradient is clipped to ``dp_max_grad_norm``, Gaussian noise calibrated to
``(dp_epsilon, dp_delta)`` over the whole fit is added to the sum, and batches are drawn by
Poisson sampling (each example independently with probability ``1 / ceil(N / batch_size)``, Opacus'
rate for the loader, about ``batch_size / N``), which the privacy amplification of the accountant
assumes. Early stopping on validation data is off for private fits: choosing the epoch on
held-out records would spend privacy the accountant does not count.

What one *example* is decides what the guarantee protects: an interaction for pairwise models
(BPR-MF: neighbouring data sets differ in one (user, item) record), a user for row models
(Mult-VAE: they differ in one user's whole row, a much stronger guarantee). The record of a fit
(:meth:`DPSGD.record`) says which.

Opacus is an optional dependency: ``pip install advrec[privacy]``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any, Literal

import torch
from pydantic import BaseModel, Field
from torch import nn

from advrec.errors import ConfigError


class DPFields(BaseModel):
    """Hyper-parameters of DP-SGD, shared by the models that offer it."""

    dp_epsilon: float | None = Field(None, gt=0)
    """Privacy budget epsilon of the whole fit; None trains without differential privacy."""
    dp_delta: float | None = Field(None, gt=0, lt=1)
    """delta of the guarantee; None: 1 / (10 N) for N examples (interactions or users)."""
    dp_max_grad_norm: float = Field(1.0, gt=0)
    """L2 bound of each example's gradient (the clipping norm C)."""
    dp_accountant: Literal["prv", "rdp"] = "prv"
    """Privacy accountant: PRV (Gopi et al. 2021, tighter) or RDP (Mironov 2017)."""


class PerExampleLoss(nn.Module):
    """A loss whose ``forward(fn, *args)`` is ``fn(*args)``: per-example losses, reduced as Opacus asks."""

    def __init__(self) -> None:
        super().__init__()
        self.reduction = "mean"

    def forward(self, fn: Callable[..., torch.Tensor], *args: Any) -> torch.Tensor:
        per = fn(*args)
        if self.reduction == "none":
            return per
        return per.sum() if self.reduction == "sum" else per.mean()


def require_opacus() -> Any:
    """The ``opacus`` module, or a clear error naming the extra that installs it."""
    try:
        import opacus
    except ImportError:
        from advrec.data.features import MissingDependencyError

        raise MissingDependencyError("differentially private training needs Opacus: pip install advrec[privacy]"
                                     ) from None
    return opacus


class DPSGD:
    """DP-SGD over ``n_examples`` examples for one fit.

    Parameters
    ----------
    module
        The network whose parameters train (its parameters are the model's).
    optimizer
        An optimiser over ``module``'s parameters (Opacus wraps it: clipping and noise).
    n_examples
        Number of examples (privacy units).
    batch_size
        Batch size; the Poisson sampling rate is ``1 / ceil(n_examples / batch_size)`` (the rate
        Opacus derives from the loader and accounts for; about ``batch_size / n_examples``).
    epochs
        Epochs of the fit, for calibrating the noise to the budget.
    config
        The model's config (``dp_*`` fields, ``seed``).
    unit
        What one example is (``"interaction"``, ``"user"``), recorded with the guarantee.
    shared_steps
        Steps of other mechanisms over the same examples at the same sampling rate that spend the
        same budget (the adversary heads of an obfuscated private fit): the noise is calibrated to
        ``epochs`` of this engine plus these steps.
    noise_multiplier
        Use this noise multiplier instead of calibrating one (a partner engine of a shared budget).
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, n_examples: int, batch_size: int,
                 epochs: int, config: Any, unit: str, *, shared_steps: int = 0,
                 noise_multiplier: float | None = None) -> None:
        require_opacus()
        from opacus import PrivacyEngine
        from torch.utils.data import DataLoader, TensorDataset

        if config.dp_epsilon is None:
            raise ConfigError("DPSGD needs dp_epsilon")
        if n_examples < 2:
            raise ConfigError(f"DP-SGD needs at least 2 examples, got {n_examples}")
        self.unit = unit
        self.n_examples = n_examples
        self.delta = float(config.dp_delta if config.dp_delta is not None else 1.0 / (10 * n_examples))
        self.target = float(config.dp_epsilon)
        self.epochs = epochs
        batch = min(batch_size, n_examples)
        seed = int(config.seed)
        loader = DataLoader(TensorDataset(torch.arange(n_examples)), batch_size=batch,
                            generator=torch.Generator().manual_seed(seed))
        with warnings.catch_warnings():  # the seeded (not cryptographic) noise is documented in docs/privacy.md
            warnings.filterwarnings("ignore", message=".*[Ss]ecure.*")
            warnings.filterwarnings("ignore", message=".*[Oo]ptimal.*")
            self.engine = PrivacyEngine(accountant=config.dp_accountant)
            if noise_multiplier is None:
                from opacus.accountants.utils import get_noise_multiplier

                rate = 1.0 / len(loader)  # what Opacus' Poisson loader samples at
                noise_multiplier = get_noise_multiplier(
                    target_epsilon=self.target, target_delta=self.delta, sample_rate=rate,
                    steps=int(epochs / rate) + shared_steps, accountant=config.dp_accountant)
            self.module, self.optimizer, self.criterion, self.loader = self.engine.make_private(
                module=module, optimizer=optimizer, criterion=PerExampleLoss(), data_loader=loader,
                noise_multiplier=noise_multiplier, max_grad_norm=config.dp_max_grad_norm,
                grad_sample_mode="ghost", poisson_sampling=True,
                noise_generator=torch.Generator().manual_seed(seed + 1))
        self.partners: list[DPSGD] = []
        """Engines spending the same budget; :meth:`spent` composes their steps with these."""
        self._batches: Any = iter(())
        self.max_grad_norm = float(config.dp_max_grad_norm)
        self.accountant_name = config.dp_accountant
        self.sample_rate = float(self.loader.sample_rate)  # what the accountant uses, not batch / N
        self.steps = 0

    def epoch(self, losses: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> float:
        """One pass of Poisson-sampled batches; ``losses(module, example_ids)`` gives the per-example
        losses of a batch through the wrapped module. Returns the mean loss."""
        total, seen = 0.0, 0
        for (ids,) in self.loader:
            total += self._step(losses, ids) * len(ids)
            seen += len(ids)
        return total / max(seen, 1)

    def step(self, losses: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> float:
        """One step on the next Poisson-sampled batch (a new pass of the loader when one ends);
        the batch's mean loss."""
        ids = next(self._batches, None)
        if ids is None:
            self._batches = (b for (b,) in iter(self.loader))
            ids = next(self._batches)
        return self._step(losses, ids)

    def _step(self, losses: Callable[[nn.Module, torch.Tensor], torch.Tensor], ids: torch.Tensor) -> float:
        self.optimizer.zero_grad()
        if len(ids) == 0:  # an empty Poisson batch (only in tiny data): nothing to release
            return 0.0
        loss = self.criterion(losses, self.module, ids)
        with warnings.catch_warnings():  # Opacus' double backward with inputs that need no grad
            warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
            loss.backward()
        self.optimizer.step()
        self.steps += 1
        return float(loss.item())

    def spent(self) -> float:
        """Epsilon spent so far at :attr:`delta`: the accountant's composition of this engine's steps
        and its partners'."""
        history = [h for e in (self, *self.partners) for h in e.engine.accountant.history]
        if not history:
            return 0.0
        from opacus.accountants import create_accountant

        accountant = create_accountant(self.accountant_name)
        accountant.history = history
        return float(accountant.get_epsilon(self.delta))

    def record(self) -> dict[str, Any]:
        """The guarantee of the fit so far, for the run's record."""
        return {
            "epsilon": self.spent(), "delta": self.delta, "target_epsilon": self.target,
            "unit": self.unit, "guarantee": f"per {self.unit}",
            "noise_multiplier": float(self.optimizer.noise_multiplier), "max_grad_norm": self.max_grad_norm,
            "sample_rate": self.sample_rate, "steps": self.steps + sum(e.steps for e in self.partners),
            "examples": self.n_examples,
            "accountant": self.accountant_name, "sampling": "poisson",
        }
