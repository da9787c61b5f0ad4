"""Evaluations of one fitted model: named, typed, registered by kind, several per run.

Each evaluation gives a summary (metric -> value), per-user vectors (written as Parquet under its
name) and optional extra JSON (e.g. GAR's three cold-item settings, attribute groups).

Kinds
-----
``ranking``
    Full ranking on the test part (the default evaluation, named ``test``). On a cold-user split
    cold users are scored through ``fold_in`` on their revealed items (the revealed items are not
    candidates); on a cold-item split the summary is the ``candidates`` setting (default all items)
    and ``extra["settings"]`` holds all three settings (cold items only, warm only, all).
``target-items``
    Hit ratio and NDCG@K of target items over the real users who have not interacted with them:
    the targets of a data stage (``stage = "NAME"``; names or patterns such as ``"attack-*"``
    measure, in each run, the matching stage that run applied) or given external ids (``items = [...]``).
``perturb``
    Full ranking on the test part before and after an FGSM / PGD / random perturbation of the
    model's embeddings (:mod:`advrec.robust.perturb`); the summary is the perturbed one and
    ``extra`` holds ``clean``, ``perturbed`` and ``relative_drop`` (positive for a loss).
``attribute``
    The per-user values of an earlier evaluation (``of``, default ``test``) grouped by a user
    attribute (``column``: gender, age, occupation ...): one summary value per group.
``detection``
    Precision / recall / F1 of fake-profile detection (:mod:`advrec.experiments.detection`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
from pydantic import Field, field_validator

from advrec.data.interactions import Interactions
from advrec.data.splits import Split
from advrec.errors import ConfigError
from advrec.eval.evaluator import EvalResult, evaluate
from advrec.eval.groups import sparsest_users
from advrec.experiments.augment import parse_users
from advrec.experiments.stage_base import DataStage, Registered, StageParams, build_registered, item_index
from advrec.experiments.stage_check import match_names
from advrec.models.base import Recommender
from advrec.train.loop import parse_metric


@dataclass
class EvalContext:
    """What an evaluation may read: the (staged) split, the fit data, earlier results."""

    split: Split
    fit_data: Interactions
    ks: tuple[int, ...]
    seed: int = 0
    data_records: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Records of the data stages applied to this run, by name."""
    other_stages: dict[str, DataStage] = field(default_factory=dict)
    """The experiment's stages this run does not apply (their targets can still be measured)."""
    results: dict[str, EvalResult] = field(default_factory=dict)
    show_progress: bool = False
    shared: dict[Any, Any] = field(default_factory=dict)
    """Work that several evaluations of the run can share (e.g. the clean ranking of ``perturb``)."""


@dataclass
class EvalOutput:
    """One evaluation's result: the evaluator's result plus extra JSON."""

    result: EvalResult
    extra: dict[str, Any] = field(default_factory=dict)


class Evaluation(Registered, ABC):
    """Base of an evaluation kind."""

    @abstractmethod
    def run(self, model: Recommender, ctx: EvalContext) -> EvalOutput:
        """Evaluate ``model``."""


class RankingParams(StageParams):
    """Parameters of :class:`Ranking`."""

    candidates: Literal["all", "cold-items", "warm-items"] = "all"
    """On a cold-item split: which items are candidates (GAR's cold, warm and hybrid settings)."""
    users: str = "all"
    """Which test users are evaluated: ``"all"``, or ``"sparsest:F"``, the fraction F of the test
    users with the fewest real training interactions (generated ones not counted, so runs with and
    without augmentation evaluate the same users)."""

    @field_validator("users")
    @classmethod
    def _users_ok(cls, v: str) -> str:
        parse_users(v)
        return v


class Ranking(Evaluation):
    """Full ranking on the test part (fold-in for cold users, three settings for cold items)."""

    kind = "ranking"
    params_class = RankingParams
    params: RankingParams

    def run(self, model: Recommender, ctx: EvalContext) -> EvalOutput:
        split = ctx.split
        if self.params.users != "all":
            counts = split.real(ctx.fit_data).user_counts()
            chosen = sparsest_users(counts, split.test.active_users(), parse_users(self.params.users))
            keep = np.zeros(split.n_users, bool)
            keep[chosen] = True
            split = replace(split, test=split.test.subset(keep[split.test.users], name=split.test.name))
        return rank_test(model, split, ctx.fit_data, ctx.ks, self.params.candidates, show_progress=ctx.show_progress)


def rank_test(model: Recommender, split: Split, fit_data: Interactions, ks: tuple[int, ...],
              candidates: str = "all", **kwargs: Any) -> EvalOutput:
    """The test evaluation of ``model`` fit on ``fit_data``, as the split's kind requires.

    Used by every run (``advrec train``, ``advrec run``) and by tuning on the validation split
    (``split.tuning()``), so cold splits are scored the same way everywhere. Records a generator
    added to the training data (``split.generated``) stay candidates: they are not real consumption.
    """
    fit_data = split.real(fit_data)
    if split.cold_users is not None and split.revealed is not None:
        from advrec.eval.foldin import evaluate_cold_users

        # side features of new users (demographics given at sign-up) go to models that read them
        feats = getattr(model, "user_features_", None)
        return EvalOutput(evaluate_cold_users(model, fit_data, split.revealed, split.test, split.cold_users,
                                              ks=ks, user_features=feats, **kwargs))
    if split.cold_items is not None:
        from advrec.eval.cold import evaluate_cold_items

        settings = evaluate_cold_items(model, fit_data, split.test, split.cold_items, ks=ks, **kwargs)
        key = {"all": "all", "cold-items": "cold", "warm-items": "warm"}[candidates]
        extra = {"settings": {k: clean_summary(r.summary) | {"n_users": r.n_evaluated} for k, r in settings.items()}}
        return EvalOutput(settings[key], extra)
    if candidates != "all":
        raise ConfigError(f"candidates={candidates!r} needs a cold-item split, not {split.name!r}")
    return EvalOutput(evaluate(model, fit_data, split.test, ks=ks, **kwargs))


def validation_scorer(split: Split, metric: str) -> Callable[[Recommender], float] | None:
    """Early-stopping score of a model fit on ``split.train`` and scored on ``split.test``, for splits
    whose held-out users are not scored by ``model.score`` (cold users: through ``fold_in``); None
    for the others (the model's own validation is right there)."""
    if split.cold_users is None or split.revealed is None:
        return None
    name, k = parse_metric(metric)

    def score(model: Recommender) -> float:
        summary = rank_test(model, split, split.train, (k,), metrics=(name,), beyond=False).result.summary
        return float(summary[metric])

    return score


class TargetParams(StageParams):
    """Parameters of :class:`TargetItems`."""

    stage: str | list[str] | None = None
    """The data stage whose targets are measured: a name, or names / patterns (``"attack-*"``)
    when each run applies one of several attacks: a run measures the targets of the matching stage
    it applied, a run that applied none (the clean fit) those of the first matching stage."""
    items: list[Any] | None = None
    """External ids of the target items (instead of ``stage``)."""


class TargetItems(Evaluation):
    """Hit ratio and NDCG of target items among the real users' top-K."""

    kind = "target-items"
    params_class = TargetParams
    params: TargetParams

    def run(self, model: Recommender, ctx: EvalContext) -> EvalOutput:
        from advrec.eval.targets import target_item_metrics

        p = self.params
        n_real = ctx.split.n_users
        applied = match_names(p.stage, list(ctx.data_records)) if p.stage is not None else []
        applied = [n for n in applied if "target_index" in ctx.data_records[n]]
        if len(applied) > 1:
            raise ConfigError(f"evaluation {self.name!r}: stage={p.stage!r} matches several applied data "
                              f"stages with targets {applied}; name one")
        if applied:
            rec = ctx.data_records[applied[0]]
            targets = np.asarray(rec["target_index"], np.int64)
            n_real = int(rec.get("n_real_users", n_real))
        elif p.stage is not None:  # a model fit without the stage: the same targets on its clean data
            names = match_names(p.stage, list(ctx.other_stages))
            index = None if not names else ctx.other_stages[names[0]].target_index(ctx.split, ctx.seed)
            if index is None:
                raise ConfigError(f"evaluation {self.name!r}: data stage {p.stage!r} has no targets here")
            targets = np.asarray(index, np.int64)
        elif p.items is not None:
            targets = item_index(ctx.fit_data, p.items, f"evaluation {self.name!r}: items")
        else:
            raise ConfigError(f"evaluation {self.name!r}: give stage = \"NAME\" or items = [...]")
        real = np.arange(min(n_real, ctx.split.n_users))
        res = target_item_metrics(model, ctx.fit_data, targets, ks=ctx.ks, users=real)
        return EvalOutput(res, {"targets": targets.tolist()})


class AttributeParams(StageParams):
    """Parameters of :class:`Attribute`."""

    column: str
    of: str = "test"
    metric: str | None = None
    """Per-user metric to group (default: NDCG at the first cutoff)."""


class Attribute(Evaluation):
    """An earlier evaluation's per-user metric, grouped by a user attribute."""

    kind = "attribute"
    params_class = AttributeParams
    params: AttributeParams

    def run(self, model: Recommender, ctx: EvalContext) -> EvalOutput:
        from advrec.eval.groups import attribute_report

        p = self.params
        if p.of not in ctx.results:
            raise ConfigError(f"evaluation {self.name!r}: of={p.of!r} must name an earlier evaluation "
                              f"(have {sorted(ctx.results)})")
        base = ctx.results[p.of]
        metric = p.metric or f"ndcg@{ctx.ks[0]}"
        feats = ctx.split.train.user_features
        if feats is None:
            raise ConfigError(f"evaluation {self.name!r}: the data has no user attributes")
        table = attribute_report(base, feats, p.column, metric)
        summary = {f"{metric}|{p.column}={row['value']}": float(row[metric]) for row in table.to_dict("records")}
        res = EvalResult(base.users, {}, summary, base.ks, base.n_users, base.n_items,
                         {"model": model.name, "of": p.of, "column": p.column})
        return EvalOutput(res, {"groups": table.to_dict(orient="records")})


class PerturbParams(StageParams):
    """Parameters of :class:`Perturb` (see :func:`advrec.robust.perturb.embedding_perturbation`)."""

    attack: Literal["fgsm", "pgd", "random"] = "fgsm"
    eps: float = Field(0.5, ge=0)
    """L2 budget of every user / item embedding row (APR's ``eps``)."""
    steps: int = Field(10, ge=1)
    """PGD steps (ignored by the other attacks)."""
    alpha: float | None = Field(None, gt=0)
    """PGD step size (default ``2.5 * eps / steps``)."""
    target: Literal["both", "users", "items"] = "both"
    ks: list[int] | None = None
    """Cutoffs (default: the run's)."""
    seed_offset: int = 0
    """Added to the run's seed for the sampled negatives or the noise."""


class Perturb(Evaluation):
    """Test ranking before and after a perturbation of the model's embeddings."""

    kind = "perturb"
    params_class = PerturbParams
    params: PerturbParams

    def run(self, model: Recommender, ctx: EvalContext) -> EvalOutput:
        from advrec.robust.perturb import perturb_evaluate

        p = self.params
        if ctx.split.cold_users is not None or ctx.split.cold_items is not None:
            raise ConfigError(f"evaluation {self.name!r} (perturb): needs a warm split, not {ctx.split.name!r}")
        ks = tuple(p.ks or ctx.ks)
        got = perturb_evaluate(model, ctx.fit_data, ctx.split.test, attack=p.attack, eps=p.eps, steps=p.steps,
                               alpha=p.alpha, target=p.target, ks=ks, seed=ctx.seed + p.seed_offset,
                               show_progress=ctx.show_progress, clean=ctx.shared.get(("perturb-clean", ks)))
        ctx.shared[("perturb-clean", ks)] = got.clean
        extra = got.to_dict()
        extra.pop("n_users")
        return EvalOutput(got.perturbed, extra)


EVALUATIONS: dict[str, type[Evaluation]] = {k.kind: k for k in (Ranking, TargetItems, Attribute, Perturb)}


def make_evaluation(name: str, kind: str, params: dict[str, Any]) -> Evaluation:
    """The registered evaluation ``kind`` with validated parameters (ConfigError naming it)."""
    return build_registered(EVALUATIONS, "evaluation", name, kind, params)


def clean_summary(summary: dict[str, float]) -> dict[str, float | None]:
    """JSON-friendly summary: lower-case keys, NaN as None."""
    return {k.lower(): (float(v) if np.isfinite(v) else None) for k, v in summary.items()}


import advrec.experiments.detection  # noqa: F401  (registers the ``detection`` kind; it subclasses Evaluation)
from advrec.experiments import privacy_eval as _privacy_eval  # noqa: F401  (registers the ``privacy`` kind)
