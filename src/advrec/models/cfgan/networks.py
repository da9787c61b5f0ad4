"""CFGAN's networks and its row/mask store (dense when small, CSR-by-batch when large)."""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn

from advrec.models.cfgan.masks import draw_row_seeds, sample_unobserved

#: above this many rows x columns, row vectors and masks are built per batch
DENSE_LIMIT = 1 << 26

ACTIVATIONS = {"sigmoid": nn.Sigmoid, "tanh": nn.Tanh, "relu": nn.ReLU}


def glorot_linear(a: int, b: int) -> nn.Linear:
    """``nn.Linear(a, b)`` with Glorot-uniform weights and biases uniform on [-0.01, 0.01] (the original code's)."""
    lin = nn.Linear(a, b)
    bound = math.sqrt(6.0 / (a + b))
    nn.init.uniform_(lin.weight, -bound, bound)
    nn.init.uniform_(lin.bias, -0.01, 0.01)
    return lin


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Fully connected layers as in the original code.

    Weights Glorot-uniform, biases uniform on [-0.01, 0.01], ``activation``
    after every layer but the last (the output is linear).
    """
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(pairwise(sizes)):
        layers.append(glorot_linear(a, b))
        if k < len(sizes) - 2:
            layers.append(ACTIVATIONS[activation]())
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """``G(c)``: the condition vector (the row's real vector) to a generated vector."""

    def __init__(self, n: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        self.net = mlp([n, *hidden, n], activation)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        return self.net(condition)


class Discriminator(nn.Module):
    """``D(x | c)``: a logit for the pair (vector, condition), input ``[c, x]``."""

    def __init__(self, n: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        self.net = mlp([2 * n, *hidden, 1], activation)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, x], dim=1)).squeeze(1)


def densify(rows: sp.csr_matrix, index: np.ndarray) -> torch.Tensor:
    """Dense float32 ``(len(index), n_cols)`` 0/1 tensor of the chosen CSR rows."""
    sub = rows[index]
    out = torch.zeros((len(index), rows.shape[1]), dtype=torch.float32)
    r = np.repeat(np.arange(len(index)), np.diff(sub.indptr))
    out[torch.from_numpy(r), torch.from_numpy(sub.indices.astype(np.int64))] = 1.0
    return out


class RowStore:
    """The training row vectors and the epoch's ZR / PM negative masks.

    Masks are defined by per-row seeds drawn each epoch
    (:func:`advrec.models.cfgan.masks.sample_unobserved`), so the dense per-epoch cache
    (small data) and the per-batch construction (large data) give the same masks.
    """

    def __init__(self, rows: sp.csr_matrix, zr_ratio: float | None, pm_ratio: float | None,
                 device: torch.device | str = "cpu") -> None:
        self.rows = rows.tocsr().astype(np.float32)
        self.n_rows, self.n_cols = self.rows.shape
        self.ratios = {"zr": zr_ratio, "pm": pm_ratio}
        self.device = torch.device(device)
        small = self.n_rows * self.n_cols <= DENSE_LIMIT
        self.dense = densify(self.rows, np.arange(self.n_rows)).to(self.device) if small else None
        self.seeds: dict[str, torch.Tensor] = {}
        self.cache: dict[str, torch.Tensor] = {}

    def vectors(self, index: torch.Tensor) -> torch.Tensor:
        """Row vectors of ``index`` as a dense float tensor."""
        if self.dense is not None:
            return self.dense[index]
        return densify(self.rows, index.cpu().numpy()).to(self.device)

    def new_epoch(self, generator: torch.Generator) -> None:
        """Draw the epoch's seeds (and build the dense masks when small)."""
        self.cache = {}
        for kind, ratio in self.ratios.items():
            if ratio is None:
                continue
            self.seeds[kind] = draw_row_seeds(self.n_rows, generator).to(self.device)
            if self.dense is not None:
                chunks = [self._sample(kind, idx) for idx in torch.arange(self.n_rows).split(2048)]
                self.cache[kind] = torch.cat(chunks) if chunks else torch.zeros((0, self.n_cols), dtype=torch.bool, device=self.device)

    def mask(self, kind: str, index: torch.Tensor) -> torch.Tensor | None:
        """The ``"zr"`` or ``"pm"`` mask of rows ``index`` (None if the scheme has none)."""
        if self.ratios[kind] is None:
            return None
        if kind in self.cache:
            return self.cache[kind][index]
        return self._sample(kind, index)

    def _sample(self, kind: str, index: torch.Tensor) -> torch.Tensor:
        ratio = self.ratios[kind]
        assert ratio is not None
        return sample_unobserved(self.vectors(index) > 0, self.seeds[kind][index], ratio)
