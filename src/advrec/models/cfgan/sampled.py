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
:class:`SparseDiscriminator` in :mod:`advrec.models.cfgan.sparse_networks`) whose gradients are sparse, and :class:`~advrec.train.lazy_adam.LazyAdam`
updates only the rows a batch touched: a step costs ``batch x (observed + m) x hidden``
whatever the catalogue size. The ZR term is multiplied by
``|unobserved_u| / |pool columns unobserved by u|``, so its expectation is the dense ZR term
(up to ``zr_ratio`` as a probability rather than an exact fraction). The discriminator sees
the fake vector on the pool's PM entries only: a thinned version of the dense game's input.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F

from advrec.models.cfgan.sparse_networks import SparseDiscriminator, SparseGenerator


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
