"""The ``privacy`` evaluation: attribute- (and membership-) inference audits of every run's model.

The audit is :func:`advrec.privacy.audit.privacy_audit` on the run's model and its training data
(the fit data, with any data stage's records), seeded by the run's seed: the evaluation's record
(``eval.<name>.json``) holds the same dict as ``advrec privacy audit --json`` (``model_dir`` is
None). The summary, for results tables, is flat: ``<attribute>_auc``, ``<attribute>_ci_low``,
``<attribute>_ci_high``, ``<attribute>_majority`` and, with ``membership = true``,
``membership_auc`` / ``membership_ci_low`` / ``membership_ci_high``. There are no per-user values.

Example::

    [[evaluations]]
    name = "privacy"
    kind = "privacy"
    attributes = ["gender", "age"]
    membership = true
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import Field, field_validator

from advrec.errors import ConfigError
from advrec.eval.result import EvalResult
from advrec.experiments.evaluations import EVALUATIONS, EvalContext, EvalOutput, Evaluation
from advrec.experiments.stage_base import StageParams
from advrec.models.base import Recommender
from advrec.privacy.attributes import PRIVATE_ATTRIBUTES, parse_attributes


class PrivacyParams(StageParams):
    """Parameters of :class:`Privacy`."""

    attributes: list[str] = Field(default_factory=lambda: list(PRIVATE_ATTRIBUTES))
    """Private attributes to infer (default gender, age and occupation)."""
    membership: bool = False
    """Also audit user-level membership inference (refits the model's class three times)."""
    folds: int = Field(5, ge=2)
    """Stratified folds over users of the attribute attackers."""
    bootstrap: int = Field(1000, ge=0)
    """Bootstrap resamples of the 95% intervals."""

    @field_validator("attributes")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        try:
            return list(parse_attributes(v, "attributes"))
        except ConfigError as exc:  # a ValueError, so the evaluation's name and kind head the message
            raise ValueError(str(exc)) from None


class Privacy(Evaluation):
    """Attribute-inference (and membership-inference) audit of the run's model."""

    kind = "privacy"
    params_class = PrivacyParams
    params: PrivacyParams

    def run(self, model: Recommender, ctx: EvalContext) -> EvalOutput:
        from advrec.privacy.audit import privacy_audit, summary_metrics

        p = self.params
        record = privacy_audit(model, ctx.fit_data, p.attributes, membership=p.membership, seed=ctx.seed,
                               folds=p.folds, bootstrap=p.bootstrap, dataset=ctx.split.train.name)
        summary = summary_metrics(record)
        res = EvalResult(np.empty(0, np.int64), {}, summary, ctx.ks, ctx.split.n_users, ctx.split.n_items,
                         {"model": model.name})
        extra: dict[str, Any] = {k: v for k, v in record.items() if k != "seconds"}  # the run records its own
        return EvalOutput(res, extra)


EVALUATIONS[Privacy.kind] = Privacy
