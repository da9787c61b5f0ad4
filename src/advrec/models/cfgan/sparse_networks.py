"""CFGAN's networks with per-column tables, for the sampled game of large catalogues.

Their first layers (and the generator's output layer) are ``nn.Embedding`` tables with
sparse gradients, one row per column, so a step of the sampled game touches only the rows
of the observed and pooled columns (see :mod:`advrec.models.cfgan.sampled`). ``forward`` takes a
dense condition, as the dense networks do; the generator's ``forward_rows`` a sparse one.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from advrec.models.cfgan.networks import ACTIVATIONS, glorot_linear


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
    for k, (a, b) in enumerate(itertools.pairwise(sizes)):
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
