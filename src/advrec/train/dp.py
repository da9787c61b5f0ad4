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
    """

    def __init__(self, module: nn.Module, optimizer: torch.optim.Optimizer, n_examples: int, batch_size: int,
                 epochs: int, config: Any, unit: str) -> None:
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
            self.engine = PrivacyEngine(accountant=config.dp_accountant)
            warnings.filterwarnings("ignore", message=".*[Oo]ptimal.*")
            self.module, self.optimizer, self.criterion, self.loader = self.engine.make_private_with_epsilon(
                module=module, optimizer=optimizer, criterion=PerExampleLoss(), data_loader=loader,
                target_epsilon=self.target, target_delta=self.delta, epochs=epochs,
                max_grad_norm=config.dp_max_grad_norm, grad_sample_mode="ghost", poisson_sampling=True,
                noise_generator=torch.Generator().manual_seed(seed + 1))
        self.max_grad_norm = float(config.dp_max_grad_norm)
        self.accountant_name = config.dp_accountant
        self.sample_rate = float(self.loader.sample_rate)  # what the accountant uses, not batch / N
        self.steps = 0

    def epoch(self, losses: Callable[[nn.Module, torch.Tensor], torch.Tensor]) -> float:
        """One pass of Poisson-sampled batches; ``losses(module, example_ids)`` gives the per-example
        losses of a batch through the wrapped module. Returns the mean loss."""
        total, seen = 0.0, 0
        for (ids,) in self.loader:
            self.optimizer.zero_grad()
            if len(ids) == 0:  # an empty Poisson batch (only in tiny data): nothing to release
                continue
            loss = self.criterion(losses, self.module, ids)
            with warnings.catch_warnings():  # Opacus' double backward with inputs that need no grad
                warnings.filterwarnings("ignore", message=".*[Ff]ull backward hook.*")
                loss.backward()
            self.optimizer.step()
            self.steps += 1
            total += float(loss.item()) * len(ids)
            seen += len(ids)
        return total / max(seen, 1)

    def spent(self) -> float:
        """Epsilon spent so far at :attr:`delta` (from the accountant)."""
        if self.steps == 0:
            return 0.0
        return float(self.engine.get_epsilon(self.delta))

    def record(self) -> dict[str, Any]:
        """The guarantee of the fit so far, for the run's record."""
        return {
            "epsilon": self.spent(), "delta": self.delta, "target_epsilon": self.target,
            "unit": self.unit, "guarantee": f"per {self.unit}",
            "noise_multiplier": float(self.optimizer.noise_multiplier), "max_grad_norm": self.max_grad_norm,
            "sample_rate": self.sample_rate, "steps": self.steps, "examples": self.n_examples,
            "accountant": self.accountant_name, "sampling": "poisson",
        }
