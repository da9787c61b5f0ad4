"""Defaults for a (model, dataset) pair that has none tuned: say so, and early-stop on validation.

``models/defaults.toml`` holds hyper-parameters chosen on the validation data of
the benchmark datasets. A dataset without an entry (a user's own files) gets the
model's fallback entry (``[model."*"]``, e.g. CFGAN's, chosen for robustness across
datasets) or its config defaults; :func:`plan_defaults` says which on stderr and
suggests ``--tune N``. Iterative models then stop early on a validation part
carved from train (:func:`early_stop`) instead of running a fixed epoch count.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any

from advrec.data.splits.split import Split
from advrec.experiments.fitting import fit_resumable
from advrec.experiments.tuning import search_space, tuning_settings
from advrec.models.registry import _defaults_table, create, default_params, get_model_class

FALLBACK_KEY = "*"


@dataclass(frozen=True)
class DefaultsPlan:
    """What the run starts from: ``params``, where they come from, and whether to early-stop."""

    params: dict[str, Any]
    source: str  # "tuned", "fallback", "config" or "none" (nothing to tune)
    early_stop: bool
    notice: str | None


def plan_defaults(model: str, dataset: str, user_params: dict[str, Any] | None, *, tuning: bool,
                  fallback: bool = True) -> DefaultsPlan:
    """The starting hyper-parameters of ``model`` on ``dataset``, with a notice when none were tuned.

    Parameters
    ----------
    model, dataset
        Registered model name and the dataset's name.
    user_params
        Values the user set (``--set``); they win over any default.
    tuning
        Whether a search on validation follows (then no notice and no early stop here).
    fallback
        ``False``: only the tuned defaults (or none), as experiment files use them.
    """
    name = model.lower()
    tuned = default_params(name, dataset)
    space = search_space(name)
    if tuned or tuning or not fallback or space is None:
        return DefaultsPlan(tuned, "tuned" if tuned else "none", False, None)
    fallback = dict(_defaults_table().get(name, {}).get(FALLBACK_KEY, {}))
    user = user_params or {}
    iterative = bool(getattr(get_model_class(name), "iterative", False)) and "epochs" not in user
    if iterative:
        fallback = {**tuning_settings(name), **fallback}
    config = get_model_class(name).config_class().model_dump()
    shown = {**{k: config[k] for k in _space_keys(space) if k in config}, **fallback, **user}
    what = ("its fallback defaults (chosen for robustness across datasets)" if FALLBACK_KEY in
            _defaults_table().get(name, {}) else "its config defaults")
    notice = (f"advrec: no defaults were tuned for {name} on {dataset!r}; using {what}"
              + (f" {_fmt(shown)}" if shown else "")
              + ("; the number of epochs is chosen by early stopping on a validation part carved from train"
                 if iterative else "")
              + ". Run with --tune 30 to choose them on validation data.")
    return DefaultsPlan(fallback, "fallback" if FALLBACK_KEY in _defaults_table().get(name, {}) else "config",
                        iterative, notice)


class _KeyRecorder:
    """Stands in for an Optuna trial to list the names a search space suggests."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def _suggest(self, name: str, *args: Any, **kwargs: Any) -> Any:
        self.names.append(name)
        choices = args[0] if args and isinstance(args[0], (list, tuple)) else kwargs.get("choices")
        return choices[0] if choices else (args[0] if args else 1)

    suggest_float = suggest_int = suggest_categorical = _suggest


def _space_keys(space: Any) -> list[str]:
    return list(space(_KeyRecorder()))


def _fmt(params: dict[str, Any]) -> str:
    return "(" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"


def early_stop(model: str, split: Split, params: dict[str, Any], *, show_progress: bool = False) -> dict[str, Any]:
    """Fit once on ``split.train``, stopping early on ``split.valid``; return ``params`` with what it chose.

    What the fit selected on validation (the best epoch, a blend weight, ...) replaces
    the corresponding values for the final fit on train + valid.
    """
    from advrec.experiments.evaluations import validation_scorer

    tuning = split.tuning()
    rec = create(model, **params)
    metric = getattr(rec.config, "valid_metric", "ndcg@20")
    rec = fit_resumable(rec, tuning.train, tuning.test, show_progress=show_progress,
                        validator=validation_scorer(tuning, metric))
    chosen = rec.selected_params()
    if show_progress or sys.stderr.isatty():
        print(f"advrec: early stopping chose {_fmt(chosen) if chosen else 'nothing'}", file=sys.stderr)
    return {**params, **chosen}
