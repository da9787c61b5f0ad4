"""Target-item metrics: how often given items reach users' top-K lists (shilling attacks)."""

from __future__ import annotations

import time
from collections.abc import Iterable

import numpy as np
import torch

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError
from advrec.eval.evaluator import Evaluator
from advrec.eval.inputs import check_ks, check_spaces
from advrec.eval.metrics import dense_rows, finite_scores, top_items
from advrec.eval.result import EvalResult, nanmean
from advrec.models.base import Recommender


def _index_array(values: Iterable[int] | np.ndarray, size: int, label: str, kind: str) -> np.ndarray:
    """Sorted unique int64 indices in ``[0, size)``; ConfigError / DataError naming ``label``."""
    a = np.asarray(list(values) if not isinstance(values, np.ndarray) else values)
    if a.ndim != 1 or not len(a) or not np.issubdtype(a.dtype, np.integer):
        raise ConfigError(f"{label} must be a non-empty 1-D array of {kind} indices, got shape {a.shape} "
                          f"and dtype {a.dtype}")
    if a.min() < 0 or a.max() >= size:
        bad = int(a[(a < 0) | (a >= size)][0])
        raise DataError(f"{label}: {kind} index {bad} is outside [0, {size})")
    return np.unique(a).astype(np.int64)


def target_item_metrics(
    model: Recommender,
    exclude: Interactions,
    targets: Iterable[int] | np.ndarray,
    *,
    ks: Iterable[int] = (20,),
    users: Iterable[int] | np.ndarray | None = None,
    chunk_size: int | None = None,
) -> EvalResult:
    """Hit ratio and NDCG of target items in users' full-ranking top-K lists.

    The metric of shilling-attack papers: for each user, every target the user
    has not interacted with in ``exclude`` counts; its rank is its 1-based
    position in the user's ranking of all items with the ``exclude`` items
    removed (ties by lower item index, as in :class:`Evaluator`).
    ``hr@K`` = mean over those targets of ``[rank <= K]``; ``ndcg@K`` = mean of
    ``1 / log2(rank + 1)`` if ``rank <= K`` else 0. Users who have interacted
    with every target are not evaluated. Users are streamed in chunks: one
    top-``max(ks)`` per chunk, and one comparison of the targets with it.

    Parameters
    ----------
    model
        A fitted recommender.
    exclude
        The interactions masked from ranking (the training data, fake users included).
    targets
        Item indices of the target items.
    ks
        Cutoffs.
    users
        User indices to evaluate (e.g. the real users, not injected ones); all by default.
    chunk_size
        Users per chunk (default: the :class:`Evaluator` memory budget).

    Returns
    -------
    EvalResult
        ``per_user`` holds ``"hr@K"`` and ``"ndcg@K"``; ``meta["n_targets"]`` the number of targets.
    """
    start = time.perf_counter()
    n_users, n_items = check_spaces(model, exclude, exclude)
    cuts = check_ks(ks)
    if cuts[-1] > n_items:
        raise ConfigError(f"ks: cutoff {cuts[-1]} exceeds the number of items ({n_items})")
    tgt = _index_array(targets, n_items, "targets", "item")
    pool = np.arange(n_users, dtype=np.int64) if users is None else _index_array(users, n_users, "users", "user")
    excl = exclude.binary_csr
    n_open = len(tgt) - np.asarray(excl[pool][:, tgt].sum(axis=1)).ravel()
    evaluated = pool[n_open > 0]
    if not len(evaluated):
        raise DataError(f"target_item_metrics: every evaluated user has interacted with all {len(tgt)} targets "
                        f"in {exclude.name!r}; nothing to evaluate")
    step = Evaluator(cuts, chunk_size=chunk_size).chunk_users(n_items)
    tgt_t = torch.from_numpy(tgt)
    parts: dict[str, list[np.ndarray]] = {f"{m}@{k}": [] for m in ("hr", "ndcg") for k in cuts}
    for s in range(0, len(evaluated), step):
        chunk = evaluated[s : s + step]
        scores = finite_scores(model, chunk)
        mask = dense_rows(excl[chunk], scores.device)
        scores = scores.masked_fill(mask, float("-inf"))
        top, _ = top_items(scores, cuts[-1])
        del scores
        open_t = ~mask[:, tgt_t.to(mask.device)]  # (chunk, n_targets): targets the user has not seen
        found = top[:, :, None] == tgt_t.to(top.device)[None, None, :]  # (chunk, K, n_targets)
        pos = torch.where(found.any(dim=1), found.to(torch.int8).argmax(dim=1), cuts[-1])  # 0-based rank
        n = open_t.sum(dim=1).to(torch.float64)
        for k in cuts:
            hit = (pos < k) & open_t
            gain = torch.where(hit, 1.0 / torch.log2(pos.to(torch.float64) + 2.0), 0.0)
            parts[f"hr@{k}"].append((hit.sum(dim=1) / n).cpu().numpy())
            parts[f"ndcg@{k}"].append((gain.sum(dim=1) / n).cpu().numpy())
    per_user = {key: np.concatenate(v).astype(np.float64) for key, v in parts.items()}
    meta = {"model": model.name, "exclude": exclude.name, "kind": "target-items", "n_targets": len(tgt),
            "chunk_size": step, "seconds": round(time.perf_counter() - start, 3)}
    summary = {key: nanmean(v) for key, v in per_user.items()}
    return EvalResult(evaluated, per_user, summary, cuts, n_users, n_items, meta)
