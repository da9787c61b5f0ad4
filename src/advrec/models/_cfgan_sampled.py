"""CFGAN's game on sampled columns, for catalogues too large for dense row vectors.

The dense game feeds the networks whole rows: a step costs ``batch x columns x hidden``
and the ZR / PM masks cover 70 % of a row's unobserved entries. Here each mini-batch draws a
pool of ``m`` columns uniformly without replacement; row ``u``'s negatives are the pool
columns it has not observed, each in ``N^ZR`` with probability ``zr_ratio`` and in ``N^PM``
with probability ``pm_ratio``. Every input the networks see is zero outside the row's
observed columns and its pool, so they are computed exactly on those columns only:

* the first layers are sparse sums of weight columns (``index_add``) over observed entries,
  plus a dense product over the pool for the fake vector's PM entries;
* the generator's output is computed at the observed columns and the pool only.

A step costs ``batch x (observed + m) x hidden``. The ZR term is multiplied by
``|unobserved_u| / |pool columns unobserved by u|``, so its expectation is the dense ZR term
(up to ``zr_ratio`` as a probability rather than an exact fraction). The discriminator sees
the fake vector on the pool's PM entries only: a thinned version of the dense game's input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn


class SampledBatch(NamedTuple):
    """A mini-batch of rows with their observed columns and sampled negatives."""

    size: int
    pos_row: torch.Tensor
    """``(nnz,)`` position in the batch of each observed entry."""
    pos_col: torch.Tensor
    """``(nnz,)`` column of each observed entry."""
    pool: torch.Tensor
    """``(m,)`` the sampled columns."""
    zr: torch.Tensor
    """``(size, m)`` bool: pool entry in the row's ``N^ZR``."""
    pm: torch.Tensor
    """``(size, m)`` bool: pool entry in the row's ``N^PM``."""
    scale: torch.Tensor
    """``(size,)`` unobserved entries of the row / its unobserved pool entries (0 if none)."""


def sample_batch(rows: sp.csr_matrix, index: torch.Tensor, pool_size: int, zr_ratio: float | None,
                 pm_ratio: float | None, generator: torch.Generator,
                 device: torch.device) -> SampledBatch:
    """Draw the pool and the negatives of rows ``index`` (all randomness from ``generator``)."""
    n = rows.shape[1]
    idx = index.cpu().numpy()
    sub = rows[idx]
    counts = np.diff(sub.indptr)
    pos_row = torch.from_numpy(np.repeat(np.arange(len(idx)), counts)).to(device)
    pos_col = torch.from_numpy(sub.indices.astype(np.int64)).to(device)
    pool = torch.randperm(n, generator=generator)[: min(pool_size, n)].to(device)
    b, m = len(idx), len(pool)
    observed = torch.isin(torch.arange(b, device=device)[:, None] * n + pool[None, :], pos_row * n + pos_col)
    free = ~observed
    n_free = free.sum(1)
    unobserved = torch.from_numpy(n - counts).to(device)
    scale = torch.where(n_free > 0, unobserved / n_free.clamp(min=1), torch.zeros((), device=device))

    def draw(ratio: float | None) -> torch.Tensor:
        if ratio is None:
            return torch.zeros((b, m), dtype=torch.bool, device=device)
        return (torch.rand((b, m), generator=generator) < ratio).to(device) & free

    return SampledBatch(b, pos_row, pos_col, pool, draw(zr_ratio), draw(pm_ratio), scale.float())


def generator_outputs(g_net: nn.Sequential, sb: SampledBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's output at the observed entries ``(nnz,)`` and at the pool ``(size, m)``.

    The condition is the row's 0/1 vector, so the first layer is the sum of the weight
    columns of the observed entries.
    """
    first = g_net[0]
    last = g_net[-1]
    assert isinstance(first, nn.Linear) and isinstance(last, nn.Linear)
    w = first.weight
    pre = torch.zeros((sb.size, w.shape[0]), dtype=w.dtype, device=w.device)
    pre = pre.index_add(0, sb.pos_row, w[:, sb.pos_col].T) + first.bias
    h = g_net[1:-1](pre)
    out_pool = h @ last.weight[sb.pool].T + last.bias[sb.pool]
    out_pos = (h[sb.pos_row] * last.weight[sb.pos_col]).sum(1) + last.bias[sb.pos_col]
    return out_pos.float(), out_pool.float()


def discriminator_logits(d_net: nn.Sequential, n: int, sb: SampledBatch, x_pos: torch.Tensor,
                         x_pool: torch.Tensor | None) -> torch.Tensor:
    """``D([c_u, x_u])`` for vectors ``x_u`` given at the observed entries and the pool.

    The condition ``c_u`` is the row's 0/1 vector; ``x_pool = None`` means zero on the pool
    (a real vector).
    """
    first = d_net[0]
    assert isinstance(first, nn.Linear)
    w = first.weight
    pre = torch.zeros((sb.size, w.shape[0]), dtype=w.dtype, device=w.device)
    cond = w[:, sb.pos_col].T
    vec = x_pos[:, None] * w[:, n + sb.pos_col].T
    pre = pre.index_add(0, sb.pos_row, cond + vec) + first.bias
    if x_pool is not None:
        pre = pre + x_pool @ w[:, n + sb.pool].T
    return d_net[1:](pre).squeeze(1).float()
