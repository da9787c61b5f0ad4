"""The fit stage and the evaluation stages of a run, each resumable from the run's folder.

A run folder holds, once each stage has finished: ``data.json`` (what the data stages did),
the fitted model (``model.safetensors`` + ``meta.json``) with ``fit.json`` (what was fit on what,
from which init), one ``eval.<name>.json`` + ``per_user.<name>.parquet`` per evaluation, and
finally ``result.json``. A rerun reuses every stage whose record matches what it would do, so an
interrupted run loses at most the stage in progress (and iterative fits resume from checkpoints).
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from advrec.data.interactions import Interactions
from advrec.errors import ModelFileError
from advrec.eval.evaluator import EvalResult
from advrec.experiments.evaluations import EvalContext, EvalOutput, Evaluation, clean_summary
from advrec.experiments.fitting import fit_resumable
from advrec.experiments.records import device_label, save_per_user
from advrec.models.base import Recommender
from advrec.models.config import same_hyperparameters
from advrec.models.registry import create
from advrec.utils.io import atomic_write_json

FIT_FILE = "fit.json"


def init_label(init: Recommender | None) -> dict[str, Any] | None:
    """A JSON description of a warm start's init model (None for a fresh fit)."""
    if init is None:
        return None
    return {"model": init.name, "config": init.config.model_dump(mode="json"),
            "n_users": init.n_users, "n_items": init.n_items}


def fit_stage(model: str, params: dict[str, Any], fit_data: Interactions, *, init: Recommender | None,
              out: Path | None, checkpoints: Path | None, every: int,
              show_progress: bool) -> tuple[Recommender, dict[str, Any]]:
    """Fit ``model`` (or reuse the model saved in ``out`` by the same fit) and its fit record."""
    rec = create(model, **params)
    wanted = {"model": rec.name, "hyperparameters": rec.config.model_dump(mode="json"),
              "train_sha256": fit_data.checksum(), "init": init_label(init)}
    done = _finished_fit(out, wanted, rec.config)
    if done is not None:
        return done
    t0 = time.perf_counter()
    fit_resumable(rec, fit_data, None, checkpoints=checkpoints, every=every, show_progress=show_progress,
                  init=init)
    loop = getattr(rec, "loop_result_", None)
    record = {**wanted, "fit_seconds": round(time.perf_counter() - t0 + _seconds_before_resume(rec), 3),
              "resumed_from_epoch": getattr(loop, "resumed_from", 0),
              "device": device_label(getattr(rec, "device", None)),
              "privacy": getattr(rec, "privacy_", None)}  # (epsilon, delta) of a private fit, else None
    if out is not None:
        rec.save(out)
        atomic_write_json(out / FIT_FILE, record)
    return rec, record


def _finished_fit(out: Path | None, wanted: dict[str, Any], config: Any) -> tuple[Recommender, dict[str, Any]] | None:
    """The model saved in ``out`` and its fit record when that fit is this one (hyper-parameters
    compared by :func:`~advrec.models.config.same_hyperparameters`: options inert in ``config``
    do not count)."""
    if out is None or not (out / FIT_FILE).is_file():
        return None
    record = json.loads((out / FIT_FILE).read_text(encoding="utf-8"))
    if any(record.get(k) != v for k, v in wanted.items() if k != "hyperparameters"):
        return None
    if not same_hyperparameters(config, record.get("hyperparameters")):
        return None
    try:
        return Recommender.load(out), record
    except ModelFileError:
        return None


def _seconds_before_resume(rec: Recommender) -> float:
    """Training seconds of the epochs a resumed fit ran before its resumption (0 if not resumed)."""
    loop = getattr(rec, "loop_result_", None)
    if loop is None or not loop.resumed_from:
        return 0.0
    return float(sum(h.get("seconds", 0.0) for h in getattr(rec, "history", []) if h["epoch"] <= loop.resumed_from))


def eval_stages(model: Recommender, evaluations: Sequence[Evaluation], ctx: EvalContext, *,
                out: Path | None, fit_record: dict[str, Any]) -> dict[str, tuple[EvalOutput, dict[str, Any]]]:
    """Run (or reuse from ``out``) every evaluation; ``{name: (output, JSON record)}``."""
    done: dict[str, tuple[EvalOutput, dict[str, Any]]] = {}
    fit_key = {k: fit_record[k] for k in ("model", "hyperparameters", "train_sha256", "init")}
    for ev in evaluations:
        wanted = {"name": ev.name, "kind": ev.kind, "params": ev.params.model_dump(mode="json"),
                  "ks": list(ctx.ks), "fit": fit_key}
        got = _finished_eval(out, ev.name, wanted, ctx.fit_data)
        if got is None:
            t0 = time.perf_counter()
            output = ev.run(model, ctx)
            res = output.result
            record = {**wanted, "metrics": clean_summary(res.summary), "n_users": res.n_evaluated,
                      "seconds": round(time.perf_counter() - t0, 3), **output.extra}
            if out is not None:
                save_per_user(out / f"per_user.{ev.name}.parquet", res.users, res.per_user)
                atomic_write_json(out / f"eval.{ev.name}.json", record)
            got = (output, record)
        ctx.results[ev.name] = got[0].result
        done[ev.name] = got
    return done


def _finished_eval(out: Path | None, name: str, wanted: dict[str, Any],
                   space: Interactions) -> tuple[EvalOutput, dict[str, Any]] | None:
    if out is None:
        return None
    f, pu = out / f"eval.{name}.json", out / f"per_user.{name}.parquet"
    if not (f.is_file() and pu.is_file()):
        return None
    record = json.loads(f.read_text(encoding="utf-8"))
    if any(record.get(k) != v for k, v in wanted.items()):
        return None
    frame = pd.read_parquet(pu)
    users = frame["user"].to_numpy()
    per_user = {c: frame[c].to_numpy() for c in frame.columns if c != "user"}
    summary = {k: (np.nan if v is None else v) for k, v in record["metrics"].items()}
    res = EvalResult(users, per_user, summary, tuple(record["ks"]), space.n_users, space.n_items, {"reused": True})
    extra = {k: v for k, v in record.items() if k not in (*wanted, "metrics", "n_users", "seconds")}
    return EvalOutput(res, extra), record
