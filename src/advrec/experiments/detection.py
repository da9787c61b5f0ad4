"""The ``detection`` evaluation: precision, recall and F1 of a fake-profile detector in a run.

``stage`` names a data stage of the run, or patterns (``"*"``) matching the one the run applied:

* a defence stage (``defend-detect``): its recorded detection is reported (the users it
  flagged against the attack's fake users);
* an attack stage: the detector described by ``detector`` (the parameters of
  :class:`advrec.robust.detect.DefendParams`) is run on the run's training part and scored
  against the attack's ``fake_user_ids``; nothing is removed.

A run that does not apply the stage (the clean model of an experiment) gets NaN values, so one
evaluation list serves every model. The summary holds ``precision``, ``recall``, ``f1``,
``n_flagged``, ``n_fake`` and ``true_positives``; there are no per-user values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, model_validator

from advrec.eval.result import EvalResult
from advrec.experiments.evaluations import EVALUATIONS, EvalContext, EvalOutput, Evaluation
from advrec.experiments.stage_base import StageParams
from advrec.experiments.stage_check import match_names
from advrec.models.base import Recommender

#: summary keys of a detection evaluation
DETECTION_METRICS = ("precision", "recall", "f1", "n_flagged", "n_fake", "true_positives")


class DetectionParams(StageParams):
    """Parameters of :class:`Detection`."""

    stage: str | list[str]
    """A defence stage (report its detection) or an attack stage (run ``detector`` here): a name,
    or names / patterns of which a run applies at most one (``"*"`` in a grid over attacks)."""
    detector: dict[str, Any] = Field(default_factory=dict)
    """For an attack stage: the detector's parameters (``defend-detect``'s, e.g.
    ``{detector = "pca-varselect", fraction = 0.05}``)."""
    flag_attack_size: bool = False
    """For an attack stage: flag as many users as the attack injected (an unsupervised detector that
    knows the attack's size, as in Mehta & Nejdl 2009), instead of ``n_flag`` / ``fraction``."""

    @model_validator(mode="after")
    def _valid_detector(self) -> DetectionParams:
        if self.detector:
            from advrec.robust.detect import DefendParams

            DefendParams(**self._with_size(self.detector, 1))  # a bad key or value fails when the file is loaded
        return self

    def _with_size(self, detector: dict[str, Any], n_fake: int) -> dict[str, Any]:
        return {**detector, "n_flag": n_fake} if self.flag_attack_size else detector


class Detection(Evaluation):
    """Precision / recall / F1 of the fake profiles flagged in this run's training part."""

    kind = "detection"
    params_class = DetectionParams
    params: DetectionParams

    def run(self, model: Recommender, ctx: EvalContext) -> EvalOutput:
        from advrec.errors import ConfigError

        p = self.params
        names = match_names(p.stage, list(ctx.data_records))
        if len(names) > 1:
            raise ConfigError(f"evaluation {self.name!r}: stage={p.stage!r} matches several applied data stages "
                              f"{names}; name one")
        rec = ctx.data_records[names[0]] if names else None
        extra: dict[str, Any] = {"stage": names[0] if names else p.stage}
        if rec is None:
            found: dict[str, Any] = {}
            extra["note"] = f"data stage {p.stage!r} is not applied in this run"
        elif "detection" in rec:
            found = rec["detection"] or {}
            extra["flagged_user_ids"] = rec["flagged_user_ids"]
        elif "fake_user_ids" in rec:
            found, flagged = self._detect(ctx, rec)
            extra["flagged_user_ids"] = flagged
        else:
            raise ConfigError(f"evaluation {self.name!r}: data stage {p.stage!r} is neither an attack nor a "
                              "defence stage")
        summary = {k: (np.nan if found.get(k) is None else float(found[k])) for k in DETECTION_METRICS}
        n_u, n_i = ctx.split.n_users, ctx.split.n_items
        res = EvalResult(np.empty(0, np.int64), {}, summary, ctx.ks, n_u, n_i,
                         {"model": model.name, "stage": extra["stage"]})
        return EvalOutput(res, extra)

    def _detect(self, ctx: EvalContext, attack: dict[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        from advrec.errors import ConfigError
        from advrec.robust.detect import DefendDetect

        if not self.params.detector:
            raise ConfigError(f"evaluation {self.name!r}: stage {self.params.stage!r} is an attack; give "
                              "detector = {detector = \"...\", fraction = ...} to run one on it")
        detector = self.params._with_size(self.params.detector, int(attack["n_fake_users"]))
        stage = DefendDetect(self.name, {**detector, "attack": attack["name"]})
        _, rec = stage.apply_after(ctx.split, ctx.seed, [attack])
        return rec["detection"] or {}, rec["flagged_user_ids"]


EVALUATIONS[Detection.kind] = Detection
