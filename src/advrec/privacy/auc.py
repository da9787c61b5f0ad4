"""ROC AUC of an attacker's scores with a percentile-bootstrap confidence interval, vectorised.

Both audits report an attacker by the area under its ROC curve: 0.5 is chance, 1.0 a perfect
attacker. The interval resamples the audited users (with replacement) ``bootstrap`` times and
takes the 2.5 and 97.5 percentiles of the resampled AUCs; the attacker is not retrained, so the
interval covers the sampling of users, not the attacker's training.

A bootstrap sample is a vector of counts (how often each user was drawn), so every resample is
scored at once: ``AUC = sum_i w_i [y_i = 1] * below_i / (W_pos * W_neg)`` with ``below_i`` the
weighted number of negatives that score below user ``i`` (ties count a half).
"""

from __future__ import annotations

import numpy as np

__all__ = ["auc_ci", "bootstrap_counts", "macro_auc", "weighted_auc"]


def weighted_auc(scores: np.ndarray, positive: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Binary ROC AUC of ``scores`` for each row of ``weights`` (one resample per row).

    Parameters
    ----------
    scores
        ``(n,)`` attacker scores (higher: more likely positive).
    positive
        ``(n,)`` bool labels.
    weights
        ``(b, n)`` non-negative weights of the users in each of ``b`` resamples (bootstrap
        counts; a row of ones is the plain AUC).

    Returns
    -------
    numpy.ndarray
        ``(b,)`` float64 AUCs; NaN for a resample without positives or without negatives.
    """
    s = np.asarray(scores, np.float64)
    order = np.argsort(s, kind="stable")
    s, pos = s[order], np.asarray(positive, bool)[order]
    w = np.asarray(weights, np.float64)[:, order]
    starts = np.flatnonzero(np.r_[True, s[1:] != s[:-1]])  # first index of every group of tied scores
    group = np.cumsum(np.r_[True, s[1:] != s[:-1]]) - 1
    neg_in_group = np.add.reduceat(w * ~pos, starts, axis=1)  # (b, n_groups)
    neg_before = np.cumsum(neg_in_group, axis=1) - neg_in_group
    below = neg_before[:, group] + 0.5 * neg_in_group[:, group]  # (b, n)
    w_pos = (w * pos).sum(axis=1)
    w_neg = (w * ~pos).sum(axis=1)
    num = (w * pos * below).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((w_pos > 0) & (w_neg > 0), num / (w_pos * w_neg), np.nan)


def macro_auc(proba: np.ndarray, labels: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """AUC of class probabilities: binary for two classes, else macro one-vs-rest.

    Parameters
    ----------
    proba
        ``(n, c)`` probability of each class (columns in class order), or ``(n,)`` scores of
        class 1 when ``c == 2``.
    labels
        ``(n,)`` int class indices ``0 .. c-1``.
    weights
        ``(b, n)`` resample weights, as in :func:`weighted_auc`.

    Returns
    -------
    numpy.ndarray
        ``(b,)`` AUCs. With more than two classes, the mean over the classes that have both
        positives and negatives in the resample.
    """
    p = np.asarray(proba, np.float64)
    y = np.asarray(labels)
    if p.ndim == 1:
        return weighted_auc(p, y == 1, weights)
    if p.shape[1] == 2:
        return weighted_auc(p[:, 1], y == 1, weights)
    per_class = np.stack([weighted_auc(p[:, c], y == c, weights) for c in range(p.shape[1])], axis=1)
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(per_class)
        return np.where(ok.any(axis=1), np.nansum(per_class, axis=1) / np.maximum(ok.sum(axis=1), 1), np.nan)


def bootstrap_counts(n: int, bootstrap: int, seed: int) -> np.ndarray:
    """``(bootstrap, n)`` int counts: how often each of ``n`` users is drawn in each resample (seeded)."""
    rng = np.random.default_rng(seed)
    return rng.multinomial(n, np.full(n, 1.0 / n), size=bootstrap) if n else np.zeros((bootstrap, 0), np.int64)


def auc_ci(proba: np.ndarray, labels: np.ndarray, *, bootstrap: int, seed: int,
           counts: np.ndarray | None = None) -> tuple[float, list[float]]:
    """``(auc, [low, high])``: the AUC of :func:`macro_auc` and its 95% percentile-bootstrap interval.

    ``counts`` (from :func:`bootstrap_counts`) lets several attackers share the same resamples,
    so their intervals are comparable; without it they are drawn from ``seed``. With
    ``bootstrap == 0`` the interval is ``[auc, auc]``.
    """
    n = len(labels)
    point = float(macro_auc(proba, labels, np.ones((1, n)))[0])
    if bootstrap <= 0:
        return point, [point, point]
    w = bootstrap_counts(n, bootstrap, seed) if counts is None else counts
    boot = macro_auc(proba, labels, w)
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return point, [float("nan"), float("nan")]
    lo, hi = np.percentile(boot, [2.5, 97.5])
    return point, [float(lo), float(hi)]
