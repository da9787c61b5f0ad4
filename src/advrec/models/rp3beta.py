"""RP3beta: item-item weights from a 3-step random walk, popularity re-ranked (Paudel et al., 2017)."""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from tqdm.auto import tqdm

from advrec.models._linear import RowModel, RowModelConfig
from advrec.models._sparse import column_blocks, csr_from_state, csr_to_state, dense_rows, topk_columns


class RP3betaConfig(RowModelConfig):
    """Hyper-parameters of :class:`RP3beta`."""

    alpha: float = Field(1.0, ge=0.0)
    """Exponent applied elementwise to both transition matrices (1 = the plain random walk)."""
    beta: float = Field(0.6, ge=0.0)
    """Popularity penalty: weights into item ``j`` are divided by ``popularity(j) ** beta``."""
    k: int = Field(100, ge=1)
    """Neighbours kept per item (the ``k`` largest weights of each row)."""
    normalize: bool = True
    """Divide every row of the kept weights by its sum (L1)."""
    block_cells: int = Field(2**25, ge=1)
    """Cells of one dense block of weights (memory bound: about 12 bytes per cell)."""


class RP3beta(RowModel):
    """RP3beta, a graph-based item-item baseline.

    Optimises nothing. With ``X`` the users x items training matrix, ``P_ui`` its
    row-normalised (L1) form and ``P_iu`` the row-normalised form of ``X^T``, the
    3-step walk user -> item -> user -> item gives item-item weights
    ``W[i, j] = sum_u P_iu[i, u]^alpha P_ui[u, j]^alpha / pop(j)^beta`` (``pop(j)``
    the number of training users of item ``j``; diagonal zeroed). Each row keeps
    its ``k`` largest weights and is optionally L1-normalised; user ``u`` scores
    ``j`` by ``(X[u] @ W)[j]``, so new users are scored the same way (``fold_in``).
    Rows are computed in blocks of at most ``block_cells`` dense cells and truncated
    per block: memory is bounded by one block plus the ``n_items * k`` kept weights.

    References: Paudel, Christoffel, Newell & Bernstein, "Updatable, accurate, diverse,
    and scalable recommendations for interactive applications", ACM TiiS 2017;
    Ferrari Dacrema, Cremonesi & Jannach, "Are we really making much progress?",
    RecSys 2019 (where it is among the strongest simple baselines).

    TOML::

        [[models]]
        name = "rp3beta"
        alpha = 1.0
        beta = 0.6
        k = 100
    """

    name = "rp3beta"
    seeded = False
    config_class = RP3betaConfig
    capabilities: ClassVar[frozenset[str]] = frozenset({"fold_in"})

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Optuna search space: ``alpha`` in [0, 2], ``beta`` in [0, 1], ``k`` log-uniform in [5, 1000]."""
        return {
            "alpha": trial.suggest_float("alpha", 0.0, 2.0),
            "beta": trial.suggest_float("beta", 0.0, 1.0),
            "k": trial.suggest_int("k", 5, 1000, log=True),
            "normalize": trial.suggest_categorical("normalize", [True, False]),
        }

    def _fit_matrix(self, x: sp.csr_matrix, *, show_progress: bool) -> None:
        cfg = self.config
        assert isinstance(cfg, RP3betaConfig)
        self.weights_ = rp3beta_weights(
            x, cfg.alpha, cfg.beta, cfg.k, normalize=cfg.normalize, block_cells=cfg.block_cells,
            show_progress=show_progress,
        )

    def _score_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        return dense_rows(rows @ self.weights_)

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        rows = sp.csr_matrix(history, dtype=np.float32, copy=True)
        if self._binary:
            rows.data = (rows.data != 0).astype(np.float32)
        return self._score_rows(rows)

    def _weights(self) -> dict[str, torch.Tensor]:
        return csr_to_state("w", self.weights_)

    def _set_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.weights_ = csr_from_state(state, "w", (self.n_items, self.n_items))


def _row_normalised(m: sp.csr_matrix) -> sp.csr_matrix:
    sums = np.asarray(m.sum(axis=1), dtype=np.float64).ravel()
    inv = np.divide(1.0, sums, out=np.zeros_like(sums), where=sums != 0)
    out = sp.csr_matrix(m, dtype=np.float32, copy=True)
    out.data *= np.repeat(inv, np.diff(out.indptr)).astype(np.float32)
    return out


def rp3beta_weights(
    x: sp.csr_matrix,
    alpha: float,
    beta: float,
    k: int,
    *,
    normalize: bool = True,
    block_cells: int = 2**25,
    show_progress: bool = False,
) -> sp.csr_matrix:
    """The top-``k`` RP3beta weights, row ``i`` holding the items reached from item ``i``.

    Parameters
    ----------
    x
        Users x items matrix (non-negative values).
    alpha
        Elementwise exponent of both transition matrices.
    beta
        Popularity exponent of the destination item.
    k
        Weights kept per row (the largest positive ones; the item itself excluded).
    normalize
        L1-normalise every kept row.
    block_cells
        Size of one dense ``block x n_items`` slab.
    show_progress
        Show a progress bar over blocks.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_items, n_items)`` float32 ``W``; scores are ``X[u] @ W``.
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    x.eliminate_zeros()
    n = x.shape[1]
    p_ui = _row_normalised(x)
    p_iu = _row_normalised(x.T.tocsr())
    if alpha != 1.0:
        p_ui.data **= np.float32(alpha)
        p_iu.data **= np.float32(alpha)
    pop = np.diff(x.tocsc().indptr).astype(np.float64)
    penalty = np.divide(1.0, pop**beta, out=np.zeros_like(pop), where=pop > 0).astype(np.float32)
    p_ui = p_ui @ sp.diags(penalty)  # the popularity penalty of the destination item
    parts = []
    for a, b in tqdm(column_blocks(n, n, block_cells), desc="rp3beta", unit="block", disable=not show_progress):
        g = np.asarray((p_iu[a:b] @ p_ui).toarray(), dtype=np.float32)
        g[np.arange(b - a), np.arange(a, b)] = 0.0
        parts.append(topk_columns(g.T, k))
    if not parts:
        return sp.csr_matrix((n, n), dtype=np.float32)
    w = sp.vstack(parts, format="csr")
    return _row_normalised(w) if normalize else w
