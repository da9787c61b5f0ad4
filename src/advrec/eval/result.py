"""The result type of every evaluation: :class:`EvalResult`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd


@dataclass
class EvalResult:
    """Per-user metric vectors and their summary for one (model, test set) evaluation.

    Attributes
    ----------
    users
        Evaluated user indices, ascending: users with at least one test item
        outside the excluded (training) interactions.
    per_user
        ``"ndcg@20" -> float64 vector`` aligned with ``users``; ``"auc"`` has no
        cutoff; ``"novelty@K"``, ``"arp@K"`` (and ``"ild@K"`` with item features)
        are per-user beyond-accuracy values. NaN marks an undefined value.
    summary
        Mean of every per-user vector (NaN ignored) plus ``"coverage@K"`` and
        ``"gini@K"`` of the whole set of recommended lists.
    ks
        Cutoffs.
    n_users, n_items
        Size of the id space (not the number of evaluated users; see ``users``).
    meta
        Provenance: model name, test and exclude names, chunk size, seconds.
    """

    users: np.ndarray
    per_user: dict[str, np.ndarray]
    summary: dict[str, float]
    ks: tuple[int, ...]
    n_users: int
    n_items: int
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def n_evaluated(self) -> int:
        """Number of evaluated users."""
        return len(self.users)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly summary and counts (NaN becomes None)."""
        summ = {k: (None if not np.isfinite(v) else float(v)) for k, v in self.summary.items()}
        return {
            "summary": summ,
            "ks": list(self.ks),
            "n_users": int(self.n_users),
            "n_items": int(self.n_items),
            "n_evaluated": self.n_evaluated,
            "meta": dict(self.meta),
        }

    def to_frame(self) -> pd.DataFrame:
        """Per-user table: a ``user`` column and one column per per-user metric."""
        cols: dict[str, np.ndarray] = {"user": self.users}
        cols.update(self.per_user)
        return pd.DataFrame(cols)


def nanmean(v: np.ndarray) -> float:
    """Mean of the finite values of ``v`` (NaN when there are none): a summary of a per-user vector."""
    ok = np.isfinite(v)
    return float(v[ok].mean()) if ok.any() else float("nan")
