"""Diversity re-rankers over any recommender: MMR and the fast greedy DPP.

Both re-rank each user's ``candidates`` best-scored items (training items excluded) into a top-``k``
list, trading relevance for diversity with one knob ``lam`` in [0, 1]: 1 keeps the model's ranking,
smaller values favour items unlike those already chosen. Similarity is the cosine of item vectors
(genre multi-hot, content or model embeddings). Relevance is the model's score min-max normalised
over the user's candidates, so the knob means the same for every model.

MMR (Carbonell & Goldstein, SIGIR 1998): pick ``argmax lam * rel(i) - (1 - lam) * max_{j chosen} sim(i, j)``.

DPP (Chen, Zhang & Zhou, "Fast Greedy MAP Inference for Determinantal Point Process to Improve
Recommendation Diversity", NeurIPS 2018): the kernel ``L = Diag(q) S Diag(q)`` with quality
``q = exp(alpha * rel)``, ``alpha = lam / (2 (1 - lam))`` (the paper's trade-off, its theta = lam),
and ``S`` the (positive semi-definite) cosine similarity; the greedy MAP adds the item with the
largest gain in log det, updated incrementally through a Cholesky factor (O(k^2 N) per user). When
every remaining gain is ~0 (the chosen items span the candidates' space), the rest of the list
follows relevance. Both run on a batch of users at once.
"""

from __future__ import annotations

from typing import Literal

import torch

Method = Literal["mmr", "dpp"]
#: a log-det gain below this is "nothing new" (the DPP falls back to relevance)
_EPS = 1e-10


def _candidates(scores: torch.Tensor, vectors: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor,
                                                                                torch.Tensor]:
    """Each row's ``n`` best items: indices ``(B, n)``, relevance in [0, 1] (``-inf`` for excluded
    slots) and the pairwise cosine similarities ``(B, n, n)``."""
    top = torch.topk(scores, min(n, scores.shape[1]), dim=1)
    s = top.values
    finite = torch.isfinite(s)
    lo = torch.where(finite, s, torch.inf).min(dim=1, keepdim=True).values
    hi = torch.where(finite, s, -torch.inf).max(dim=1, keepdim=True).values
    rel = torch.where(finite, (s - lo) / (hi - lo).clamp_min(1e-12), -torch.inf)
    v = torch.nn.functional.normalize(vectors.float(), dim=1)[top.indices]
    return top.indices, rel, v @ v.transpose(1, 2)


def mmr(rel: torch.Tensor, sim: torch.Tensor, k: int, lam: float) -> torch.Tensor:
    """Positions ``(B, k)`` in the candidate lists chosen by maximal marginal relevance."""
    b, n = rel.shape
    chosen = torch.zeros((b, k), dtype=torch.int64)
    max_sim = torch.zeros((b, n))
    free = torch.isfinite(rel)
    rows = torch.arange(b)
    for t in range(k):
        gain = lam * rel.nan_to_num(neginf=0.0) - (1.0 - lam) * max_sim
        j = torch.where(free, gain, -torch.inf).argmax(dim=1)
        chosen[:, t] = j
        free[rows, j] = False
        max_sim = torch.maximum(max_sim, sim[rows, j])
    return chosen


def dpp(rel: torch.Tensor, sim: torch.Tensor, k: int, lam: float) -> torch.Tensor:
    """Positions ``(B, k)`` in the candidate lists chosen by the greedy DPP MAP of Chen et al. (2018)."""
    b, n = rel.shape
    free = torch.isfinite(rel)
    r = rel.nan_to_num(neginf=0.0).double()
    alpha = lam / (2.0 * (1.0 - lam)) if lam < 1.0 else None
    if alpha is None:  # lam = 1: relevance alone
        return torch.where(free, r, -torch.inf).argsort(dim=1, descending=True)[:, :k]
    q = torch.exp(alpha * (r - 1.0))  # exp(alpha * rel) scaled by exp(-alpha): the same ranking, no overflow
    kernel = q[:, :, None] * sim.double() * q[:, None, :]
    chol = torch.zeros((b, k, n), dtype=torch.float64)
    d2 = torch.diagonal(kernel, dim1=1, dim2=2).clone()
    chosen = torch.zeros((b, k), dtype=torch.int64)
    rows = torch.arange(b)
    for t in range(k):
        gain = torch.where(free, d2, -torch.inf)
        best = gain.max(dim=1)
        fallback = torch.where(free, r, -torch.inf).argmax(dim=1)  # nothing new left: by relevance
        j = torch.where(best.values > _EPS, best.indices, fallback)
        chosen[:, t] = j
        free[rows, j] = False
        dj = d2[rows, j].clamp_min(_EPS).sqrt()
        e = (kernel[rows, j] - torch.einsum("bt,btn->bn", chol[rows, :t, j], chol[:, :t])) / dj[:, None]
        chol[:, t] = e
        d2 = d2 - e.square()
    return chosen


def rerank(scores: torch.Tensor, vectors: torch.Tensor, k: int, *, method: Method = "mmr", lam: float = 0.5,
           candidates: int = 100) -> torch.Tensor:
    """Re-ranked top-``k`` item indices ``(B, k)`` of each row of ``scores``.

    Parameters
    ----------
    scores
        ``(B, n_items)`` model scores, ``-inf`` for items that must not be recommended.
    vectors
        ``(n_items, d)`` item vectors whose cosine is the similarity.
    k
        List length.
    method
        ``"mmr"`` or ``"dpp"``.
    lam
        Weight of relevance in [0, 1] (1: the model's ranking).
    candidates
        How many of each user's best-scored items are re-ranked (at least ``k``).

    Raises
    ------
    ValueError
        For ``lam`` outside [0, 1], an unknown method or ``candidates < k``.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lambda must be in [0, 1], got {lam}")
    if candidates < k:
        raise ValueError(f"candidates ({candidates}) must be at least k ({k})")
    pick = {"mmr": mmr, "dpp": dpp}.get(method)
    if pick is None:
        raise ValueError(f"unknown re-ranking method {method!r}; use 'mmr' or 'dpp'")
    index, rel, sim = _candidates(scores, vectors, candidates)
    k = min(k, index.shape[1])
    return torch.gather(index, 1, pick(rel, sim, k, lam))


def lift(scores: torch.Tensor, top: torch.Tensor) -> torch.Tensor:
    """``scores`` with the items of ``top`` (``(B, k)``, best first) moved to the head, in that order
    (items scored ``-inf`` stay excluded); the rest of each row keeps its order."""
    out = scores.clone()
    chosen = torch.gather(scores, 1, top)
    head = torch.arange(top.shape[1], 0, -1, dtype=out.dtype).expand_as(top) + scores.max().clamp_min(0) + 1e6
    out.scatter_(1, top, torch.where(torch.isfinite(chosen), head, chosen))
    return out
