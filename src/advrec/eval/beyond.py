"""Beyond-accuracy metrics over the recommended top-K lists.

Catalogue coverage, Gini index of exposure, novelty, average recommendation
popularity (ARP) and intra-list diversity (ILD). The evaluator feeds the top-K
index lists chunk by chunk to :class:`BeyondAccumulator`; the per-item
recommendation counts are accumulated with ``bincount`` so no per-user loop and
no users x items matrix is needed. Exact definitions: ``docs/evaluation.md``.
"""

from __future__ import annotations

import numpy as np
import torch

from advrec.errors import DataError


def gini(counts: np.ndarray) -> float:
    """Gini index of non-negative counts (0 = all equal; ``(n-1)/n`` = one item gets all).

    ``G = sum_i (2 i - n - 1) c_(i) / (n * sum_i c_i)`` with ``c_(1) <= ... <= c_(n)``
    sorted ascending and ``i`` 1-based. NaN when every count is zero.
    """
    c = np.sort(np.asarray(counts, dtype=np.float64).ravel())
    n = len(c)
    total = c.sum()
    if n == 0 or total <= 0:
        return float("nan")
    i = np.arange(1, n + 1, dtype=np.float64)
    return float(((2 * i - n - 1) * c).sum() / (n * total))


def normalise_features(item_features: np.ndarray, n_items: int) -> torch.Tensor:
    """Row-normalised float32 copy of an ``(n_items, d)`` feature/embedding matrix.

    All-zero rows stay zero (their cosine similarity to anything is 0).

    Raises
    ------
    DataError
        If the matrix is not 2-D with ``n_items`` rows or holds non-finite values.
    """
    f = np.asarray(item_features, dtype=np.float32)
    if f.ndim != 2 or f.shape[0] != n_items:
        raise DataError(
            f"item_features: expected shape (n_items={n_items}, d), got {tuple(f.shape)}"
        )
    if not np.isfinite(f).all():
        raise DataError("item_features: contains NaN or infinite values")
    t = torch.from_numpy(f.copy())
    norm = torch.linalg.vector_norm(t, dim=1, keepdim=True)
    return t / torch.clamp(norm, min=1e-12)


class BeyondAccumulator:
    """Streams top-K lists chunk by chunk; per-user values now, catalogue values at the end.

    Parameters
    ----------
    ks
        Cutoffs.
    item_train_users
        ``(n_items,)`` number of distinct training users per item.
    n_train_users
        Number of users with at least one training record.
    features
        Row-normalised item feature matrix (see :func:`normalise_features`) or None.
    catalogue
        Sorted item indices that coverage and Gini are over (None: every item),
        e.g. the candidate items of a restricted evaluation.
    """

    def __init__(
        self,
        ks: tuple[int, ...],
        item_train_users: np.ndarray,
        n_train_users: int,
        features: torch.Tensor | None = None,
        *,
        catalogue: np.ndarray | None = None,
    ) -> None:
        self.ks = ks
        self.n_items = len(item_train_users)
        self.catalogue = catalogue
        pop = np.asarray(item_train_users, dtype=np.float64)
        share = np.maximum(pop, 1.0) / max(int(n_train_users), 1)
        self._pop = torch.from_numpy(pop)
        self._self_info = torch.from_numpy(-np.log2(share))
        self._features = features
        self.counts = {k: np.zeros(self.n_items, dtype=np.int64) for k in ks}

    def update(self, top: torch.Tensor, valid: torch.Tensor) -> dict[str, torch.Tensor]:
        """Add one chunk of top lists; return its per-user novelty / ARP / ILD.

        Parameters
        ----------
        top
            ``(n_users, max(ks))`` int64 recommended item indices, best first.
        valid
            Same shape, False where a slot holds an excluded item (only when a
            user has fewer than ``max(ks)`` candidate items); such slots are
            not recommendations and are ignored everywhere.

        Returns
        -------
        dict
            ``{"novelty@K", "arp@K"[, "ild@K"]: (n_users,) float64 CPU tensor}``.
        """
        top = top.cpu()
        valid = valid.cpu()
        out: dict[str, torch.Tensor] = {}
        info = self._self_info[top]
        pop = self._pop[top]
        vf = valid.to(torch.float64)
        gram = None
        if self._features is not None:
            emb = self._features[top]
            gram = torch.bmm(emb, emb.transpose(1, 2)).to(torch.float64)
        for k in self.ks:
            m = vf[:, :k]
            n = m.sum(dim=1)
            sel = top[:, :k][valid[:, :k]]
            self.counts[k] += np.bincount(sel.numpy(), minlength=self.n_items)
            nan = torch.full_like(n, float("nan"))
            out[f"novelty@{k}"] = torch.where(n > 0, (info[:, :k] * m).sum(1) / n, nan)
            out[f"arp@{k}"] = torch.where(n > 0, (pop[:, :k] * m).sum(1) / n, nan)
            if gram is not None:
                off = 1.0 - torch.eye(k, dtype=torch.float64)
                pair = m[:, :, None] * m[:, None, :] * off
                n_pairs = pair.sum(dim=(1, 2))
                dist = ((1.0 - gram[:, :k, :k]) * pair).sum(dim=(1, 2))
                out[f"ild@{k}"] = torch.where(n_pairs > 0, dist / n_pairs, nan)
        return out

    def finish(self) -> dict[str, float]:
        """Catalogue coverage and Gini of exposure at every cutoff (over ``catalogue`` if given)."""
        out: dict[str, float] = {}
        for k in self.ks:
            c = self.counts[k] if self.catalogue is None else self.counts[k][self.catalogue]
            out[f"coverage@{k}"] = float(np.count_nonzero(c)) / len(c) if len(c) else float("nan")
            out[f"gini@{k}"] = gini(c)
        return out
