"""Detectors of fake profiles: a suspicion score per user and the flagged users.

Every detector returns, for each user index of the training data, a score where larger means
more suspicious (users without training data get ``-inf`` and are never flagged); which users
are flagged is decided by :func:`flag_users` from a count, a fraction or a score threshold.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.robust.detect.features import profile_features
from advrec.robust.detect.pca import pca_varselect_scores


class Detector(ABC):
    """Base of the detectors: :meth:`scores` gives one suspicion score per user index."""

    name: str = "detector"

    @abstractmethod
    def scores(self, train: Interactions, seed: int = 0) -> np.ndarray:
        """Suspicion score of every user index of ``train`` (``-inf`` for users without data)."""


class PCAVarSelect(Detector):
    """PCA-VarSelect of Mehta & Nejdl (2009): the score is minus the user's contribution to the
    first ``components`` principal components (see :mod:`advrec.robust.detect.pca`)."""

    name = "pca-varselect"

    def __init__(self, components: int = 3) -> None:
        self.components = components

    def scores(self, train: Interactions, seed: int = 0) -> np.ndarray:
        return -pca_varselect_scores(train, self.components, seed=seed)


class FeatureOutlier(Detector):
    """Unsupervised baseline: mean absolute robust z-score (median / MAD over the users with
    data) of the profile features, i.e. how far a profile lies from the typical one."""

    name = "feature-outlier"

    def __init__(self, neighbours: int = 10) -> None:
        self.neighbours = neighbours

    def scores(self, train: Interactions, seed: int = 0) -> np.ndarray:
        feats = profile_features(train, self.neighbours).to_numpy()
        active = train.user_counts() > 0
        out = np.full(train.n_users, -np.inf)
        if not active.any():
            return out
        f = feats[active]
        med = np.median(f, axis=0)
        mad = np.median(np.abs(f - med), axis=0) * 1.4826
        scale = np.where(mad > 0, mad, np.maximum(f.std(axis=0), 1e-12))
        out[active] = np.abs((f - med) / scale).mean(axis=1)
        return out


def flag_users(scores: np.ndarray, *, n_flag: int | None = None, fraction: float | None = None,
               threshold: float | None = None) -> np.ndarray:
    """Sorted indices of the flagged users: the ``n_flag`` (or ``fraction`` of the users with a
    finite score, rounded, at least 1) highest scores, or every score ``>= threshold``.
    Exactly one of the three must be given (ConfigError otherwise)."""
    given = [x is not None for x in (n_flag, fraction, threshold)]
    if sum(given) != 1:
        raise ConfigError("detection: give exactly one of n_flag, fraction, threshold "
                          f"(got n_flag={n_flag}, fraction={fraction}, threshold={threshold})")
    finite = np.flatnonzero(np.isfinite(scores))
    if threshold is not None:
        return finite[scores[finite] >= threshold]
    n = n_flag if n_flag is not None else max(1, round(float(fraction) * len(finite)))  # type: ignore[arg-type]
    n = min(n, len(finite))
    if n == 0:
        return np.empty(0, np.int64)
    top = finite[np.argpartition(-scores[finite], n - 1)[:n]]
    return np.sort(top)


def detection_metrics(flagged: np.ndarray, fake: np.ndarray) -> dict[str, float]:
    """Precision, recall and F1 of ``flagged`` user indices against the true ``fake`` ones
    (NaN where undefined: precision with nothing flagged, recall without fakes), with counts."""
    flagged, fake = np.unique(flagged), np.unique(fake)
    tp = len(np.intersect1d(flagged, fake, assume_unique=True))
    precision = tp / len(flagged) if len(flagged) else np.nan
    recall = tp / len(fake) if len(fake) else np.nan
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else (
        0.0 if np.isfinite(precision + recall) else np.nan)
    return {"precision": float(precision), "recall": float(recall), "f1": float(f1),
            "n_flagged": float(len(flagged)), "n_fake": float(len(fake)), "true_positives": float(tp)}
