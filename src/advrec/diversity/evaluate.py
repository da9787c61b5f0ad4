"""Accuracy and diversity of re-ranked lists, through the one evaluator.

:class:`RerankedView` shows a fitted model to :class:`~advrec.eval.Evaluator` with each user's top
``k`` replaced by the re-ranked list (the rest of the ranking unchanged), so NDCG, recall, coverage,
Gini and intra-list diversity are those of the lists a user would see.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from advrec.data.features import genre_matrix
from advrec.data.interactions import Interactions
from advrec.diversity.rerank import Method, lift, rerank
from advrec.errors import DataError
from advrec.eval.evaluator import Evaluator
from advrec.models.base import Recommender


class RerankedView:
    """A fitted model whose top-``k`` per user is re-ranked (MMR or DPP) over item ``vectors``.

    It has what the evaluator needs (``name``, ``n_users``, ``n_items``, ``is_fitted``,
    ``score``); training items are excluded before re-ranking, as the evaluator excludes them.
    """

    def __init__(self, model: Recommender, vectors: np.ndarray, k: int, *, method: Method, lam: float,
                 candidates: int) -> None:
        if vectors.shape[0] != model.n_items:
            raise DataError(f"re-ranking: {vectors.shape[0]} item vectors for {model.n_items} items")
        self.model, self.k = model, k
        self.name, self.n_users, self.n_items, self.is_fitted = model.name, model.n_users, model.n_items, True
        self._vectors = torch.tensor(np.asarray(vectors, np.float32))
        self._options: dict[str, Any] = {"method": method, "lam": lam, "candidates": candidates}
        self.lists: dict[int, np.ndarray] = {}

    def score(self, users: np.ndarray) -> torch.Tensor:
        """Scores whose top ``k`` are the re-ranked lists (in their order); the rest as the model's."""
        u = np.asarray(users, np.int64)
        base = self.model.score(u).masked_fill(self.model.seen_mask(u), float("-inf"))
        top = rerank(base, self._vectors, self.k, **self._options)
        self.lists.update(zip(u.tolist(), top.numpy(), strict=True))
        return lift(base, top)


def evaluate_reranked(model: Recommender, train: Interactions, test: Interactions, *, method: Method, lam: float,
                      vectors: np.ndarray, k: int = 20, candidates: int = 100,
                      embeddings: np.ndarray | None = None) -> dict[str, Any]:
    """Metrics of the re-ranked top-``k`` lists of every test user.

    Returns
    -------
    dict
        ``metrics``: the evaluator's (NDCG@k, recall@k, ..., coverage@k, gini@k, ``ild@k`` over
        ``vectors``), plus ``ild_genres@k`` and ``genre_coverage@k`` (mean share of the genres a list
        covers) when the data has genres and ``ild_embeddings@k`` with ``embeddings``; ``n_users``.
    """
    view = RerankedView(model, vectors, k, method=method, lam=lam, candidates=candidates)
    res = Evaluator((k,), item_features=vectors).evaluate(view, train, test)  # type: ignore[arg-type]
    metrics = {key.lower(): float(v) for key, v in res.summary.items()}
    lists = np.stack([view.lists[int(u)] for u in res.users]) if len(res.users) else np.zeros((0, k), np.int64)
    genres = genre_matrix(train)
    if genres is not None:
        metrics[f"ild_genres@{k}"] = intra_list_distance(lists, genres)
        metrics[f"genre_coverage@{k}"] = float((genres[lists].max(axis=1) > 0).mean()) if len(lists) else 0.0
    if embeddings is not None:
        metrics[f"ild_embeddings@{k}"] = intra_list_distance(lists, embeddings)
    return {"metrics": metrics, "n_users": int(res.n_evaluated)}


def intra_list_distance(lists: np.ndarray, vectors: np.ndarray) -> float:
    """Mean over lists of the mean pairwise cosine distance of their items' vectors."""
    if not len(lists) or lists.shape[1] < 2:
        return 0.0
    v = torch.nn.functional.normalize(torch.as_tensor(vectors, dtype=torch.float64), dim=1)[torch.as_tensor(lists)]
    gram = v @ v.transpose(1, 2)
    n = lists.shape[1]
    return float(((1.0 - gram).sum(dim=(1, 2)) / (n * (n - 1))).mean())
