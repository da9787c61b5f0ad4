"""A Gaussian reparameterised generator head: ``G = mu + sigma * z``, ``z ~ N(0, I)``.

Put on top of a generator's hidden layer it turns a deterministic network into
a stochastic one whose samples stay differentiable in ``mu`` and ``sigma``
(the reparameterisation trick), e.g. to give a conditional generator the noise
that CFGAN's original design lacks.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class GaussianSample(NamedTuple):
    """A head's output: the sample, its mean and its log standard deviation."""

    sample: torch.Tensor
    mu: torch.Tensor
    log_sigma: torch.Tensor


class GaussianHead(nn.Module):
    """Linear maps to ``mu`` and ``log sigma``, then ``mu + exp(log sigma) * z``.

    Parameters
    ----------
    in_features, out_features
        Input and output sizes.
    init_log_sigma
        Initial bias of ``log sigma`` (``-2`` starts with ``sigma ~ 0.14``).
    min_log_sigma, max_log_sigma
        Clamp of ``log sigma`` for numerical safety.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        init_log_sigma: float = -2.0,
        min_log_sigma: float = -10.0,
        max_log_sigma: float = 2.0,
    ) -> None:
        super().__init__()
        if min_log_sigma >= max_log_sigma:
            raise ValueError("min_log_sigma must be below max_log_sigma")
        self.mu = nn.Linear(in_features, out_features)
        self.log_sigma = nn.Linear(in_features, out_features)
        nn.init.zeros_(self.log_sigma.weight)
        nn.init.constant_(self.log_sigma.bias, init_log_sigma)
        self.bounds = (min_log_sigma, max_log_sigma)

    def forward(
        self, h: torch.Tensor, generator: torch.Generator | None = None, sample: bool = True
    ) -> GaussianSample:
        """Sample (or, with ``sample=False``, return the mean) for the inputs ``h``."""
        mu = self.mu(h)
        log_sigma = self.log_sigma(h).clamp(*self.bounds)
        if not sample:
            return GaussianSample(mu, mu, log_sigma)
        z = torch.randn(mu.shape, generator=generator, dtype=mu.dtype).to(mu.device)
        return GaussianSample(mu + log_sigma.exp() * z, mu, log_sigma)


def kl_standard_normal(mu: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Mean over rows of ``KL(N(mu, sigma^2) || N(0, 1))`` summed over features."""
    var = (2.0 * log_sigma).exp()
    return (0.5 * (var + mu.square() - 1.0) - log_sigma).sum(-1).mean()
