"""Supervised detection: a classifier on the profile features, trained on fake profiles that
the project's own attack stages (:data:`advrec.robust.attacks.ATTACKS`) inject into clean
training data, of attack kinds and seeds other than the attack it is tested on.

Leakage-free by construction: :func:`training_attacks` never returns the tested (kind, seed)
pair, by default uses only *other* kinds (the same kind with other seeds only when no other
kind is registered), and the training fakes are drawn on the clean data, so the tested
attack's profiles are never seen.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from advrec.data.interactions import Interactions
from advrec.data.splits import Split
from advrec.errors import ConfigError
from advrec.robust.detect.detectors import Detector
from advrec.robust.detect.features import is_implicit, profile_features


def training_attacks(test_kind: str | None, test_seed: int, kinds: Sequence[str] | None = None,
                     repeats: int = 1) -> list[tuple[str, int]]:
    """The (attack kind, seed) pairs a supervised detector trains on when tested on
    ``test_kind`` injected with ``test_seed``.

    ``kinds`` default: every registered attack except ``test_kind``; when that leaves none,
    ``test_kind`` itself (its other seeds). Seeds are ``test_seed + 1, + 2, ...`` so no pair
    equals the tested one. ``repeats`` seeds per kind. ConfigError for unknown kinds.
    """
    from advrec.robust.attacks import ATTACKS

    if kinds is None:
        kinds = [k for k in sorted(ATTACKS) if k != test_kind] or ([test_kind] if test_kind else sorted(ATTACKS))
    unknown = [k for k in kinds if k not in ATTACKS]
    if unknown:
        raise ConfigError(f"train_attacks: unknown attack kinds {unknown}; known: {sorted(ATTACKS)}")
    pairs = [(k, test_seed + 1 + j * len(kinds) + i) for j in range(repeats) for i, k in enumerate(kinds)]
    assert all(p != (test_kind, test_seed) for p in pairs)
    return pairs


class SupervisedDetector(Detector):
    """Classifier of fake profiles on :func:`~advrec.robust.detect.features.profile_features`.

    Parameters
    ----------
    attacks
        (attack kind, seed) pairs to generate training fakes with (see :func:`training_attacks`).
    attack_params
        Parameters given to every training attack (e.g. ``fraction``, ``filler``); the attack's
        defaults otherwise. Never the tested attack's parameters unless the caller passes them.
    classifier
        ``"logistic"`` (standardised features, balanced logistic regression) or ``"boosting"``
        (scikit-learn histogram gradient boosting, balanced classes).
    neighbours
        ``k`` of the DegSim feature.
    """

    name = "supervised"

    def __init__(self, attacks: Sequence[tuple[str, int]], attack_params: dict[str, Any] | None = None,
                 classifier: Literal["logistic", "boosting"] = "logistic", neighbours: int = 10) -> None:
        if not attacks:
            raise ConfigError("supervised detector: attacks is empty (nothing to train on)")
        self.attacks = list(attacks)
        self.attack_params = dict(attack_params or {})
        self.classifier = classifier
        self.neighbours = neighbours
        self.model_: Any = None
        self.implicit_: bool | None = None
        self.trained_on: list[dict[str, Any]] = []

    def fit(self, clean: Interactions, seed: int = 0) -> SupervisedDetector:
        """Inject each training attack into ``clean`` and fit the classifier on the features of
        the real users (label 0) and the injected fakes (label 1) of every injection."""
        from advrec.robust.attacks import ATTACKS

        self.implicit_ = is_implicit(clean)
        base = Split(train=clean, test=clean.subset(np.zeros(len(clean), bool)), name="detector-training")
        xs, ys = [], []
        self.trained_on = []
        for kind, attack_seed in self.attacks:  # a handful of injections, each vectorised
            stage = ATTACKS[kind](f"train-{kind}", self.attack_params)
            grown, record = stage.apply(base, attack_seed)
            feats = profile_features(grown.train, self.neighbours, implicit=self.implicit_).to_numpy()
            active = grown.train.user_counts() > 0
            label = np.arange(grown.n_users) >= clean.n_users
            xs.append(feats[active])
            ys.append(label[active])
            self.trained_on.append({"kind": kind, "seed": attack_seed, "n_fake": record["n_fake_users"]})
        self.model_ = _classifier(self.classifier, seed).fit(np.vstack(xs), np.concatenate(ys))
        return self

    def scores(self, train: Interactions, seed: int = 0) -> np.ndarray:
        """P(fake) of every user with data (``-inf`` for the others)."""
        if self.model_ is None:
            raise ConfigError("supervised detector: call fit(clean_train) before scores()")
        feats = profile_features(train, self.neighbours, implicit=self.implicit_).to_numpy()
        active = train.user_counts() > 0
        out = np.full(train.n_users, -np.inf)
        if active.any():
            out[active] = self.model_.predict_proba(feats[active])[:, 1]
        return out


def _classifier(kind: str, seed: int) -> Any:
    if kind == "logistic":
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000))
    if kind == "boosting":
        from sklearn.ensemble import HistGradientBoostingClassifier

        return HistGradientBoostingClassifier(class_weight="balanced", random_state=seed)
    raise ConfigError(f"supervised detector: classifier={kind!r}; known: 'logistic', 'boosting'")
