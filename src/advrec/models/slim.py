"""SLIM-ElasticNet: sparse non-negative item-item regression with a zero diagonal."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import ElasticNet
from tqdm.auto import tqdm

from advrec.models._linear import RowModel, RowModelConfig
from advrec.models._sparse import csr_from_state, csr_to_state, dense_rows
from advrec.models.foldin import model_rows

if TYPE_CHECKING:
    import optuna


class SLIMConfig(RowModelConfig):
    """Hyper-parameters of :class:`SLIM` (scikit-learn's ElasticNet scaling)."""

    alpha: float = Field(0.1, gt=0.0)
    """Total penalty strength (per-user averaged loss, as in scikit-learn)."""
    l1_ratio: float = Field(0.01, ge=0.0, le=1.0)
    """Share of the L1 penalty in ``alpha`` (1 = lasso, 0 = ridge)."""
    topk: int | None = Field(None, ge=1)
    """Keep only the ``topk`` largest weights per item column (``None`` keeps all)."""
    max_iter: int = Field(100, ge=1)
    """Coordinate-descent sweeps per item."""
    tol: float = Field(1e-4, gt=0.0)
    """Coordinate-descent tolerance per item."""


class SLIM(RowModel):
    """SLIM-ElasticNet: one sparse non-negative regression per item on all other items.

    For every item ``j`` it solves, independently,
    ``min_w 1/(2 n_users) ||X[:, j] - X w||^2 + alpha * l1_ratio * ||w||_1
    + alpha * (1 - l1_ratio) / 2 * ||w||^2`` subject to ``w >= 0`` and ``w_j = 0``
    (item ``j``'s own column is zeroed while fitting it), with scikit-learn's
    coordinate descent on the sparse matrix. The columns form ``W``; user ``u`` scores
    items by ``X[u] W``. ``W`` is stored sparse (optionally cut to ``topk`` per column).
    Each item's problem starts from zero, so results do not depend on item order.
    The loss is averaged over users (scikit-learn's scaling), so a fixed ``alpha``
    penalises more on data with more users; the defaults were chosen on a validation
    split of ML-100K (good range there: ``alpha`` 0.05-0.3, ``l1_ratio`` 0.001-0.01).

    Reference: Ning & Karypis, "SLIM: Sparse Linear Methods for Top-N Recommender
    Systems", ICDM 2011.

    TOML::

        [[models]]
        name = "slim"
        alpha = 0.1
        l1_ratio = 0.01
    """

    name = "slim"
    seeded = False
    config_class = SLIMConfig
    capabilities = frozenset({"fold_in"})

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning (the keys are config fields)."""
        return {
            "alpha": t.suggest_float("alpha", 1e-3, 3.0, log=True),
            "l1_ratio": t.suggest_float("l1_ratio", 1e-4, 0.5, log=True),
        }

    def _fit_matrix(self, x: sp.csr_matrix, *, show_progress: bool) -> None:
        cfg = self.config
        assert isinstance(cfg, SLIMConfig)
        self.weights_ = slim_weights(
            x, cfg.alpha, cfg.l1_ratio, topk=cfg.topk, max_iter=cfg.max_iter, tol=cfg.tol,
            show_progress=show_progress,
        )

    def _score_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        return dense_rows(rows @ self.weights_)

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return self._score_rows(model_rows(history, self._binary))

    def _weights(self) -> dict[str, torch.Tensor]:
        return csr_to_state("weights", self.weights_)

    def _set_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.weights_ = csr_from_state(state, "weights", (self.n_items, self.n_items))


def slim_weights(
    x: sp.spmatrix,
    alpha: float,
    l1_ratio: float,
    *,
    topk: int | None = None,
    max_iter: int = 100,
    tol: float = 1e-4,
    show_progress: bool = False,
) -> sp.csr_matrix:
    """The SLIM weight matrix ``W`` (``n_items x n_items`` CSR, float32, ``W >= 0``, zero diagonal).

    Column ``j`` holds the elastic-net regression of item ``j`` on all other items.
    """
    xc = sp.csc_matrix(x, dtype=np.float64, copy=True)
    xc.sort_indices()
    n_users, n = xc.shape
    enet = ElasticNet(
        alpha=alpha, l1_ratio=l1_ratio, positive=True, fit_intercept=False, copy_X=False,
        precompute=False, max_iter=max_iter, tol=tol, selection="cyclic",
    )
    rows: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    y = np.zeros(n_users, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        for j in tqdm(range(n), desc="slim", unit="item", disable=not show_progress):
            lo, hi = xc.indptr[j], xc.indptr[j + 1]
            if lo == hi:
                rows.append(np.empty(0, np.int64))
                vals.append(np.empty(0, np.float64))
                continue
            saved = xc.data[lo:hi].copy()
            y[:] = 0.0
            y[xc.indices[lo:hi]] = saved
            xc.data[lo:hi] = 0.0
            enet.fit(xc, y, check_input=False)
            xc.data[lo:hi] = saved
            coef = enet.coef_
            nz = np.flatnonzero(coef > 0)
            if topk is not None and len(nz) > topk:
                nz = nz[np.argsort(-coef[nz], kind="stable")[:topk]]
            rows.append(nz.astype(np.int64))
            vals.append(coef[nz])
    counts = np.array([len(r) for r in rows], dtype=np.int64)
    cols = np.repeat(np.arange(n, dtype=np.int64), counts)
    w = sp.csr_matrix(
        (np.concatenate(vals).astype(np.float32), (np.concatenate(rows), cols)),
        shape=(n, n), dtype=np.float32,
    )
    w.sort_indices()
    return w
