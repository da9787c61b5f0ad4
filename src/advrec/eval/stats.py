"""Paired significance tests over users and over seeds."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from functools import reduce
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from advrec.errors import ConfigError

if TYPE_CHECKING:
    from advrec.eval.evaluator import EvalResult

SIGNIFICANCE_LEVELS: tuple[tuple[float, str], ...] = ((0.01, "**"), (0.05, "*"))
"""(threshold, mark) pairs, strictest first: ``p < 0.01`` -> ``"**"``, ``p < 0.05`` -> ``"*"``."""


def paired_test(a: np.ndarray | Sequence[float], b: np.ndarray | Sequence[float]) -> dict[str, float]:
    """Paired t-test and Wilcoxon signed-rank test of ``a`` against ``b``.

    Pairs where either value is NaN or infinite are dropped first (``n`` counts
    the pairs kept). When every difference is zero both tests report statistic
    0 and p-value 1 (no evidence of a difference). With fewer than 2 pairs the
    statistics and p-values are NaN.

    Returns
    -------
    dict
        ``mean_a``, ``mean_b``, ``mean_diff`` (mean of ``a - b``), ``t``,
        ``p_t`` (two-sided :func:`scipy.stats.ttest_rel`), ``wilcoxon``,
        ``p_wilcoxon`` (two-sided :func:`scipy.stats.wilcoxon`, zero
        differences dropped), ``n``.

    Raises
    ------
    ConfigError
        If ``a`` and ``b`` differ in shape.
    """
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ConfigError(f"paired_test: a has {len(x)} values but b has {len(y)}")
    ok = np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    n = len(x)
    nan = float("nan")
    out: dict[str, float] = {
        "mean_a": float(x.mean()) if n else nan,
        "mean_b": float(y.mean()) if n else nan,
        "mean_diff": float((x - y).mean()) if n else nan,
        "t": nan,
        "p_t": nan,
        "wilcoxon": nan,
        "p_wilcoxon": nan,
        "n": n,
    }
    if n < 2:
        return out
    d = x - y
    if not np.any(d != 0):
        out.update(t=0.0, p_t=1.0, wilcoxon=0.0, p_wilcoxon=1.0)
        return out
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        t = stats.ttest_rel(x, y)
        out["t"], out["p_t"] = float(t.statistic), float(t.pvalue)
        try:
            w = stats.wilcoxon(x, y)
            out["wilcoxon"], out["p_wilcoxon"] = float(w.statistic), float(w.pvalue)
        except ValueError:
            pass
    return out


def compare(
    per_seed_a: Sequence[EvalResult], per_seed_b: Sequence[EvalResult], metric: str
) -> dict[str, Any]:
    """Compare two methods run over the same seeds, paired two ways.

    ``over_seeds``: the summary value of ``metric`` per seed, paired seed by
    seed (run ``i`` of ``a`` with run ``i`` of ``b``); ``n`` is the number of
    seeds. ``over_users``: each user's value averaged over the seeds of each
    method, paired by user index, over the users evaluated in every run of
    both methods; ``n`` is the number of such users.

    Returns
    -------
    dict
        ``{"metric", "n_seeds", "over_seeds": paired_test(...),
        "over_users": paired_test(...)}``.

    Raises
    ------
    ConfigError
        If the lists are empty or differ in length, or ``metric`` is missing.
    """
    if not per_seed_a or len(per_seed_a) != len(per_seed_b):
        raise ConfigError(
            f"compare: need the same non-zero number of runs, got {len(per_seed_a)} and {len(per_seed_b)}"
        )
    runs = list(per_seed_a) + list(per_seed_b)
    for r in runs:
        if metric not in r.per_user and metric not in r.summary:
            raise ConfigError(f"compare: metric {metric!r} not in results (have {sorted(r.summary)})")
    seeds_a = [r.summary[metric] for r in per_seed_a]
    seeds_b = [r.summary[metric] for r in per_seed_b]
    out: dict[str, Any] = {
        "metric": metric,
        "n_seeds": len(per_seed_a),
        "over_seeds": paired_test(seeds_a, seeds_b),
    }
    if all(metric in r.per_user for r in runs):
        common = reduce(np.intersect1d, [r.users for r in runs])
        out["over_users"] = paired_test(_user_mean(per_seed_a, metric, common), _user_mean(per_seed_b, metric, common))
    else:
        out["over_users"] = None
    return out


def _user_mean(runs: Sequence[EvalResult], metric: str, users: np.ndarray) -> np.ndarray:
    rows = []
    for r in runs:
        order = np.argsort(r.users, kind="stable")
        rows.append(r.per_user[metric][order[np.searchsorted(r.users[order], users)]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(np.vstack(rows), axis=0) if rows else np.empty(0)


def mean_std(values: np.ndarray | Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; NaN for fewer than 2 values)."""
    v = np.asarray(values, dtype=np.float64).ravel()
    if not len(v):
        return float("nan"), float("nan")
    std = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    return float(v.mean()), std


def significance_mark(p: float | None, levels: Sequence[tuple[float, str]] = SIGNIFICANCE_LEVELS) -> str:
    """Table mark for a p-value: ``"**"`` if ``p < 0.01``, ``"*"`` if ``p < 0.05``, else ``""``.

    ``levels`` are ``(threshold, mark)`` pairs checked strictest first; a
    missing or NaN p-value gets ``""``.
    """
    if p is None or not np.isfinite(p):
        return ""
    for threshold, mark in sorted(levels):
        if p < threshold:
            return mark
    return ""


def format_mean_std(values: np.ndarray | Sequence[float], digits: int = 4, p: float | None = None) -> str:
    """``"0.1234 ± 0.0056**"``: mean, sample std (omitted when undefined) and significance mark."""
    m, s = mean_std(values)
    text = f"{m:.{digits}f} ± {s:.{digits}f}" if np.isfinite(s) else f"{m:.{digits}f}"
    return text + significance_mark(p)
