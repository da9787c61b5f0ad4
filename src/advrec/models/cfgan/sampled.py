"""CFGAN's game on sampled columns, for catalogues too large for dense row vectors.

The dense game feeds the networks whole rows: a step costs ``batch x columns x hidden``
and the ZR / PM masks cover 70 % of a row's unobserved entries. Here each mini-batch draws a
pool of ``m`` columns uniformly without replacement; row ``u``'s negatives are the pool
columns it has not observed, each in ``N^ZR`` with probability ``zr_ratio`` and in ``N^PM``
with probability ``pm_ratio``. Every input the networks see is zero outside the row's
observed columns and its pool, so they are computed exactly on those columns only:

* the first layers are sums of weight rows (``embedding_bag``) over observed entries,
  plus a dense product over the pool for the fake vector's PM entries;
* the generator's output is computed at the observed columns and the pool only.

The per-column weights live in tables with one row per column (:class:`SparseGenerator`,
:class:`SparseDiscriminator`) whose gradients are sparse, and :class:`~advrec.train.lazy_adam.LazyAdam`
updates only the rows a batch touched: a step costs ``batch x (observed + m) x hidden``
whatever the catalogue size. The ZR term is multiplied by
``|unobserved_u| / |pool columns unobserved by u|``, so its expectation is the dense ZR term
(up to ``zr_ratio`` as a probability rather than an exact fraction). The discriminator sees
the fake vector on the pool's PM entries only: a thinned version of the dense game's input.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from advrec.models.cfgan.networks import ACTIVATIONS, glorot_linear


class SampledBatch(NamedTuple):
    """A mini-batch of rows with their observed columns and sampled negatives."""

    size: int
    pos_row: torch.Tensor
    """``(nnz,)`` position in the batch of each observed entry."""
    pos_col: torch.Tensor
    """``(nnz,)`` column of each observed entry (grouped by row)."""
    offsets: torch.Tensor
    """``(size,)`` start of each row's entries in ``pos_col``."""
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
    slot = torch.full((n,), -1, dtype=torch.long, device=device)  # column -> its place in the pool
    slot[pool] = torch.arange(m, device=device)
    hit = slot[pos_col]
    observed = torch.zeros((b, m), dtype=torch.bool, device=device)
    observed[pos_row[hit >= 0], hit[hit >= 0]] = True
    free = ~observed
    n_free = free.sum(1)
    unobserved = torch.from_numpy(n - counts).to(device)
    scale = torch.where(n_free > 0, unobserved / n_free.clamp(min=1), torch.zeros((), device=device))

    def draw(ratio: float | None) -> torch.Tensor:
        if ratio is None:
            return torch.zeros((b, m), dtype=torch.bool, device=device)
        return (torch.rand((b, m), generator=generator) < ratio).to(device) & free

    offsets = torch.from_numpy(sub.indptr[:-1].astype(np.int64)).to(device)
    return SampledBatch(b, pos_row, pos_col, offsets, pool, draw(zr_ratio), draw(pm_ratio), scale.float())


def _table(n: int, dim: int, fan: int) -> nn.Embedding:
    """``n x dim`` table with sparse gradients, Glorot-uniform for a ``fan x dim`` layer."""
    table = nn.Embedding(n, dim, sparse=True)
    bound = math.sqrt(6.0 / (fan + dim))
    nn.init.uniform_(table.weight, -bound, bound)
    return table


def _bias(size: int) -> nn.Parameter:
    return nn.Parameter(torch.empty(size).uniform_(-0.01, 0.01))


def _trunk(hidden: list[int], activation: str, out: int | None) -> nn.Sequential:
    """Activation, then (linear, activation) between hidden sizes, then a linear head to ``out``."""
    act = ACTIVATIONS[activation]
    layers: list[nn.Module] = [act()]
    sizes = [*hidden, out] if out is not None else hidden
    for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        layers.append(glorot_linear(a, b))
        if out is None or k < len(sizes) - 2:
            layers.append(act())
    return nn.Sequential(*layers)


class SparseGenerator(nn.Module):
    """CFGAN's generator with per-column tables: ``G(c) = trunk(c W_in + b) W_out^T + b_out``."""

    def __init__(self, n: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        self.inp = _table(n, hidden[0], n)
        self.in_bias = _bias(hidden[0])
        self.trunk = _trunk(hidden, activation, None)
        self.out = _table(n, hidden[-1], n)
        self.out_bias = _bias(n)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        h = self.trunk(condition @ self.inp.weight + self.in_bias)
        return h @ self.out.weight.T + self.out_bias

    def hidden_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        """Last hidden layer for the rows of a 0/1 CSR matrix, the first layer summed over their
        nonzeros only (no dense ``rows x columns`` input)."""
        dev = self.in_bias.device
        cols = torch.from_numpy(rows.indices.astype(np.int64)).to(dev)
        offsets = torch.from_numpy(rows.indptr[:-1].astype(np.int64)).to(dev)
        return self.trunk(F.embedding_bag(cols, self.inp.weight, offsets, mode="sum") + self.in_bias)

    def forward_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        """:meth:`forward` of the rows of a 0/1 CSR matrix (see :meth:`hidden_rows`)."""
        return self.hidden_rows(rows) @ self.out.weight.T + self.out_bias


class SparseDiscriminator(nn.Module):
    """CFGAN's discriminator ``D(x | c)`` with per-column tables for ``c`` and ``x``."""

    def __init__(self, n: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        self.cond = _table(n, hidden[0], 2 * n)
        self.vec = _table(n, hidden[0], 2 * n)
        self.in_bias = _bias(hidden[0])
        self.trunk = _trunk(hidden, activation, 1)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        pre = condition @ self.cond.weight + x @ self.vec.weight + self.in_bias
        return self.trunk(pre).squeeze(1)


def generator_outputs(g: SparseGenerator, sb: SampledBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """The generator's output at the observed entries ``(nnz,)`` and at the pool ``(size, m)``.

    The condition is the row's 0/1 vector, so the first layer is the sum of the table rows
    of the observed entries.
    """
    pre = F.embedding_bag(sb.pos_col, g.inp.weight, sb.offsets, mode="sum", sparse=True) + g.in_bias
    h = g.trunk(pre)
    out_pool = h @ F.embedding(sb.pool, g.out.weight, sparse=True).T + g.out_bias[sb.pool]
    out_pos = (h[sb.pos_row] * F.embedding(sb.pos_col, g.out.weight, sparse=True)).sum(1) + g.out_bias[sb.pos_col]
    return out_pos.float(), out_pool.float()


def discriminator_logits(d: SparseDiscriminator, sb: SampledBatch, x_pos: torch.Tensor,
                         x_pool: torch.Tensor | None) -> torch.Tensor:
    """``D(x_u | c_u)`` for vectors ``x_u`` given at the observed entries and the pool.

    The condition ``c_u`` is the row's 0/1 vector; ``x_pool = None`` means zero on the pool
    (a real vector).
    """
    pre = (F.embedding_bag(sb.pos_col, d.cond.weight, sb.offsets, mode="sum", sparse=True)
           + F.embedding_bag(sb.pos_col, d.vec.weight, sb.offsets, mode="sum", sparse=True,
                             per_sample_weights=x_pos)
           + d.in_bias)
    if x_pool is not None:
        pre = pre + x_pool @ F.embedding(sb.pool, d.vec.weight, sparse=True)
    return d.trunk(pre).squeeze(1).float()
