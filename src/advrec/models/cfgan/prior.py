"""CFGAN's prior: EASE^R (dense scores on small data, item weights applied lazily on large) or ItemKNN.

Small data (users x items within :data:`DENSE_LIMIT`, no pruning) keeps every training user's
EASE^R scores, as before. Otherwise only the item-item weights ``B`` are kept, dense or pruned
to the ``topk`` largest-magnitude weights per item column (a sparse matrix: 41k items x 256
weights take 0.13 GB where dense ``B`` takes 6.7 GB), and a user's scores ``x_u B`` are computed
when asked for.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.models.cfgan.networks import DENSE_LIMIT


def prune_columns(b: np.ndarray, k: int) -> sp.csc_matrix:
    """Keep the ``k`` largest-magnitude entries of every column of ``b`` (float32 CSC)."""
    n_rows, n_cols = b.shape
    k = min(k, n_rows)
    indptr = np.arange(n_cols + 1, dtype=np.int64) * k
    indices = np.empty(n_cols * k, dtype=np.int64)
    data = np.empty(n_cols * k, dtype=np.float32)
    step = max(1, (1 << 24) // max(n_rows, 1))
    for a in range(0, n_cols, step):  # column blocks bound the temporaries
        block = b[:, a:a + step]
        top = np.argpartition(-np.abs(block), k - 1, axis=0)[:k]  # (k, cols)
        top.sort(axis=0)
        span = slice(a * k, (a + block.shape[1]) * k)
        indices[span] = top.T.ravel()
        data[span] = np.take_along_axis(block, top, axis=0).T.ravel()
    return sp.csc_matrix((data, indices, indptr), shape=b.shape)


class Prior:
    """EASE^R scores of training users, stored densely or computed from item weights.

    Exactly one of ``scores`` (users x items) and ``weights`` (items x items, dense tensor
    or sparse CSC) is given; ``seen`` is the users x items training matrix.
    """

    def __init__(self, seen: sp.csr_matrix, scores: torch.Tensor | None = None,
                 weights: torch.Tensor | sp.csc_matrix | None = None) -> None:
        if (scores is None) == (weights is None):
            raise ValueError("Prior needs exactly one of scores and weights")
        self.seen, self.scores, self.weights = seen, scores, weights

    @classmethod
    def fit(cls, seen: sp.csr_matrix, l2: float, *, precision: str = "float64", topk: int | None = None,
            max_memory_gb: float = 16.0) -> Prior:
        """Fit EASE^R on ``seen`` and keep what scoring needs."""
        from advrec.models.ease import ease_weights

        b = ease_weights(seen, l2, precision=precision, max_memory_gb=max_memory_gb)
        if topk is not None:
            return cls(seen, weights=prune_columns(b, topk))
        if seen.shape[0] * seen.shape[1] <= DENSE_LIMIT:
            return cls(seen, scores=torch.from_numpy(np.asarray(seen @ b, np.float32)))
        return cls(seen, weights=torch.from_numpy(b))

    @classmethod
    def fit_itemknn(cls, train: Interactions, params: dict[str, Any]) -> Prior:
        """Fit ItemKNN on ``train``; keep its sparse item-item similarity as the weights."""
        from advrec.models import create

        knn = create("itemknn", **params).fit(train)
        return cls(train.binary_csr, weights=knn.similarity_.tocsc().astype(np.float32))  # type: ignore[attr-defined]

    @property
    def dense(self) -> bool:
        """Whether every user's scores are stored (needed by the residual mode)."""
        return self.scores is not None

    def user_rows(self, users: np.ndarray) -> torch.Tensor:
        """Scores of ``users`` (users x items, float32, CPU)."""
        users = np.asarray(users, dtype=np.int64)
        if self.scores is not None:
            return self.scores[torch.from_numpy(users)]
        rows = self.seen[users].astype(np.float32)
        if isinstance(self.weights, torch.Tensor):
            return torch.from_numpy(np.asarray(rows @ self.weights.numpy(), np.float32))
        return torch.from_numpy(np.asarray((rows @ self.weights).toarray(), np.float32))

    def state(self) -> dict[str, torch.Tensor]:
        """Tensors to save (keys ``prior``, ``prior_b`` or ``prior_b.*``)."""
        if self.scores is not None:
            return {"prior": self.scores}
        if isinstance(self.weights, torch.Tensor):
            return {"prior_b": self.weights}
        w = self.weights
        assert w is not None
        return {"prior_b.data": torch.from_numpy(w.data), "prior_b.indices": torch.from_numpy(w.indices.astype(np.int64)),
                "prior_b.indptr": torch.from_numpy(w.indptr.astype(np.int64))}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor], seen: sp.csr_matrix) -> Prior | None:
        """The prior saved by :meth:`state`, or None when the state has none."""
        n = seen.shape[1]
        if "prior" in state:
            return cls(seen, scores=state["prior"])
        if "prior_b" in state:
            return cls(seen, weights=state["prior_b"])
        if "prior_b.data" in state:
            w = sp.csc_matrix((state["prior_b.data"].numpy(), state["prior_b.indices"].numpy(),
                               state["prior_b.indptr"].numpy()), shape=(n, n))
            return cls(seen, weights=w)
        return None


def standardise(x: torch.Tensor) -> torch.Tensor:
    """Each row shifted and scaled to mean 0, std 1."""
    return (x - x.mean(1, keepdim=True)) / (x.std(1, keepdim=True) + 1e-8)


def blend(a: torch.Tensor, b: torch.Tensor, w: float) -> torch.Tensor:
    """``(1 - w) z(a) + w z(b)`` with ``z`` standardising each row (:func:`standardise`)."""
    return (1.0 - w) * standardise(a) + w * standardise(b)
