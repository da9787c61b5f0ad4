"""Metric reports by groups of users (quantiles of their training profile size)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError

if TYPE_CHECKING:
    from advrec.eval.evaluator import EvalResult


def group_report(
    result: EvalResult, train: Interactions, n_groups: int = 4, metric: str = "ndcg@20"
) -> pd.DataFrame:
    """Mean ``metric`` per quantile group of the evaluated users' training size.

    A user's training size is the number of distinct items they have in
    ``train``. Edges are the ``0, 1/n, ..., 1`` quantiles (linear
    interpolation) of the sizes of the evaluated users; repeated edges are
    merged, so fewer than ``n_groups`` groups come back when sizes tie a lot.
    Group ``g`` holds the users with ``lo < size <= hi``; the first group also
    holds ``size == lo``.

    Parameters
    ----------
    result
        An evaluation result.
    train
        The interactions the model was fit on (same id space as ``result``).
    n_groups
        Number of quantile groups.
    metric
        A key of ``result.per_user``.

    Returns
    -------
    pandas.DataFrame
        One row per group: ``group``, ``lo``, ``hi`` (edges of training size),
        ``n_users``, ``mean_train_size``, ``<metric>`` (mean, NaN ignored).
    """
    if metric not in result.per_user:
        raise ConfigError(f"group_report: metric {metric!r} not in per-user results {sorted(result.per_user)}")
    if n_groups < 1:
        raise ConfigError(f"group_report: n_groups must be >= 1, got {n_groups}")
    if train.n_users != result.n_users:
        raise DataError(f"group_report: {train.name!r} has {train.n_users} users, the result {result.n_users}")
    sizes = np.diff(train.binary_csr.indptr)[result.users].astype(np.float64)
    values = np.asarray(result.per_user[metric], dtype=np.float64)
    edges = np.unique(np.quantile(sizes, np.linspace(0.0, 1.0, n_groups + 1))) if len(sizes) else np.zeros(1)
    if len(edges) == 1:
        edges = np.array([edges[0], edges[0]])
    group = np.clip(np.searchsorted(edges, sizes, side="left") - 1, 0, len(edges) - 2)
    rows = []
    for g in range(len(edges) - 1):
        sel = group == g
        v = values[sel]
        ok = np.isfinite(v)
        rows.append(
            {
                "group": g,
                "lo": float(edges[g]),
                "hi": float(edges[g + 1]),
                "n_users": int(sel.sum()),
                "mean_train_size": float(sizes[sel].mean()) if sel.any() else float("nan"),
                metric: float(v[ok].mean()) if ok.any() else float("nan"),
            }
        )
    return pd.DataFrame(rows)
