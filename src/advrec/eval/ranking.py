"""The evaluator's kernel: rank one chunk of users and compute its per-user metric vectors.

:func:`chunk_metrics` is what :class:`~advrec.eval.Evaluator` runs per chunk of users
(exclusion mask, top-K, hits, cutoff metrics, AUC, beyond-accuracy update);
:func:`restrict_to_candidates` prepares a candidate-restricted evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from advrec.errors import DataError
from advrec.eval.beyond import BeyondAccumulator
from advrec.eval.metrics import CUTOFF_METRICS, auc, cutoff_metrics, dense_rows, top_items


def chunk_metrics(
    scores: torch.Tensor,
    chunk: np.ndarray,
    excl: sp.csr_matrix,
    rel: sp.csr_matrix,
    ks: Sequence[int],
    metrics: Sequence[str],
    acc: BeyondAccumulator | None,
    blocked: torch.Tensor | None = None,
) -> dict[str, np.ndarray]:
    """Per-user float64 metric vectors of one chunk of users, ``"ndcg@20" -> (len(chunk),)``.

    Parameters
    ----------
    scores
        ``(len(chunk), n_items)`` finite scores of the chunk's users.
    chunk
        The users' indices (rows of ``excl`` and ``rel``).
    excl, rel
        Users x items CSR of the excluded (training) and the relevant (test) items.
    ks, metrics
        The cutoffs (ascending) and metric names; vectors come metric by metric, each
        at every cutoff, then ``"auc"``.
    acc
        Beyond-accuracy accumulator updated with the chunk's top lists (its per-user
        vectors are added), or None.
    blocked
        ``(n_items,)`` bool mask of items that are never ranked (non-candidates), or None.
    """
    dev = scores.device
    excl_rows = excl[chunk]
    mask = dense_rows(excl_rows, dev)
    if blocked is None:
        n_excl = torch.from_numpy(np.diff(excl_rows.indptr).astype(np.int64)).to(dev)
    else:  # non-candidates are excluded like training items
        mask |= blocked.to(dev)[None, :]
        n_excl = mask.sum(dim=1)
    scores = scores.masked_fill(mask, float("-inf"))
    del mask
    top, top_val = top_items(scores, max(ks))
    rows = rel[chunk]
    rr = torch.from_numpy(np.repeat(np.arange(len(chunk)), np.diff(rows.indptr))).to(dev)
    rc = torch.from_numpy(rows.indices.astype(np.int64)).to(dev)
    n_items = scores.shape[1]
    rel_keys = rr * n_items + rc
    top_keys = torch.arange(len(chunk), device=dev)[:, None] * n_items + top
    hits = torch.isin(top_keys, rel_keys).to(torch.float64)
    n_rel = torch.from_numpy(np.diff(rows.indptr).astype(np.float64)).to(dev)
    out: dict[str, torch.Tensor] = {}
    names = tuple(m for m in CUTOFF_METRICS if m in metrics)
    for k in ks:
        for name, vec in cutoff_metrics(hits, n_rel, k, names).items():
            out[f"{name}@{k}"] = vec
    order = [f"{m}@{k}" for m in metrics if m != "auc" for k in ks]
    out = {key: out[key] for key in order}
    if "auc" in metrics:
        out["auc"] = auc(scores, rr, rc, n_excl)
    del scores
    if acc is not None:
        out.update(acc.update(top, top_val > float("-inf")))
    return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in out.items()}


def restrict_to_candidates(
    rel: sp.csr_matrix, candidates: np.ndarray | None, n_items: int
) -> tuple[sp.csr_matrix, torch.Tensor | None]:
    """Test pairs among the candidates only, and the ``(n_items,)`` mask of blocked items (or None)."""
    if candidates is None:
        return rel, None
    if candidates[-1] >= n_items:
        raise DataError(f"candidates: item index {int(candidates[-1])} is outside the {n_items} items")
    allowed = np.zeros(n_items, dtype=bool)
    allowed[candidates] = True
    keep = allowed[rel.indices]
    rows = np.repeat(np.arange(rel.shape[0]), np.diff(rel.indptr))
    out = sp.csr_matrix((rel.data[keep], (rows[keep], rel.indices[keep])), shape=rel.shape)
    out.sort_indices()
    return out, torch.from_numpy(~allowed)
