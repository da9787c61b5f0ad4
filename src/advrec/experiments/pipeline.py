"""One training run end to end: data -> split -> (tune) -> fit -> evaluate -> save.

Both ``advrec train`` and ``advrec run`` go through :func:`train_and_evaluate`,
so a number in a benchmark table and a number from the command line come from
the same code.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import torch

import advrec
from advrec.data.sources import Dataset
from advrec.data.splits.split import Split
from advrec.errors import ConfigError
from advrec.experiments.fallback import early_stop, plan_defaults
from advrec.experiments.fitting import fit_resumable
from advrec.experiments.tuning import tune
from advrec.models.base import Recommender
from advrec.models.registry import create, get_model_class
from advrec.utils.io import atomic_write_json, atomic_write_with


@dataclass
class RunResult:
    """What one run produced: the JSON record, the per-user metrics and the model."""

    record: dict[str, Any]
    per_user: dict[str, np.ndarray]
    users: np.ndarray
    model: Recommender = field(repr=False)


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


def _seconds_before_resume(rec: Recommender) -> float:
    """Training seconds of the epochs a resumed fit ran before its resumption (0 if not resumed).

    A resumed fit's wall time covers only its last part; its history (restored from the
    checkpoint) holds the seconds of every epoch.
    """
    loop = getattr(rec, "loop_result_", None)
    if loop is None or not loop.resumed_from:
        return 0.0
    return float(sum(h.get("seconds", 0.0) for h in getattr(rec, "history", []) if h["epoch"] <= loop.resumed_from))


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
    fallback: bool = False,
) -> RunResult:
    """Train ``model`` on ``dataset`` and evaluate it on the test part.

    Parameters
    ----------
    model
        Registered model name.
    dataset
        Dataset name or path (see :func:`advrec.data.datasets.load_dataset`), or a
        loaded :class:`~advrec.data.sources.Dataset` (e.g. a user's own files).
    split
        Split spec (see :func:`advrec.data.splits.parse_spec`).
    seed
        Seeds the split's random choices and the model.
    params
        Hyper-parameters overriding the documented per-dataset defaults.
    tune_trials
        When > 0, search hyper-parameters on the validation part first.
    ks
        Cutoffs of the test metrics.
    out
        Directory for the saved model and ``result.json`` (nothing saved if None).
    show_progress
        Progress bars for fitting and evaluation.
    metric
        Validation metric that tuning maximises.
    checkpoints
        Folder for resumable checkpoints of iterative models (``final/`` for the
        final fit, ``trial<n>/`` per tuning trial); a rerun resumes from them.
    checkpoint_every
        Epochs between checkpoints.
    fallback
        When the dataset has no tuned defaults for ``model`` (and no tuning is
        asked for): say so on stderr, start from the model's fallback defaults and
        let iterative models stop early on the validation part (``advrec train``
        sets it; experiment files keep their explicit values).

    Notes
    -----
    Tuning fits on ``split.train`` and scores ``split.valid``. The final model
    is fitted on train + valid and scored on test with those items excluded.
    See :mod:`advrec.experiments.fallback` for ``fallback``. A run that needs no
    validation part (no tuning, no early stopping) does not fail when the data are
    too small to carve one.
    """
    from advrec.eval import evaluate, group_report

    get_model_class(model)
    ds = load_cached(dataset) if isinstance(dataset, str) else dataset
    plan = plan_defaults(model, ds.name, params, tuning=bool(tune_trials), fallback=fallback)
    if plan.notice:
        print(plan.notice, file=sys.stderr)
    sp = resolve_split(ds, split, seed, need_valid=bool(tune_trials) or plan.early_stop)
    chosen = {**plan.params, **(params or {}), "seed": seed}
    if plan.early_stop:
        chosen = early_stop(model, sp, chosen, show_progress=show_progress)
    trials: list[dict[str, Any]] = []
    if tune_trials:
        # the search starts from the model's own defaults; only the user's --set values stay fixed
        chosen, trials = tune(model, sp, tune_trials, metric=metric, seed=seed, base_params=params,
                              show_progress=show_progress, checkpoints=checkpoints,
                              checkpoint_every=checkpoint_every)
        chosen["seed"] = seed
    rec = create(model, **chosen)
    fit_data = sp.train_full()
    t0 = time.perf_counter()
    fit_resumable(rec, fit_data, None, checkpoints=None if checkpoints is None else Path(checkpoints) / "final",
                  every=checkpoint_every, show_progress=show_progress)
    fit_seconds = time.perf_counter() - t0 + _seconds_before_resume(rec)
    t0 = time.perf_counter()
    res = evaluate(rec, fit_data, sp.test, ks=ks, show_progress=show_progress)
    eval_seconds = time.perf_counter() - t0
    record = {
        "model": rec.name,
        "dataset": ds.name,
        "split": sp.name,
        "seed": seed,
        "hyperparameters": rec.config.model_dump(mode="json"),
        "tuning": {"trials": len(trials), "history": trials} if trials else None,
        "defaults": plan.source,
        "fit_seconds": round(fit_seconds, 3),
        "resumed_from_epoch": getattr(getattr(rec, "loop_result_", None), "resumed_from", 0),
        "device": device_label(getattr(rec, "device", torch.device("cpu"))),
        "eval_seconds": round(eval_seconds, 3),
        "metrics": {k.lower(): float(v) for k, v in res.summary.items()},
        "n_test_users": len(res.users),
        "activity_groups": group_report(res, fit_data, 4, f"ndcg@{ks[0]}").to_dict(orient="records"),
        "data": {
            "source": ds.source,
            "train_sha256": fit_data.checksum(),
            "test_sha256": sp.test.checksum(),
            "split": sp.summary(),
        },
        "versions": versions(),
    }
    if out is not None:
        out_dir = Path(out)
        rec.save(out_dir, extra_meta={"dataset": ds.name, "split": sp.name})
        record["out"] = str(out_dir)
        atomic_write_json(out_dir / "result.json", record)
        save_per_user(out_dir / "per_user.parquet", res.users, res.per_user)
    return RunResult(record=record, per_user=res.per_user, users=res.users, model=rec)


def save_per_user(path: Path, users: np.ndarray, per_user: dict[str, np.ndarray]) -> None:
    """Write per-user metric vectors as Parquet (atomic), for later significance tests."""
    import pandas as pd

    frame = pd.DataFrame({"user": users, **per_user})
    atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def versions() -> dict[str, str]:
    """Versions of advrec, Python and the numeric stack, for result records."""
    import scipy

    return {
        "advrec": advrec.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "machine": machine(),
    }


def device_label(device: torch.device) -> str:
    """``"cpu"`` or the CUDA device with its name, e.g. ``"cuda:0 (NVIDIA H200)"``."""
    if device.type != "cuda":
        return str(device)
    return f"{device} ({torch.cuda.get_device_name(device)})"


def machine() -> str:
    """Cores and CPU model, for benchmark tables (e.g. ``"2 cores, AMD EPYC"``)."""
    import os

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    n = torch.get_num_threads()
    return f"{os.cpu_count()} cores, {model}, torch {torch.__version__} ({n} thread{'' if n == 1 else 's'})"


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
