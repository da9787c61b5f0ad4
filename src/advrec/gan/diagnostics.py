"""Mode-collapse diagnostics for generated interaction data (vectorised torch).

A generator of purchase vectors *collapses* when it produces (nearly) the same
profile for everyone. The signals, computed on a users x items matrix:

* **catalogue coverage** of the generated vectors: the fraction of items that
  appear in at least one row's top-k (a collapsed generator covers ``k / n_items``);
* **mean pairwise distance** between generated profiles, set beside the same
  quantity for the real profiles (collapse drives it to 0);
* **popularity divergence**: Jensen-Shannon divergence (base 2, in [0, 1])
  between the item-popularity histograms of real and generated profiles;
* **discriminator accuracy** on real and fake rows (logged by the trainer).

Generated scores are turned into binary profiles comparable with the real ones
by :func:`binarize_topk` with each row's real profile length.
"""

from __future__ import annotations

import numpy as np
import torch

_LOG2 = 0.6931471805599453


def binarize_topk(scores: torch.Tensor, k: int | torch.Tensor) -> torch.Tensor:
    """Boolean matrix marking each row's ``k`` (or ``k[row]``) highest scores.

    Ties are broken towards the lower column index. ``k`` is clipped to
    ``[0, n_cols]``.
    """
    from advrec.eval.metrics import (
        top_items,  # lazy: the evaluation package imports the models
    )

    n_rows, n_cols = scores.shape
    kk = torch.as_tensor(k, dtype=torch.long, device=scores.device).expand(n_rows).clamp(0, n_cols)
    out = torch.zeros((n_rows, n_cols), dtype=torch.bool, device=scores.device)
    kmax = int(kk.max()) if n_rows else 0
    if kmax == 0:
        return out
    # top_items orders by (score descending, column ascending): a stable descending sort's prefix
    top = top_items(torch.nan_to_num(scores.to(torch.float32)), kmax)[0]
    keep = torch.arange(kmax, device=scores.device)[None, :] < kk[:, None]
    out[torch.arange(n_rows, device=scores.device)[:, None].expand_as(top)[keep], top[keep]] = True
    return out


def catalogue_coverage(scores: torch.Tensor, k: int, exclude: torch.Tensor | None = None) -> float:
    """Fraction of columns in at least one row's top-``k`` of ``scores``.

    Parameters
    ----------
    scores
        ``(n_rows, n_items)`` generated vectors.
    k
        List length per row.
    exclude
        Optional boolean mask of entries that may not be chosen (e.g. the
        user's training items, which turns this into recommendation coverage).
    """
    n_items = scores.shape[1]
    if scores.shape[0] == 0 or n_items == 0:
        return 0.0
    if exclude is not None:
        scores = scores.masked_fill(exclude, float("-inf"))
    top = torch.topk(scores, min(int(k), n_items), dim=1).indices
    hit = torch.zeros(n_items, dtype=torch.bool, device=scores.device)
    hit[top.reshape(-1)] = True
    return float(hit.float().mean())


def sample_rows(n_rows: int, max_rows: int | None, generator: torch.Generator | None = None) -> torch.Tensor:
    """All row indices, or a sorted uniform sample of ``max_rows`` of them."""
    if max_rows is None or n_rows <= max_rows:
        return torch.arange(n_rows)
    return torch.randperm(n_rows, generator=generator)[:max_rows].sort().values


def mean_pairwise_distance(x: torch.Tensor) -> float:
    """Mean Euclidean distance over all unordered pairs of distinct rows of ``x``.

    Identical rows give 0; fewer than two rows give 0. Memory is
    ``O(n_rows^2)``: sample rows first (:func:`sample_rows`) for large matrices.
    """
    n = x.shape[0]
    if n < 2:
        return 0.0
    if x.dtype == torch.bool:  # sparse profiles: a sparse Gram matrix of exact integer counts
        import scipy.sparse as sp

        xs = sp.csr_matrix(x.cpu().numpy(), dtype=np.float64)
        gram = torch.from_numpy((xs @ xs.T).toarray())
    else:
        xf = x.to(torch.float32)  # binary profiles: the Gram entries are exact integer counts
        gram = (xf @ xf.T).to(torch.float64)
    sq = gram.diagonal()
    d2 = (sq[:, None] + sq[None, :] - 2.0 * gram).clamp_min(0.0)
    iu = torch.triu_indices(n, n, offset=1)
    return float(d2[iu[0], iu[1]].sqrt().mean())


def js_divergence(p: torch.Tensor, q: torch.Tensor) -> float:
    """Jensen-Shannon divergence in bits between two histograms (normalised here).

    0 for identical distributions, 1 for disjoint supports. An all-zero
    histogram is treated as uniform.
    """
    p = _normalise(p.to(torch.float64))
    q = _normalise(q.to(torch.float64))
    m = 0.5 * (p + q)
    return float(0.5 * (_kl(p, m) + _kl(q, m)) / _LOG2)


def _normalise(h: torch.Tensor) -> torch.Tensor:
    total = h.sum()
    if total <= 0:
        return torch.full_like(h, 1.0 / max(h.numel(), 1))
    return h / total


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    mask = p > 0
    return (p[mask] * (p[mask] / q[mask]).log()).sum()


def popularity_js(real: torch.Tensor, generated: torch.Tensor) -> float:
    """JS divergence between the item-popularity histograms (column sums) of two profile matrices."""
    return js_divergence(real.to(torch.float64).sum(0), generated.to(torch.float64).sum(0))


def profile_diagnostics(
    real: torch.Tensor,
    generated: torch.Tensor,
    k: int = 20,
    *,
    exclude_seen: bool = True,
    real_pairwise: float | None = None,
) -> dict[str, float]:
    """Every mode-collapse signal for one users x items batch of profiles.

    Parameters
    ----------
    real
        ``(n, n_items)`` binary real profiles (0/1 or bool).
    generated
        ``(n, n_items)`` generator outputs for the same rows.
    k
        Top-k length of the coverage measures.
    exclude_seen
        Also report ``rec_coverage@k``: coverage with each row's real items
        excluded (the coverage of the recommendation lists).
    real_pairwise
        The real profiles' mean pairwise distance if already known (it does
        not change between epochs); computed when None.

    Returns
    -------
    dict
        ``gen_coverage@k`` (top-k of the raw generated vectors),
        ``rec_coverage@k``, ``gen_pairwise`` and ``real_pairwise`` (mean
        pairwise distances of the generated profiles, binarised to each row's
        real length, and of the real ones), ``pop_js`` (popularity JS
        divergence) and ``self_overlap`` (the fraction of a binarised generated
        profile that is the row's own real profile: 1 means the generator
        copies its condition, the degenerate identity solution).
    """
    real_b = real.to(torch.bool)
    lengths = real_b.sum(1)
    gen_b = binarize_topk(generated, lengths)
    out = {
        f"gen_coverage@{k}": catalogue_coverage(generated, k),
        "gen_pairwise": mean_pairwise_distance(gen_b),
        "real_pairwise": mean_pairwise_distance(real_b) if real_pairwise is None else real_pairwise,
        "pop_js": popularity_js(real_b, gen_b),
        "self_overlap": float((gen_b & real_b).sum()) / max(int(lengths.sum()), 1),
    }
    if exclude_seen:
        out[f"rec_coverage@{k}"] = catalogue_coverage(generated, k, exclude=real_b)
    return out
