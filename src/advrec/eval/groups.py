"""Metric reports by groups of users: quantiles of their training size, or a side attribute."""

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


MISSING = "missing"
"""Group label of users whose attribute value is missing (e.g. users appended without features)."""


def attribute_report(
    result: EvalResult,
    user_features: pd.DataFrame | Interactions,
    column: str,
    metric: str = "ndcg@20",
    *,
    bucket_age: bool = True,
) -> pd.DataFrame:
    """Mean ``metric`` per value of a user attribute (gender, age group, occupation ...).

    Parameters
    ----------
    result
        An evaluation result.
    user_features
        The user side table (one row per user index, e.g.
        ``load_dataset("ml-1m").interactions.user_features``), or Interactions carrying it.
    column
        The attribute, e.g. ``"gender"``, ``"age"`` or ``"occupation"``.
    metric
        A key of ``result.per_user``.
    bucket_age
        For ``column="age"``, group ages into the ML-1M age groups with
        :func:`advrec.data.features.age_groups` (ML-1M age codes are their group's
        lower bound, so both MovieLens sets get the same groups).

    Returns
    -------
    pandas.DataFrame
        One row per attribute value among the evaluated users (age groups in age
        order, other values sorted, then ``"missing"`` if some users lack a value):
        ``<column>``, ``n_users``, ``share`` (of the evaluated users) and
        ``<metric>`` (mean, NaN ignored).

    Raises
    ------
    ConfigError
        Unknown ``metric``, or ``column`` not in the table (naming the columns it has).
    DataError
        No table, or one whose length is not the result's number of users.
    """
    from advrec.data.features import AGE_LABELS, age_groups

    table = user_features.user_features if isinstance(user_features, Interactions) else user_features
    if metric not in result.per_user:
        raise ConfigError(f"attribute_report: metric {metric!r} not in per-user results {sorted(result.per_user)}")
    if table is None:
        raise DataError("attribute_report: no user features (the data set has no user side table)")
    if column not in table.columns:
        raise ConfigError(f"attribute_report: column {column!r} is not a user feature; "
                          f"available columns: {list(table.columns)}")
    if len(table) != result.n_users:
        raise DataError(f"attribute_report: the user table has {len(table)} rows, the result {result.n_users} users")
    raw = table[column].reset_index(drop=True).iloc[result.users].reset_index(drop=True)
    missing = raw.isna().to_numpy()
    if column == "age" and bucket_age:
        labels = age_groups(raw.fillna(0)).astype(object)
        order = [g for g in AGE_LABELS if ((labels == g) & ~missing).any()]
    else:
        labels = raw.astype(object)
        order = _sorted_values(pd.unique(labels[~missing]).tolist())
    labels[missing] = MISSING
    order += [MISSING] if missing.any() else []
    values = pd.Series(np.asarray(result.per_user[metric], dtype=np.float64))
    stats = values.groupby(labels.to_numpy(), sort=False).agg(["size", "mean"])  # mean skips NaN
    stats = stats.reindex(order)
    n_eval = max(result.n_evaluated, 1)
    return pd.DataFrame({
        column: order,
        "n_users": stats["size"].to_numpy(dtype=np.int64),
        "share": stats["size"].to_numpy(dtype=np.float64) / n_eval,
        metric: stats["mean"].to_numpy(dtype=np.float64),
    })


def _sorted_values(values: list) -> list:
    """Values in their natural order, or by their text where they do not compare (mixed types)."""
    try:
        return sorted(values)
    except TypeError:
        return sorted(values, key=str)


def sparsest_users(counts: np.ndarray, users: np.ndarray, frac: float) -> np.ndarray:
    """The fraction ``frac`` of ``users`` with the fewest interactions, sorted by index.

    ``round_half_up(frac * len(users))`` users (at least one when there are any), fewest
    ``counts[user]`` first, ties broken by the lower index, so the same data always give the
    same users.
    """
    users = np.asarray(users, np.int64)
    if not len(users):
        return users
    n = max(1, int(np.floor(frac * len(users) + 0.5)))
    order = np.lexsort((users, np.asarray(counts)[users]))
    return np.sort(users[order[:n]])
