"""One run end to end: data -> split -> data stages -> (tune) -> fit -> evaluations -> record.

Both ``advrec train`` and ``advrec run`` go through :func:`train_and_evaluate`,
so a number in a benchmark table and a number from the command line come from
the same code. Tuning fits on ``split.train`` and scores ``split.valid``; the final model is fit
on train + valid and scored on test with those items excluded. A run that needs no validation
part does not fail when the data are too small to carve one.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from advrec.data.sources import Dataset
from advrec.data.splits.split import Split
from advrec.errors import ConfigError
from advrec.eval.evaluator import EvalResult
from advrec.experiments.data_stages import DataStage, apply_stages
from advrec.experiments.evaluations import EvalContext, Evaluation, Ranking
from advrec.experiments.fallback import early_stop, plan_defaults
from advrec.experiments.records import device_label, machine, save_per_user, versions
from advrec.experiments.stages import eval_stages, fit_stage
from advrec.experiments.tuning import tune
from advrec.models.base import Recommender
from advrec.models.registry import create, get_model_class
from advrec.utils.io import atomic_write_json

__all__ = ["RunResult", "device_label", "load_cached", "machine", "parse_assignments", "resolve_split",
           "save_per_user", "train_and_evaluate", "versions"]


@dataclass
class RunResult:
    """What one run produced: the JSON record, the first evaluation's per-user metrics, the model,
    and every evaluation's result by name."""

    record: dict[str, Any]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    model: Recommender = field(repr=False)
    evaluations: dict[str, EvalResult] = field(default_factory=dict, repr=False)


@lru_cache(maxsize=8)
def load_cached(name: str) -> Any:
    """Load a named dataset once per process (datasets are immutable)."""
    from advrec.data.datasets import load_dataset

    return load_dataset(name)


def resolve_split(dataset: Any, spec: str | None, seed: int, *, need_valid: bool = True) -> Split:
    """The split for ``spec`` (default: the published split if any, else ``random:0.8``).

    With ``need_valid=False`` (no tuning, no early stopping) data too small to carve a
    validation part from still gives a split, without one.
    """
    from advrec.data.splits import make_split
    from advrec.errors import DataError

    spec = spec or ("fixed" if dataset.split is not None else "random:0.8")
    try:
        return make_split(dataset.interactions, spec, seed=seed, fixed=dataset.split)
    except DataError:
        if need_valid:
            raise
        return make_split(dataset.interactions, spec, seed=seed, fixed=dataset.split, valid_ratio=0.0)


def train_and_evaluate(
    model: str,
    dataset: str | Dataset,
    *,
    split: str | None = None,
    seed: int = 0,
    params: dict[str, Any] | None = None,
    tune_trials: int = 0,
    ks: tuple[int, ...] = (20,),
    out: str | Path | None = None,
    show_progress: bool = False,
    metric: str = "ndcg@20",
    checkpoints: str | Path | None = None,
    checkpoint_every: int = 10,
    stages: Sequence[DataStage] = (),
    other_stages: Sequence[DataStage] = (),
    init: Recommender | None = None,
    evaluations: Sequence[Evaluation] | None = None,
    fallback: bool = False,
    stage_cache: str | Path | None = None,
) -> RunResult:
    """One run: data stages -> (tune) -> fit -> evaluations -> record; each stage resumable.

    Parameters
    ----------
    model, dataset
        Registered model name; dataset name or path (see :func:`advrec.data.datasets.load_dataset`)
        or a loaded :class:`~advrec.data.sources.Dataset` (e.g. a user's own files).
    split, seed
        Split spec (:func:`advrec.data.splits.parse_spec`); the seed of the split, stages and model.
    params, tune_trials, metric
        Hyper-parameters over the per-dataset defaults; Optuna trials on the validation part
        first (maximising ``metric``) when > 0.
    ks, show_progress, out
        Cutoffs of the metrics; progress bars for fitting and evaluation; the folder of the run: the model, ``fit.json``, ``data.json``, ``eval.<name>.json`` +
        ``per_user.<name>.parquet`` per evaluation, ``result.json`` (None: nothing saved).
        Stages already finished there with the same inputs are reused.
    checkpoints, checkpoint_every
        Folder of resumable checkpoints of iterative fits (``final/``, ``trial<n>/``) and their period.
    stages, other_stages, stage_cache
        Data stages applied in order to the training part (valid and test never change); the
        experiment's stages this run does not apply (evaluations may use their targets); a folder
        where stages keep their outputs for runs on the same data and seed (None: nothing kept).
    evaluations
        Named evaluations (:mod:`advrec.experiments.evaluations`); default ``test``, full ranking
        (fold-in for cold users; on a cold-item split the cold setting, with ``record["metrics_by_setting"]``
        holding ``cold``, ``warm`` and ``all``). ``record["metrics"]`` are the first's.
    init, fallback
        A fitted model whose parameters start the final fit (a warm start). ``fallback``: without
        tuned defaults for ``model`` on the dataset, say so on stderr, use the model's fallback
        defaults and stop iterative fits early (:mod:`advrec.experiments.fallback`).
    """
    get_model_class(model)
    ds = load_cached(dataset) if isinstance(dataset, str) else dataset
    plan = plan_defaults(model, ds.name, params, tuning=bool(tune_trials), fallback=fallback)
    if plan.notice:
        print(plan.notice, file=sys.stderr)
    need_valid = bool(tune_trials) or plan.early_stop
    sp, data_records = apply_stages(resolve_split(ds, split, seed, need_valid=need_valid), list(stages), seed,
                                    cache=None if stage_cache is None else Path(stage_cache))
    out_dir = None if out is None else Path(out)
    if out_dir is not None and data_records:
        atomic_write_json(out_dir / "data.json", data_records)
    chosen, trials = _choose_params(model, sp, plan, params, seed, tune_trials, metric=metric, checkpoints=checkpoints,
                                    checkpoint_every=checkpoint_every, show_progress=show_progress)
    fit_data = sp.train_full()
    rec, fit_record = fit_stage(model, chosen, fit_data, init=init, out=out_dir,
                                checkpoints=None if checkpoints is None else Path(checkpoints) / "final",
                                every=checkpoint_every, show_progress=show_progress)
    ctx = EvalContext(sp, fit_data, tuple(ks), seed, {r["name"]: r for r in data_records},
                      {st.name: st for st in other_stages}, show_progress=show_progress)
    # the default evaluation: full ranking; on a cold-item split the cold setting (cold items the only
    # candidates), with the warm and all-items settings beside it (record["metrics_by_setting"])
    default = Ranking("test", {"candidates": "cold-items"} if sp.cold_items is not None else {})
    done = eval_stages(rec, evaluations or [default], ctx, out=out_dir, fit_record=fit_record)
    record = _record(rec, ds, sp, fit_data, fit_record, done, data_records,
                     tuning={"trials": len(trials), "history": trials} if trials else None, defaults=plan.source,
                     **({} if out_dir is None else {"out": str(out_dir)}))
    if out_dir is not None:
        atomic_write_json(out_dir / "result.json", record)
    res = next(iter(done.values()))[0].result
    per_user = {name: o.result for name, (o, _) in done.items()}
    return RunResult(record=record, per_user=res.per_user, users=res.users, model=rec, evaluations=per_user)


def _choose_params(model: str, sp: Split, plan: Any, params: dict[str, Any] | None, seed: int, tune_trials: int,
                   **options: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The hyper-parameters of the final fit (defaults, early stopping or a search) and the trials run;
    a model that cannot score the split's cold users is refused here, before anything is fit."""
    chosen = {**plan.params, **(params or {}), "seed": seed}
    if sp.cold_users is not None:  # cold users are scored through fold-in: refuse before any fit
        create(model, **chosen).require("fold_in")
    if plan.early_stop:
        chosen = early_stop(model, sp, chosen, show_progress=options["show_progress"])
    if not tune_trials:
        return chosen, []
    # the search starts from the model's own defaults; only the user's --set values stay fixed
    chosen, trials = tune(model, sp, tune_trials, seed=seed, base_params=params, **options)
    return {**chosen, "seed": seed}, trials


def _record(rec: Recommender, ds: Dataset, sp: Split, fit_data: Any, fit_record: dict[str, Any],
            done: dict[str, Any], data_records: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    """The ``result.json`` of a run; ``metrics`` are the first evaluation's."""
    from advrec.eval import group_report

    res = next(iter(done.values()))[0].result
    key = f"ndcg@{res.ks[0]}"
    return {
        "model": rec.name, "dataset": ds.name, "split": sp.name, "seed": rec.config.seed,
        "hyperparameters": rec.config.model_dump(mode="json"), **extra,
        **{k: fit_record[k] for k in ("fit_seconds", "resumed_from_epoch", "device", "init")},
        "privacy": fit_record.get("privacy"),
        "eval_seconds": round(sum(r["seconds"] for _, r in done.values()), 3),
        "metrics": {k.lower(): float(v) for k, v in res.summary.items()},
        "n_test_users": len(res.users),
        **({"metrics_by_setting": settings} if (settings := next(iter(done.values()))[1].get("settings")) else {}),
        "evaluations": {name: r for name, (_, r) in done.items()},
        "data_stages": data_records,
        "activity_groups": group_report(res, sp.real(fit_data), 4, key).to_dict(orient="records")
        if key in res.per_user else None,
        "data": {"source": ds.source, "train_sha256": fit_data.checksum(), "test_sha256": sp.test.checksum(),
                 "split": sp.summary()},
        "versions": versions(),
    }


def parse_assignments(items: list[str]) -> dict[str, Any]:
    """Parse ``key=value`` strings (values as JSON where possible, else strings).

    Raises
    ------
    ConfigError
        For an item without ``=``.
    """
    import json

    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, raw = item.split("=", 1)
        try:
            out[key.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            out[key.strip()] = raw
    return out
