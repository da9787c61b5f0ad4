"""ItemKNN: item-item cosine similarity with shrinkage, top-k neighbours per item."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field
from tqdm.auto import tqdm

from advrec.models._linear import RowModel, RowModelConfig
from advrec.models._sparse import (
    column_blocks,
    csr_from_state,
    csr_to_state,
    dense_rows,
    topk_columns,
)
from advrec.models.foldin import model_rows

if TYPE_CHECKING:
    import optuna

Weighting = Literal["none", "bm25", "tfidf"]


class ItemKNNConfig(RowModelConfig):
    """Hyper-parameters of :class:`ItemKNN`."""

    k: int = Field(100, ge=1)
    """Neighbours kept per item (the ``k`` most similar items)."""
    shrink: float = Field(10.0, ge=0.0)
    """Added to the cosine denominator; damps similarities backed by few co-occurrences."""
    normalize: bool = True
    """Cosine similarity; ``False`` keeps the raw dot products (then ``shrink`` is unused)."""
    asymmetric_alpha: float = Field(0.5, ge=0.0, le=1.0)
    """Asymmetric cosine exponent (0.5 = cosine; larger values penalise popular neighbours)."""
    feature_weighting: Weighting = "none"
    """Re-weight users before the similarity: ``"tfidf"`` or ``"bm25"`` (items are documents)."""
    bm25_k1: float = Field(1.2, gt=0.0)
    """BM25 term-frequency saturation."""
    bm25_b: float = Field(0.75, ge=0.0, le=1.0)
    """BM25 item-length normalisation."""
    block_cells: int = Field(2**25, ge=1)
    """Cells of one dense similarity block (memory bound: about 12 bytes per cell)."""


class ItemKNN(RowModel):
    """Item-based nearest neighbours (neighbourhood collaborative filtering).

    Optimises nothing: item ``j``'s neighbours are the ``k`` items ``i`` with the
    largest similarity ``sim(i, j) = <x_i, x_j> / (||x_i|| ||x_j|| + shrink)`` over
    the item columns of the training matrix (optionally TF-IDF/BM25 weighted; with
    ``asymmetric_alpha = a`` the denominator is ``||x_i||^(2a) ||x_j||^(2(1-a)) + shrink``), and
    user ``u`` scores ``j`` by ``sum_i X[u, i] * sim(i, j)`` over those neighbours.
    Similarities are computed in column blocks and truncated per block, so memory
    stays bounded by ``block_cells`` plus the ``n_items * k`` kept entries.
    On a validation split of ML-100K, ``asymmetric_alpha`` 0.7-0.9 with ``shrink`` ~10
    beat the plain cosine; ``k`` 50-200 mattered little.

    References: Sarwar et al., "Item-based collaborative filtering recommendation
    algorithms", WWW 2001; Deshpande & Karypis, "Item-based top-N recommendation
    algorithms", TOIS 2004; Aiolli, "Efficient top-N recommendation for very large
    scale binary rated datasets", RecSys 2013 (asymmetric cosine).

    TOML::

        [[models]]
        name = "itemknn"
        k = 100
        shrink = 10.0
    """

    name = "itemknn"
    seeded = False
    config_class = ItemKNNConfig
    capabilities = frozenset({"fold_in"})

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning (the keys are config fields)."""
        return {
            "k": t.suggest_int("k", 10, 500, log=True),
            "shrink": t.suggest_float("shrink", 0.0, 200.0),
            "asymmetric_alpha": t.suggest_float("asymmetric_alpha", 0.3, 1.0),
            "feature_weighting": t.suggest_categorical("feature_weighting", ["none", "bm25", "tfidf"]),
        }

    def _fit_matrix(self, x: sp.csr_matrix, *, show_progress: bool) -> None:
        cfg = self.config
        assert isinstance(cfg, ItemKNNConfig)
        if cfg.feature_weighting == "tfidf":
            x = tfidf_weights(x)
        elif cfg.feature_weighting == "bm25":
            x = bm25_weights(x, cfg.bm25_k1, cfg.bm25_b)
        self.similarity_ = item_similarity(
            x, cfg.k, cfg.shrink, normalize=cfg.normalize, alpha=cfg.asymmetric_alpha,
            block_cells=cfg.block_cells, show_progress=show_progress,
        )

    def _score_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        return dense_rows(rows @ self.similarity_)

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return self._score_rows(model_rows(history, self._binary))

    def _weights(self) -> dict[str, torch.Tensor]:
        return csr_to_state("sim", self.similarity_)

    def _set_weights(self, state: dict[str, torch.Tensor]) -> None:
        self.similarity_ = csr_from_state(state, "sim", (self.n_items, self.n_items))


def item_similarity(
    x: sp.csr_matrix,
    k: int,
    shrink: float = 0.0,
    *,
    normalize: bool = True,
    alpha: float = 0.5,
    block_cells: int = 2**25,
    show_progress: bool = False,
) -> sp.csr_matrix:
    """Top-``k`` item-item similarity, column ``j`` holding the neighbours of item ``j``.

    Parameters
    ----------
    x
        Users x items matrix.
    k
        Neighbours kept per item (largest positive similarities; the item itself excluded).
    shrink
        Added to ``||x_i|| ||x_j||`` in the cosine denominator.
    normalize
        Divide dot products by the (shrunk) norm product; ``False`` keeps raw dot products.
    alpha
        Asymmetric cosine: the denominator is ``||x_i||^(2 alpha) ||x_j||^(2 (1 - alpha)) + shrink``
        for neighbour ``i`` of target ``j`` (0.5 is the cosine).
    block_cells
        Size of one dense ``n_items x block`` slab.
    show_progress
        Show a progress bar over blocks.

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(n_items, n_items)`` float32 ``S`` with at most ``k`` entries per column and a
        zero diagonal; scores are ``X[u] @ S``.
    """
    x = sp.csr_matrix(x, dtype=np.float32)
    n = x.shape[1]
    xt = x.T.tocsr()
    xc = x.tocsc()
    sq = np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel()
    left, right = (sq**alpha).astype(np.float32), (sq ** (1.0 - alpha)).astype(np.float32)
    parts = []
    blocks = column_blocks(n, n, block_cells)
    for a, b in tqdm(blocks, desc="itemknn", unit="block", disable=not show_progress):
        g = np.asarray((xt @ xc[:, a:b]).toarray(), dtype=np.float32)
        if normalize:
            den = np.outer(left, right[a:b])
            den += np.float32(shrink)
            np.divide(g, den, out=g, where=den > 0)
            g[den <= 0] = 0.0
        g[np.arange(a, b), np.arange(b - a)] = 0.0
        parts.append(topk_columns(g, k))
    if not parts:
        return sp.csr_matrix((n, n), dtype=np.float32)
    return sp.vstack(parts, format="csr").T.tocsr()


def _idf_rows(x: sp.csr_matrix) -> tuple[np.ndarray, int]:
    df = np.diff(x.indptr).astype(np.float64)  # items per user
    return df, x.shape[1]


def tfidf_weights(x: sp.csr_matrix) -> sp.csr_matrix:
    """TF-IDF with items as documents and users as terms: ``x[u, i] * idf(u)``.

    ``idf(u) = log((1 + n_items) / (1 + df(u))) + 1`` (smoothed, positive), ``df(u)``
    the number of items of user ``u``: prolific users count less.
    """
    df, n = _idf_rows(x)
    idf = np.log((1.0 + n) / (1.0 + df)) + 1.0
    out = sp.csr_matrix(x, dtype=np.float32, copy=True)
    out.data *= np.repeat(idf, np.diff(x.indptr)).astype(np.float32)
    return out


def bm25_weights(x: sp.csr_matrix, k1: float = 1.2, b: float = 0.75) -> sp.csr_matrix:
    """Okapi BM25 with items as documents and users as terms.

    ``w = v (k1 + 1) / (v + k1 (1 - b + b len(i) / avglen)) * idf(u)`` with
    ``idf(u) = log(1 + (n_items - df(u) + 0.5) / (df(u) + 0.5))`` and ``len(i)``
    the sum of item ``i``'s column.
    """
    df, n = _idf_rows(x)
    idf = np.log1p((n - df + 0.5) / (df + 0.5))
    coo = sp.coo_matrix(x, dtype=np.float64)
    length = np.asarray(coo.sum(axis=0)).ravel()
    avg = length.mean() if length.mean() > 0 else 1.0
    v = coo.data
    w = v * (k1 + 1.0) / (v + k1 * (1.0 - b + b * length[coo.col] / avg)) * idf[coo.row]
    return sp.csr_matrix((w.astype(np.float32), (coo.row, coo.col)), shape=x.shape)
