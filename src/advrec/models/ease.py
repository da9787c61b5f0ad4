"""EASE^R: closed-form shallow item-item autoencoder with a zero diagonal."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from scipy.linalg import lapack

from advrec.errors import ConfigError
from advrec.models._linear import RowModel, RowModelConfig, check_dense
from advrec.models._sparse import column_blocks
from advrec.models.foldin import model_rows

if TYPE_CHECKING:
    import optuna

#: LAPACK with 32-bit integers (scipy's wheels) cannot address matrices with this many entries
LAPACK_MAX_ENTRIES = 2**31

#: Bytes per item pair at the peak of a fit: the float64 Gram/inverse plus the float32 weights,
#: or (``precision="float32"``) one float32 matrix that becomes the weights in place.
BYTES_PER_CELL = {"float64": 8 + 4, "float32": 4}


class EASEConfig(RowModelConfig):
    """Hyper-parameters of :class:`EASE`."""

    l2: float = Field(500.0, gt=0.0)
    """L2 penalty ``lambda`` on the item-item weights."""
    max_memory_gb: float = Field(16.0, gt=0.0)
    """Refuse to fit when the dense item-item matrices would need more memory (GB)."""
    precision: Literal["float64", "float32"] = "float64"
    """Arithmetic of the inverse. ``"float32"`` factorises and inverts in single precision, in
    place, so a fit needs a third of the memory (4 bytes per item pair: 6.7 GB for Gowalla's 41k
    items instead of 20 GB); at most 46,340 items either way (32-bit LAPACK indexing);
    fine for the usual l2 of hundreds (the matrix is then well conditioned)."""


class EASE(RowModel):
    """EASE^R: Embarrassingly Shallow AutoEncoder (Steck, WWW 2019).

    Optimises ``||X - X B||_F^2 + lambda ||B||_F^2`` subject to ``diag(B) = 0``, whose
    closed form is ``B = I - P diag(1 / diag(P))`` with ``P = (X^T X + lambda I)^-1``.
    User ``u`` scores items by ``X[u] B``. The inverse is computed by a Cholesky
    factorisation, in float64 by default (about ``12 * n_items^2`` bytes at the peak, e.g.
    20 GB for 41k items) or in float32 in place (``precision="float32"``: ``4 * n_items^2``);
    ``B`` is stored densely as float32. Beyond ``max_memory_gb`` the fit raises
    :class:`~advrec.errors.ConfigError` before allocating.

    TOML::

        [[models]]
        name = "ease"
        l2 = 500.0
    """

    name = "ease"
    seeded = False
    config_class = EASEConfig
    capabilities = frozenset({"fold_in"})

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning (the keys are config fields)."""
        return {"l2": t.suggest_float("l2", 1.0, 1e4, log=True)}

    def _fit_matrix(self, x: sp.csr_matrix, *, show_progress: bool) -> None:
        cfg = self.config
        assert isinstance(cfg, EASEConfig)
        self.weights_ = torch.from_numpy(ease_weights(x, cfg.l2, max_memory_gb=cfg.max_memory_gb,
                                                      precision=cfg.precision))

    def _score_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        return torch.from_numpy(np.asarray(rows @ self.weights_.numpy(), dtype=np.float32))

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return self._score_rows(model_rows(history, self._binary))

    def _weights(self) -> dict[str, torch.Tensor]:
        return {"weights": self.weights_}

    def _set_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.weights_ = check_dense(state["weights"], (self.n_items, self.n_items), "weights")


def memory_gb(n_items: int, precision: str = "float64") -> float:
    """Estimated peak memory (GB, 1e9 bytes) of an EASE fit over ``n_items`` items."""
    return BYTES_PER_CELL[precision] * float(n_items) ** 2 / 1e9


def ease_weights(x: sp.spmatrix, l2: float, *, max_memory_gb: float = 16.0,
                 precision: str = "float64") -> np.ndarray:
    """The EASE^R weight matrix ``B`` (float32, zero diagonal) of users x items ``x``.

    ``precision="float32"`` inverts in single precision, in place (a third of the memory).

    Raises
    ------
    ConfigError
        If the estimated memory exceeds ``max_memory_gb``.
    """
    n = x.shape[1]
    if precision not in BYTES_PER_CELL:
        raise ConfigError(f"ease: precision {precision!r}; use 'float64' or 'float32'")
    need = memory_gb(n, precision)
    if need > max_memory_gb:
        what = "float64 inverse plus float32 weights" if precision == "float64" else "float32 matrix"
        raise ConfigError(
            f"ease: {n} items need about {need:.1f} GB (dense {n}x{n} {what}), above "
            f"max_memory_gb={max_memory_gb:g}; raise max_memory_gb if the machine has the memory"
            + (", try precision='float32' (a third of the memory)" if precision == "float64" else "")
            + ", or use itemknn/slim (sparse) or fewer items"
        )
    if n * n >= LAPACK_MAX_ENTRIES:
        raise ConfigError(
            f"ease: {n} items: the dense {n}x{n} matrix has more than 2^31 entries, beyond the 32-bit "
            f"indexing of this build's LAPACK (at most {math.isqrt(LAPACK_MAX_ENTRIES - 1)} items); "
            "use itemknn/slim (sparse) or fewer items"
        )
    single = precision == "float32"
    p = _gram(sp.csr_matrix(x, dtype=np.float32 if single else np.float64))
    p[np.diag_indices(n)] += l2
    # p is symmetric, so its transpose is the same matrix in Fortran order: LAPACK works in place.
    potrf, potri = (lapack.spotrf, lapack.spotri) if single else (lapack.dpotrf, lapack.dpotri)
    c, info = potrf(p.T, lower=False, clean=False, overwrite_a=True)
    if info != 0:
        raise ConfigError(f"ease: X^T X + l2 I is not positive definite (l2={l2:g}); use a larger l2")
    inv, info = potri(c, lower=False, overwrite_c=True)
    if info != 0:  # pragma: no cover - cannot fail after a successful factorisation
        raise RuntimeError(f"ease: inversion failed (LAPACK info {info})")
    _symmetrise_upper(inv)
    d = np.diag(inv).copy()
    # float32: B overwrites P in place; P is symmetric, so inv.T (C-ordered) holds the same values
    out = inv.T if single else np.empty((n, n), dtype=np.float32)
    src = out if single else inv
    for a, b in column_blocks(n, n, 2**24):
        out[:, a:b] = src[:, a:b] / -d[a:b]
    out[np.diag_indices(n)] = 0.0
    return out


def _gram(x: sp.csr_matrix) -> np.ndarray:
    """Dense ``x^T x`` in ``x``'s dtype, built in column blocks to bound sparse temporaries."""
    n = x.shape[1]
    xt, xc = x.T.tocsr(), x.tocsc()
    g = np.empty((n, n), dtype=x.dtype)
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
