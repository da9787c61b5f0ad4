"""Hyper-parameter search on the validation split (Optuna), usable for every model."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna

from advrec.data.splits.split import Split
from advrec.errors import ConfigError
from advrec.eval.metrics import DEFAULT_METRICS
from advrec.experiments.fitting import fit_resumable
from advrec.models.registry import create, get_model_class
from advrec.models.rp3beta import RP3beta

Space = Callable[[optuna.Trial], dict[str, Any]]


def _space_ease(t: optuna.Trial) -> dict[str, Any]:
    return {"l2": t.suggest_float("l2", 1.0, 1e4, log=True)}


def _space_itemknn(t: optuna.Trial) -> dict[str, Any]:
    return {
        "k": t.suggest_int("k", 10, 500, log=True),
        "shrink": t.suggest_float("shrink", 0.0, 200.0),
        "asymmetric_alpha": t.suggest_float("asymmetric_alpha", 0.3, 1.0),
        "feature_weighting": t.suggest_categorical("feature_weighting", ["none", "bm25", "tfidf"]),
    }


def _space_puresvd(t: optuna.Trial) -> dict[str, Any]:
    return {"factors": t.suggest_int("factors", 4, 400, log=True)}


def _space_slim(t: optuna.Trial) -> dict[str, Any]:
    return {
        "alpha": t.suggest_float("alpha", 1e-3, 3.0, log=True),
        "l1_ratio": t.suggest_float("l1_ratio", 1e-4, 0.5, log=True),
    }


def _space_bpr(t: optuna.Trial) -> dict[str, Any]:
    return {
        "factors": t.suggest_categorical("factors", [64, 128, 256]),
        "lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
        "l2": t.suggest_float("l2", 1e-3, 5e-2, log=True),
    }


def _space_lightgcn(t: optuna.Trial) -> dict[str, Any]:
    return {
        "layers": t.suggest_int("layers", 1, 4),
        "lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
        "l2": t.suggest_float("l2", 1e-5, 1e-2, log=True),
    }


def _space_multvae(t: optuna.Trial) -> dict[str, Any]:
    return {
        "dropout": t.suggest_float("dropout", 0.0, 0.8),
        "anneal_cap": t.suggest_float("anneal_cap", 0.05, 1.0),
        "total_anneal_steps": t.suggest_categorical("total_anneal_steps", [2000, 20000, 200000]),
        "lr": t.suggest_float("lr", 3e-4, 1e-2, log=True),
    }


def _space_cfgan(t: optuna.Trial) -> dict[str, Any]:
    return {
        "lr": t.suggest_float("lr", 1e-5, 3e-3, log=True),
        "lr_d": t.suggest_float("lr_d", 1e-5, 3e-3, log=True),
        "alpha": t.suggest_float("alpha", 1e-3, 1.0, log=True),
        "zr_ratio": t.suggest_float("zr_ratio", 0.1, 0.9),
        "pm_ratio": t.suggest_float("pm_ratio", 0.1, 0.9),
        "g_hidden": [t.suggest_categorical("g_hidden", [200, 400, 800])],
        "l2": t.suggest_float("l2", 1e-5, 1e-2, log=True),
    }


def _space_irgan(t: optuna.Trial) -> dict[str, Any]:
    return {
        "factors": t.suggest_categorical("factors", [5, 16, 32, 64]),
        "pretrain_epochs": t.suggest_int("pretrain_epochs", 5, 40, step=5),
        "lr_pretrain": t.suggest_float("lr_pretrain", 1e-3, 3e-2, log=True),
        "lr": t.suggest_float("lr", 1e-5, 1e-3, log=True),
        "lr_d": t.suggest_float("lr_d", 1e-4, 1e-2, log=True),
        "l2": t.suggest_float("l2", 1e-4, 1e-1, log=True),
        "l2_d": t.suggest_float("l2_d", 1e-4, 1e-1, log=True),
        "temperature": t.suggest_float("temperature", 0.1, 1.0, log=True),
    }


#: Iterative models train for at most ``epochs`` and stop early on validation; the
#: epoch they stop at becomes their tuned ``epochs``.
EARLY_STOPPING: dict[str, Any] = {"epochs": 400, "eval_every": 5, "patience": 5}
ITERATIVE = {"bpr": {**EARLY_STOPPING, "batch_size": 4096}, "lightgcn": {**EARLY_STOPPING, "batch_size": 4096},
             "multvae": dict(EARLY_STOPPING), "irgan": {"epochs": 150, "eval_every": 5, "patience": 4},
             "cfgan": {"epochs": 300, "eval_every": 10, "patience": 4}}


#: Search space per model name; the keys must be fields of the model's config.
SEARCH_SPACES: dict[str, Space] = {
    "ease": _space_ease,
    "itemknn": _space_itemknn,
    "puresvd": _space_puresvd,
    "slim": _space_slim,
    "bpr": _space_bpr,
    "lightgcn": _space_lightgcn,
    "multvae": _space_multvae,
    "irgan": _space_irgan,
    "cfgan": _space_cfgan,
    "rp3beta": RP3beta.search_space,
}


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
        folder per trial. The seeded sampler proposes the same values again, so a
        rerun of an interrupted search resumes each trial where it stopped.
    checkpoint_every
        Epochs between checkpoints.

    Returns
    -------
    tuple
        ``(best_params, trials)`` where ``best_params`` merges ``base_params``
        with the best trial's values and ``trials`` lists every trial's
        parameters and validation value.
    """
    from advrec.eval import evaluate

    name = model.lower()
    get_model_class(name)
    if name not in SEARCH_SPACES:
        raise ConfigError(f"model {model!r} has no search space; tunable: {', '.join(sorted(SEARCH_SPACES))}")
    if n_trials < 1:
        raise ConfigError(f"--tune needs at least 1 trial, got {n_trials}")
    tuning = split.tuning()
    fixed = {**ITERATIVE.get(name, {}), **(base_params or {})}
    fixed.pop("seed", None)

    base_metric = metric.partition("@")[0]
    # compute only the metric maximised (no AUC sort or beyond-accuracy pass) when it is an accuracy one
    narrow: dict[str, Any] = {"metrics": (base_metric,), "beyond": False} if base_metric in DEFAULT_METRICS else {}

    def objective(trial: optuna.Trial) -> float:
        params = {**SEARCH_SPACES[name](trial), **fixed, "seed": seed}  # fixed values win
        # valid is passed so iterative models can stop early; what the model chose on
        # it (the best epoch, ...) becomes part of the tuned values for the final fit.
        ckpt = None if checkpoints is None else Path(checkpoints) / f"trial{trial.number}"
        rec = fit_resumable(create(name, **params), tuning.train, tuning.test, checkpoints=ckpt,
                            every=checkpoint_every)
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
        res = evaluate(rec, tuning.train, tuning.test, ks=(_cutoff(metric),), **narrow)
        if metric not in res.summary:
            raise ConfigError(f"unknown tuning metric {metric!r}; have {', '.join(sorted(res.summary))}")
        return float(res.summary[metric])

    optuna.logging.set_verbosity(logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=n_trials, show_progress_bar=show_progress,
                   callbacks=[_print_trial(metric)] if show_progress else None)
    trials = [  # only the values a trial really used: fixed ones override the sampled ones
        {"number": t.number, "params": {k: v for k, v in t.params.items() if k not in fixed},
         "value": t.value, **t.user_attrs}
        for t in study.trials
        if t.state == optuna.trial.TrialState.COMPLETE
    ]
    # re-run the space on the best values so derived parameters (e.g. lists) are rebuilt
    best = {**SEARCH_SPACES[name](optuna.trial.FixedTrial(study.best_params)), **fixed}
    best.update(study.best_trial.user_attrs.get("selected", {}))
    return best, trials


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
