"""The defence data stage ``defend-detect``: detect fake profiles in the (poisoned) training
part and remove or down-weight the flagged users' records.

It runs after an attack stage (``data = ["poison", "defend"]``); it reads the attack's record
(the truth, ``fake_user_ids``) only to score the detection (precision / recall / F1) and, for
the supervised detector, to know which users are real: that detector is trained on fakes that
*other* attack kinds / seeds inject into the real users' data (see
:mod:`advrec.robust.detect.supervised`). Flagged users stay in the id space without training
records (``action = "remove"``) or with their values multiplied by ``weight``
(``"downweight"``). Real users flagged by mistake lose their data: the defence's cost in clean
accuracy, seen in the ranking evaluation.

Down-weighting changes only what a victim reads from values: the row models with
``binary = false`` (EASE^R, ItemKNN, PureSVD, SLIM, RP3beta). Every other model (MostPop, BPR,
APR, LightGCN, MultVAE, IRGAN, CFGAN) and every row model with the default ``binary = true``
trains on the 0/1 matrix, for which a down-weighted user is unchanged.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Literal

import numpy as np
from pydantic import Field, model_validator

from advrec.data.interactions import Interactions
from advrec.data.splits import Split
from advrec.errors import ConfigError
from advrec.experiments.stage_base import DataStage, StageParams, plain
from advrec.robust.detect.detectors import Detector, FeatureOutlier, PCAVarSelect, detection_metrics, flag_users
from advrec.robust.detect.supervised import SupervisedDetector, training_attacks


class DefendParams(StageParams):
    """Parameters of :class:`DefendDetect`."""

    detector: Literal["pca-varselect", "feature-outlier", "supervised"] = "pca-varselect"
    n_flag: int | None = Field(None, ge=1)
    """Flag this many users (the expected number of attackers)."""
    fraction: float | None = Field(None, gt=0, lt=1)
    """Flag this fraction of the users with training data (rounded, at least 1)."""
    threshold: float | None = Field(None, gt=0, lt=1)
    """Supervised detector: flag users with P(fake) >= threshold (its default: 0.5)."""
    action: Literal["remove", "downweight"] = "remove"
    weight: float = Field(0.1, ge=0, lt=1)
    """``downweight``: the flagged users' values are multiplied by it."""
    attack: str | None = None
    """Name of the attack stage that holds the truth (default: the last earlier one)."""
    components: int = Field(3, ge=1)
    """PCA-VarSelect: principal components summed."""
    neighbours: int = Field(10, ge=1)
    """DegSim's k (feature-based detectors)."""
    classifier: Literal["logistic", "boosting"] = "logistic"
    train_attacks: list[str] | None = None
    """Supervised: attack kinds to train on (default: every registered kind but the tested one)."""
    train_repeats: int = Field(1, ge=1)
    """Supervised: seeds per training attack kind."""
    train_params: dict[str, Any] = Field(default_factory=dict)
    """Supervised: parameters of the training attacks (their defaults otherwise)."""

    @model_validator(mode="after")
    def _one_rule(self) -> DefendParams:
        given = sum(x is not None for x in (self.n_flag, self.fraction, self.threshold))
        if self.threshold is not None and self.detector != "supervised":
            raise ValueError(f"threshold is for the supervised detector, not {self.detector!r}")
        if given > 1:
            raise ValueError("give one of n_flag, fraction, threshold")
        if given == 0 and self.detector != "supervised":
            raise ValueError(f"detector {self.detector!r} needs n_flag or fraction (the expected attack size)")
        return self


class DefendDetect(DataStage):
    """Detect fake profiles in the training part; remove or down-weight the flagged users."""

    kind = "defend-detect"
    params_class = DefendParams
    params: DefendParams

    def apply(self, split: Split, seed: int) -> tuple[Split, dict[str, Any]]:
        return self.apply_after(split, seed, [])

    def apply_after(self, split: Split, seed: int, records: list[dict[str, Any]]) -> tuple[Split, dict[str, Any]]:
        p, train = self.params, split.train
        attack = self._attack_record(records)
        n_real = int(attack["n_real_users"]) if attack else split.n_users
        detector, extra = self._detector(split, seed, attack, n_real)
        scores = detector.scores(train, seed)
        threshold = p.threshold
        if threshold is None and p.n_flag is None and p.fraction is None:
            threshold = 0.5  # the supervised detector's default rule
        flagged = flag_users(scores, n_flag=p.n_flag, fraction=p.fraction, threshold=threshold)
        hit = np.isin(train.users, flagged)
        if p.action == "remove":
            new = train.subset(~hit)
        else:
            new = train.with_values(np.where(hit, train.values * p.weight, train.values))
        out = split.with_train(new, note=f"{self.name}: {p.action} {len(flagged)} flagged users")
        record: dict[str, Any] = {
            "kind": self.kind, "detector": detector.name, "action": p.action,
            "flagged_user_ids": [plain(x) for x in train.user_ids[flagged]], "n_flagged": len(flagged),
            "n_real_flagged": int((flagged < n_real).sum()), "records_changed": int(hit.sum()),
            "attack": attack["name"] if attack else None, "detection": None,
            "params": p.model_dump(mode="json"), **extra,
        }
        if attack is not None:
            fake = _user_index(train.user_ids, attack["fake_user_ids"])
            record["detection"] = {k: (v if np.isfinite(v) else None)
                                   for k, v in detection_metrics(flagged, fake).items()}
        return out, record

    def _attack_record(self, records: list[dict[str, Any]]) -> dict[str, Any] | None:
        name = self.params.attack
        if name is not None:
            found = [r for r in records if r.get("name") == name]
            if not found or "fake_user_ids" not in found[-1]:
                have = [r.get("name") for r in records if "fake_user_ids" in r]
                raise ConfigError(f"data stage {self.name!r}: attack={name!r} is not an earlier attack stage "
                                  f"of this run (have {have or 'none'})")
            return found[-1]
        attacks = [r for r in records if "fake_user_ids" in r]
        return attacks[-1] if attacks else None

    def _detector(self, split: Split, seed: int, attack: dict[str, Any] | None,
                  n_real: int) -> tuple[Detector, dict[str, Any]]:
        p = self.params
        if p.detector == "pca-varselect":
            return PCAVarSelect(p.components), {}
        if p.detector == "feature-outlier":
            return FeatureOutlier(p.neighbours), {}
        pairs = training_attacks(attack["kind"] if attack else None, seed, p.train_attacks, p.train_repeats)
        if attack is not None and (attack["kind"], seed) in pairs:
            raise ConfigError(f"data stage {self.name!r}: train_attacks would repeat the tested attack")
        clean = _real_part(split.train, n_real)
        det = SupervisedDetector(pairs, p.train_params, p.classifier, p.neighbours).fit(clean, seed)
        return det, {"trained_on": det.trained_on}


def _real_part(train: Interactions, n_real: int) -> Interactions:
    """The records and id space of the first ``n_real`` users (the data before an injection)."""
    sub = train.subset(train.users < n_real)
    feats = None if train.user_features is None else train.user_features.iloc[:n_real]
    return replace(sub, user_ids=sub.user_ids[:n_real], user_features=feats)


def _user_index(user_ids: np.ndarray, ids: list[Any]) -> np.ndarray:
    """Indices of the external user ``ids`` that are in ``user_ids``."""
    return np.flatnonzero(np.isin(user_ids, np.asarray(ids)))


#: defence data stages by kind
DEFENCES: dict[str, type[DataStage]] = {DefendDetect.kind: DefendDetect}
