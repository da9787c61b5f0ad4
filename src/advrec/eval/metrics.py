"""Ranking metrics on chunks of users, vectorised in torch.

Every function here works on one chunk of users at a time and returns one
float64 value per user; :class:`advrec.eval.Evaluator` streams the chunks.
Definitions (with exact formulas) are in ``docs/evaluation.md``.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp
import torch

from advrec.errors import AdvrecError

if TYPE_CHECKING:
    from advrec.models.base import Recommender

DEFAULT_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "mrr", "map", "hitrate", "auc")
"""Accuracy metrics computed by default. All but ``auc`` are reported at every cutoff K."""

CUTOFF_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "mrr", "map", "hitrate")
"""Metrics that take a cutoff K (reported as ``"<name>@<K>"``)."""

def top_items(scores: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Top-``k`` item indices per row, best first, ties broken by lower item index.

    ``torch.topk`` gives the k-th largest value ``v`` of each row whatever its
    tie order. Rows where exactly ``k`` items score ``>= v`` already have the
    right set. In the other rows (a tie straddles the cut) the set is rebuilt
    exactly: every item scoring ``> v`` plus the lowest-indexed items scoring
    ``== v``. Finally each list is ordered by (score descending, item index
    ascending), so the result does not depend on the ``topk`` implementation
    or the device.

    Parameters
    ----------
    scores
        ``(n_users, n_items)`` scores without NaN.
    k
        List length, ``1 <= k <= n_items``.

    Returns
    -------
    tuple of torch.Tensor
        ``(indices, values)``: int64 item indices and their scores, both
        ``(n_users, k)``.
    """
    n_items = scores.shape[1]
    idx = torch.topk(scores, k, dim=1, sorted=False).indices
    kth = torch.gather(scores, 1, idx).amin(dim=1, keepdim=True)
    tied = (scores >= kth).view(torch.uint8).sum(dim=1, dtype=torch.int32) > k
    if bool(tied.any()):
        rows = torch.nonzero(tied).squeeze(1)
        sub, v = scores[rows], kth[rows]
        # rank key: items above the cut first, then tied items by ascending index
        dtype = torch.float32 if n_items < 2**24 else torch.float64
        rank = torch.arange(n_items, 0, -1, device=scores.device, dtype=dtype).expand_as(sub)
        key = torch.where(sub > v, float(2 * n_items), torch.where(sub == v, rank, -1.0))
        idx[rows] = torch.topk(key, k, dim=1, sorted=False).indices
    idx = torch.sort(idx, dim=1).values
    vals = torch.gather(scores, 1, idx)
    order = torch.sort(vals, dim=1, descending=True, stable=True).indices
    return torch.gather(idx, 1, order), torch.gather(vals, 1, order)


def _sorted_rows(scores: torch.Tensor) -> torch.Tensor:
    """Each row sorted ascending (NumPy's vectorised sort on CPU, torch elsewhere)."""
    if scores.device.type == "cpu":
        return torch.from_numpy(np.sort(scores.numpy(), axis=1))
    return torch.sort(scores, dim=1).values


def discounts(k: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``1 / log2(r + 2)`` for ranks ``r = 0 .. k-1`` (float64)."""
    r = torch.arange(k, device=device, dtype=torch.float64)
    return 1.0 / torch.log2(r + 2.0)


def cutoff_metrics(
    hits: torch.Tensor, n_rel: torch.Tensor, k: int, names: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    """Cutoff metrics at ``k`` from a hit matrix.

    Parameters
    ----------
    hits
        ``(n_users, >= k)`` 0/1 float64 matrix; ``hits[u, r] = 1`` when the item at
        rank ``r`` (0-based) of user ``u``'s list is a test item.
    n_rel
        ``(n_users,)`` float64 number of test items per user (all ``>= 1``).
    k
        The cutoff.
    names
        Which of :data:`CUTOFF_METRICS` to compute.

    Returns
    -------
    dict
        ``{name: (n_users,) float64 tensor}``.
    """
    h = hits[:, :k]
    n_hits = h.sum(dim=1)
    ranks = torch.arange(1, k + 1, device=h.device, dtype=torch.float64)
    out: dict[str, torch.Tensor] = {}
    if "precision" in names:
        out["precision"] = n_hits / k
    if "recall" in names:
        out["recall"] = n_hits / n_rel
    if "ndcg" in names:
        disc = discounts(k, h.device)
        dcg = (h * disc).sum(dim=1)
        ideal = torch.cumsum(disc, 0)
        n_ideal = torch.clamp(n_rel, max=k).long()
        out["ndcg"] = dcg / ideal[n_ideal - 1]
    if "mrr" in names:
        out["mrr"] = (h / ranks).amax(dim=1)
    if "map" in names:
        prec_at_r = torch.cumsum(h, dim=1) / ranks
        out["map"] = (prec_at_r * h).sum(dim=1) / torch.clamp(n_rel, max=k)
    if "hitrate" in names:
        out["hitrate"] = (n_hits > 0).to(torch.float64)
    return out


def auc(
    scores: torch.Tensor, rel_rows: torch.Tensor, rel_cols: torch.Tensor, n_excluded: torch.Tensor
) -> torch.Tensor:
    """Per-user AUC: P(random test item outranks random candidate non-test item), ties 0.5.

    Candidates are the items that are not excluded; excluded items must hold
    ``-inf`` in ``scores`` and every other score must be finite. With midranks
    (average ranks of tied items, 1-based, ascending by score) over the
    candidates, ``AUC = (sum of midranks of test items - P (P + 1) / 2) / (P N)``
    for ``P`` test items and ``N`` candidate non-test items (Mann-Whitney U).
    Users with ``N == 0`` get NaN.

    Parameters
    ----------
    scores
        ``(n_users, n_items)`` float32 masked scores of the chunk.
    rel_rows, rel_cols
        int64 row (within the chunk) and item index of every test item, grouped
        by row in ascending order.
    n_excluded
        ``(n_users,)`` int64 number of excluded items per row.
    """
    n_users, n_items = scores.shape
    dev = scores.device
    n_pos = torch.bincount(rel_rows, minlength=n_users)
    starts = torch.cumsum(n_pos, 0) - n_pos
    slot = torch.arange(len(rel_rows), device=dev) - starts[rel_rows]
    width = int(n_pos.max().item()) if len(rel_rows) else 0
    pos = torch.full((n_users, max(width, 1)), float("inf"), device=dev, dtype=scores.dtype)
    pos[rel_rows, slot] = scores[rel_rows, rel_cols]
    ordered = _sorted_rows(scores)
    below = torch.searchsorted(ordered, pos, side="left")
    upto = torch.searchsorted(ordered, pos, side="right")
    del ordered
    # midrank among candidates: excluded items (-inf) sit below every finite score
    mid = (below - n_excluded[:, None]).to(torch.float64) + (upto - below + 1).to(torch.float64) / 2
    valid = torch.arange(pos.shape[1], device=dev)[None, :] < n_pos[:, None]
    rank_sum = torch.where(valid, mid, torch.zeros_like(mid)).sum(dim=1)
    p = n_pos.to(torch.float64)
    n_neg = (n_items - n_excluded - n_pos).to(torch.float64)
    u_stat = rank_sum - p * (p + 1) / 2
    return torch.where(n_neg > 0, u_stat / (p * n_neg), torch.full_like(p, float("nan")))


# ------------------------------------------------------- chunk preparation
def relevant_matrix(test_bin: sp.csr_matrix, excl: sp.csr_matrix, test_name: str, excl_name: str) -> sp.csr_matrix:
    """Binary test CSR without the pairs that are also excluded (warns with their number)."""
    overlap = test_bin.multiply(excl).tocsr()
    overlap.eliminate_zeros()
    if overlap.nnz == 0:
        return test_bin
    warnings.warn(
        f"{overlap.nnz} test pairs of {test_name!r} are also in {excl_name!r}; they are excluded "
        "from ranking and dropped from the test set",
        stacklevel=3,
    )
    rel = (test_bin - overlap).tocsr()
    rel.eliminate_zeros()
    rel.sort_indices()
    return rel


def finite_scores(model: Recommender, chunk: np.ndarray, scores: torch.Tensor | None = None) -> torch.Tensor:
    """``model.score(chunk)`` (or the given ``scores`` of ``chunk``) as float32; NaN raises,
    +-inf are clamped to the finite range."""
    scores = (model.score(chunk) if scores is None else scores).to(torch.float32)
    if bool(torch.isfinite(scores.sum())) or bool(torch.isfinite(scores).all()):
        return scores  # a finite total proves every entry finite (cheap common case)
    if bool(torch.isnan(scores).any()):
        bad = int(torch.nonzero(torch.isnan(scores).any(dim=1))[0, 0])
        raise AdvrecError(f"{model.name}: score() returned NaN for user index {int(chunk[bad])}")
    info = torch.finfo(torch.float32)
    return torch.nan_to_num(scores, posinf=info.max, neginf=info.min)


def dense_rows(rows: sp.csr_matrix, device: torch.device) -> torch.Tensor:
    """Dense bool mask of the nonzeros of a (chunk-sized) CSR slice."""
    mask = torch.zeros(rows.shape, dtype=torch.bool, device=device)
    r = torch.from_numpy(np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))).to(device)
    c = torch.from_numpy(rows.indices.astype(np.int64)).to(device)
    mask[r, c] = True
    return mask
