"""Hyper-parameter search on the validation split (Optuna), usable for every model."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from advrec.data.splits.split import Split
from advrec.errors import ConfigError
from advrec.eval.metrics import DEFAULT_METRICS
from advrec.experiments.fitting import fit_resumable
from advrec.models.base import Recommender
from advrec.models.registry import available, create, get_model_class
from advrec.utils.io import atomic_write_json

Space = Callable[[optuna.Trial], dict[str, Any]]


def search_space(model: str) -> Space | None:
    """The search space a registered model class declares (its ``search_space`` classmethod), or None.

    A space maps an Optuna trial to config values; the keys are fields of the model's config.
    """
    space = getattr(get_model_class(model), "search_space", None)
    return space if callable(space) else None


def tunable() -> list[str]:
    """Registered models that declare a search space."""
    return [name for name in available() if search_space(name) is not None]


def tuning_settings(model: str) -> dict[str, Any]:
    """Fixed config values of every trial of ``model`` (its class's ``tuning_settings``, e.g.
    the early stopping of iterative models); ``{}`` when it declares none."""
    return dict(getattr(get_model_class(model), "tuning_settings", {}))


def tune(
    model: str,
    split: Split,
    n_trials: int,
    *,
    metric: str = "ndcg@20",
    seed: int = 0,
    base_params: dict[str, Any] | None = None,
    show_progress: bool = False,
    checkpoints: str | Path | None = None,
    checkpoint_every: int = 10,
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Search hyper-parameters of ``model`` on the validation part of ``split``.

    Each trial fits on ``split.train`` and is scored on ``split.valid`` with the
    training items excluded; the test part is never touched.

    Parameters
    ----------
    model
        Registered model name.
    split
        A split with a validation part.
    n_trials
        Number of Optuna (TPE) trials.
    metric
        Summary key of :class:`~advrec.eval.EvalResult` to maximise.
    seed
        Seeds the sampler and every trial's model.
    base_params
        Fixed parameters the search does not change.
    show_progress
        Show Optuna's progress bar and a line per finished trial with its validation score.
    checkpoints
        Folder for the resumable checkpoints of iterative models, one ``trial<n>``
        folder per trial, and for the record of every finished trial (``trial<n>.json``:
        its values, data checksums, validation value and choices). The seeded sampler
        proposes the same values again, so a rerun of an interrupted search takes each
        finished trial from its record without a fit (the record alone is enough: it
        travels in ``advrec run --pack``) and resumes the others where they stopped.
    checkpoint_every
        Epochs between checkpoints.

    Returns
    -------
    tuple
        ``(best_params, trials)`` where ``best_params`` merges ``base_params``
        with the best trial's values and ``trials`` lists every trial's
        parameters and validation value.
    """
    from advrec.experiments.evaluations import validation_scorer

    name = model.lower()
    space = _checked_space(model, n_trials)
    tuning = split.tuning()
    fixed = {**tuning_settings(name), **(base_params or {})}
    fixed.pop("seed", None)

    data_key = {"train": tuning.train.checksum(), "valid": tuning.test.checksum(), "metric": metric}

    def objective(trial: optuna.Trial) -> float:
        params = {**space(trial), **fixed, "seed": seed}  # fixed values win
        record = None if checkpoints is None else Path(checkpoints) / f"trial{trial.number}.json"
        key = trial_key(name, params, data_key)
        done = finished_trial(record, key)
        if done is not None:  # a finished trial of an earlier (interrupted) search: not fit again
            for attr, value in done["user_attrs"].items():
                trial.set_user_attr(attr, value)
            return float(done["value"])
        # valid is passed so iterative models can stop early; what the model chose on
        # it (the best epoch, ...) becomes part of the tuned values for the final fit.
        ckpt = None if record is None else record.with_suffix("")
        rec = create(name, **params)
        rec = fit_resumable(rec, tuning.train, tuning.test, checkpoints=ckpt, every=checkpoint_every,
                            validator=validation_scorer(tuning, getattr(rec.config, "valid_metric", metric)))
        _record_choices(trial, rec)
        value = _validation_score(rec, tuning, metric)
        if record is not None:
            atomic_write_json(record, {"key": key, "value": value, "user_attrs": dict(trial.user_attrs)})
        return value

    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, show_progress_bar=show_progress,
                   callbacks=[_print_trial(metric)] if show_progress else None)
    trials = _completed_trials(study, fixed)
    # re-run the space on the best values so derived parameters (e.g. lists) are rebuilt
    best = {**space(optuna.trial.FixedTrial(study.best_params)), **fixed}
    best.update(study.best_trial.user_attrs.get("selected", {}))
    return best, trials



def trial_key(model: str, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """What a finished trial's record must match to stand for a fit: the model, every value the trial
    used (sampled and fixed, as JSON) and the checksums of the data it was fit and scored on."""
    return {"model": model, "params": json.loads(json.dumps(params, sort_keys=True, default=str)), **data}


def finished_trial(path: Path | None, key: dict[str, Any]) -> dict[str, Any] | None:
    """The record at ``path`` when it is a finished trial with exactly ``key``; None otherwise (no
    record, another search's record, or an unreadable one: the trial is then fit and the record rewritten)."""
    if path is None or not path.is_file():
        return None
    try:
        done = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(done, dict) or done.get("key") != key or "value" not in done:
        return None
    return {"value": done["value"], "user_attrs": done.get("user_attrs") or {}}


def _checked_space(model: str, n_trials: int) -> Space:
    """The search space of ``model``; ConfigError without one or without a trial to run."""
    space = search_space(model.lower())
    if space is None:
        raise ConfigError(f"model {model!r} has no search space; tunable: {', '.join(tunable())}")
    if n_trials < 1:
        raise ConfigError(f"--tune needs at least 1 trial, got {n_trials}")
    return space


def _validation_score(rec: Recommender, tuning: Split, metric: str) -> float:
    """``metric`` of a trial's fitted model on the tuning split's test part (the validation records),
    scored as the final test run will be (fold-in for cold users, cold-item settings ...)."""
    from advrec.experiments.evaluations import rank_test

    base_metric = metric.partition("@")[0]
    # compute only the metric maximised (no AUC sort or beyond-accuracy pass) when it is an accuracy one
    narrow: dict[str, Any] = {"metrics": (base_metric,), "beyond": False} if base_metric in DEFAULT_METRICS else {}
    # on a cold-item split the cold setting, as the default test evaluation (cold items the only candidates)
    candidates = "cold-items" if tuning.cold_items is not None else "all"
    res = rank_test(rec, tuning, tuning.train, (_cutoff(metric),), candidates, **narrow).result
    if metric not in res.summary:
        raise ConfigError(f"unknown tuning metric {metric!r}; have {', '.join(sorted(res.summary))}")
    return float(res.summary[metric])


def _record_choices(trial: optuna.Trial, rec: Recommender) -> None:
    """Store with the trial what the fit chose on validation data and what the trial cost."""
    selected = rec.selected_params()  # e.g. the early-stopping epoch
    if selected:
        trial.set_user_attr("selected", selected)
    scores = rec.selection_scores()  # e.g. the validation score of every blend weight tried
    if scores:
        trial.set_user_attr("selection_scores", scores)
    history = getattr(rec, "history", None)
    if history:  # what the trial cost (a resumed trial's history includes the rounds run before)
        trial.set_user_attr("epochs_run", len(history))
        trial.set_user_attr("train_seconds", float(sum(h.get("seconds", 0.0) for h in history)))


def _completed_trials(study: optuna.Study, fixed: dict[str, Any]) -> list[dict[str, Any]]:
    """Number, values, validation value and recorded choices of every completed trial.

    Only the values a trial really used are listed: fixed ones override the sampled ones.
    """
    return [
        {"number": t.number, "params": {k: v for k, v in t.params.items() if k not in fixed},
         "value": t.value, **t.user_attrs}
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]


def _print_trial(metric: str) -> Callable[[optuna.Study, optuna.trial.FrozenTrial], None]:
    """An Optuna callback writing one line per finished trial to stderr: its validation score and values."""
    import sys

    def report(study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        if trial.value is None:
            return
        values = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in trial.params.items())
        print(f"advrec: trial {trial.number}: validation {metric} {trial.value:.4f} ({values}); "
              f"best {study.best_value:.4f} (trial {study.best_trial.number})", file=sys.stderr, flush=True)

    return report


def _cutoff(metric: str) -> int:
    if "@" not in metric:
        return 20
    try:
        return int(metric.split("@", 1)[1])
    except ValueError:
        raise ConfigError(f"bad metric name {metric!r}; expected e.g. 'ndcg@20'") from None
