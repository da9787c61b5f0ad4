"""EASE^R: closed-form shallow item-item autoencoder with a zero diagonal."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from scipy.linalg import lapack

from advrec.errors import ConfigError
from advrec.models._linear import RowModel, RowModelConfig, check_dense
from advrec.models._sparse import column_blocks

#: Bytes per item pair at the peak of a fit: the float64 Gram/inverse plus the float32 weights.
BYTES_PER_CELL = 8 + 4


class EASEConfig(RowModelConfig):
    """Hyper-parameters of :class:`EASE`."""

    l2: float = Field(500.0, gt=0.0)
    """L2 penalty ``lambda`` on the item-item weights."""
    max_memory_gb: float = Field(16.0, gt=0.0)
    """Refuse to fit when the dense item-item matrices would need more memory (GB)."""


class EASE(RowModel):
    """EASE^R: Embarrassingly Shallow AutoEncoder (Steck, WWW 2019).

    Optimises ``||X - X B||_F^2 + lambda ||B||_F^2`` subject to ``diag(B) = 0``, whose
    closed form is ``B = I - P diag(1 / diag(P))`` with ``P = (X^T X + lambda I)^-1``.
    User ``u`` scores items by ``X[u] B``. The inverse is computed in float64 by a
    Cholesky factorisation and ``B`` is stored densely as float32, so a fit needs
    about ``12 * n_items^2`` bytes (e.g. 20 GB for 41k items); beyond
    ``max_memory_gb`` it raises :class:`~advrec.errors.ConfigError` before allocating.

    TOML::

        [[models]]
        name = "ease"
        l2 = 500.0
    """

    name = "ease"
    seeded = False
    config_class = EASEConfig

    def _fit_matrix(self, x: sp.csr_matrix, *, show_progress: bool) -> None:
        cfg = self.config
        assert isinstance(cfg, EASEConfig)
        self.weights_ = torch.from_numpy(ease_weights(x, cfg.l2, max_memory_gb=cfg.max_memory_gb))

    def _score_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        return torch.from_numpy(np.asarray(rows @ self.weights_.numpy(), dtype=np.float32))

    def _weights(self) -> dict[str, torch.Tensor]:
        return {"weights": self.weights_}

    def _set_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.weights_ = check_dense(state["weights"], (self.n_items, self.n_items), "weights")


def memory_gb(n_items: int) -> float:
    """Estimated peak memory (GB, 1e9 bytes) of an EASE fit over ``n_items`` items."""
    return BYTES_PER_CELL * float(n_items) ** 2 / 1e9


def ease_weights(x: sp.spmatrix, l2: float, *, max_memory_gb: float = 16.0) -> np.ndarray:
    """The EASE^R weight matrix ``B`` (float32, zero diagonal) of users x items ``x``.

    Raises
    ------
    ConfigError
        If the estimated memory exceeds ``max_memory_gb``.
    """
    n = x.shape[1]
    need = memory_gb(n)
    if need > max_memory_gb:
        raise ConfigError(
            f"ease: {n} items need about {need:.1f} GB (dense {n}x{n} float64 inverse plus "
            f"float32 weights), above max_memory_gb={max_memory_gb:g}; raise max_memory_gb if "
            "the machine has the memory, or use itemknn/slim (sparse) or fewer items"
        )
    p = _gram(sp.csr_matrix(x, dtype=np.float64))
    p[np.diag_indices(n)] += l2
    # p is symmetric, so its transpose is the same matrix in Fortran order: LAPACK works in place.
    f = p.T
    c, info = lapack.dpotrf(f, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise ConfigError(f"ease: X^T X + l2 I is not positive definite (l2={l2:g}); use a larger l2")
    inv, info = lapack.dpotri(c, lower=False, overwrite_c=True)
    if info != 0:  # pragma: no cover - cannot fail after a successful factorisation
        raise RuntimeError(f"ease: inversion failed (LAPACK info {info})")
    _symmetrise_upper(inv)
    d = np.diag(inv).copy()
    out = np.empty((n, n), dtype=np.float32)
    for a, b in column_blocks(n, n, 2**24):
        out[:, a:b] = inv[:, a:b] / -d[a:b]
    out[np.diag_indices(n)] = 0.0
    return out


def _gram(x: sp.csr_matrix) -> np.ndarray:
    """Dense float64 ``x^T x``, built in column blocks to bound sparse temporaries."""
    n = x.shape[1]
    xt, xc = x.T.tocsr(), x.tocsc()
    g = np.empty((n, n), dtype=np.float64)
    for a, b in column_blocks(n, n, 2**24):
        g[:, a:b] = (xt @ xc[:, a:b]).toarray()
    return g


def _symmetrise_upper(m: np.ndarray) -> None:
    """Copy the upper triangle of square ``m`` into its lower triangle, in place, by blocks."""
    n = m.shape[0]
    for a, b in column_blocks(n, n, 2**24):
        m[a:b, :a] = m[:a, a:b].T
        blk = m[a:b, a:b]
        il = np.tril_indices(b - a, -1)
        blk[il] = blk.T[il]
