"""One run of an experiment (a dataset, a seed, a model): its folder, reuse of a finished run, a fresh run."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from advrec.errors import AdvrecError
from advrec.experiments.config import ExperimentConfig
from advrec.experiments.pipeline import train_and_evaluate
from advrec.models.base import same_hyperparameters
from advrec.models.registry import create, default_params
from advrec.utils.io import atomic_write_json, atomic_write_with, safe_name


def run_folder(root: Path, dataset: str, label: str, seed: int) -> Path:
    """Where one run of an experiment keeps its files."""
    return root / safe_name(dataset) / safe_name(label) / f"seed{seed}"


def fresh_run(cfg: ExperimentConfig, dataset: str, seed: int, spec: Any, run_dir: Path) -> tuple[dict[str, Any], pd.Series]:
    copied = _copy_unseeded(cfg, dataset, seed, spec, run_dir)
    if copied is not None:
        return copied
    params, trials = dict(spec.params), spec.tune
    if spec.tune and spec.tune_once and seed != cfg.seeds[0]:
        first = run_folder(run_dir.parents[2], dataset, spec.key, cfg.seeds[0]) / "result.json"
        if not first.is_file():
            raise AdvrecError(f"{spec.key} seed={seed}: tune_once needs the tuned run of seed "
                              f"{cfg.seeds[0]} first ({first} is missing)")
        chosen = json.loads(first.read_text(encoding="utf-8"))["hyperparameters"]
        params, trials = {k: v for k, v in chosen.items() if k != "seed"}, 0
    ckpt = run_dir / "checkpoints" if cfg.checkpoint_every else None
    res = train_and_evaluate(
        spec.name, dataset, split=cfg.split, seed=seed, params=params,
        tune_trials=trials, ks=tuple(cfg.ks), out=run_dir, metric=cfg.metric,
        checkpoints=ckpt, checkpoint_every=cfg.checkpoint_every or 1,
    )
    if trials == 0 and spec.tune:
        res.record["tuned_on_seed"] = cfg.seeds[0]
    res.record["requested"] = spec.params
    atomic_write_json(run_dir / "result.json", res.record)
    if ckpt is not None:
        shutil.rmtree(ckpt, ignore_errors=True)
    return res.record, pd.Series(res.per_user[cfg.metric], index=res.users)


def _copy_unseeded(cfg: ExperimentConfig, dataset: str, seed: int, spec: Any,
                   run_dir: Path) -> tuple[dict[str, Any], pd.Series] | None:
    """The finished run of another seed, when the seed cannot change the result.

    That is: an untuned model whose fit ignores the seed (``seeded = False``) on a fixed
    split (the dataset's published split). The copy records ``copied_from_seed``.
    """
    from advrec.experiments.pipeline import load_cached
    from advrec.models.registry import get_model_class

    if spec.tune or get_model_class(spec.name).seeded or cfg.split not in (None, "fixed"):
        return None
    if load_cached(dataset).split is None:
        return None
    for other in cfg.seeds:
        donor = run_folder(run_dir.parents[2], dataset, spec.key, other)
        if other == seed or not (donor / "result.json").is_file() or not (donor / "per_user.parquet").is_file():
            continue
        record = json.loads((donor / "result.json").read_text(encoding="utf-8"))
        params = {**default_params(spec.name, record["dataset"]), **spec.params, "seed": other}
        if record.get("requested") != spec.params or not same_hyperparameters(
                create(spec.name, **params).config, record.get("hyperparameters")):
            continue
        record = {**record, "seed": seed, "copied_from_seed": other, "out": str(donor),
                  "hyperparameters": {**record["hyperparameters"], "seed": seed}}
        run_dir.mkdir(parents=True, exist_ok=True)
        frame = pd.read_parquet(donor / "per_user.parquet")
        atomic_write_json(run_dir / "result.json", record)
        atomic_write_with(run_dir / "per_user.parquet", lambda tmp: frame.to_parquet(tmp, index=False))
        return record, frame.set_index("user")[cfg.metric]
    return None


def reuse_run(run_dir: Path, spec: Any, seed: int, metric: str) -> tuple[dict[str, Any], pd.Series] | None:
    """A finished run in ``run_dir`` if it used exactly the parameters this run would use."""
    f, pu = run_dir / "result.json", run_dir / "per_user.parquet"
    if not (f.is_file() and pu.is_file()):
        return None
    record = json.loads(f.read_text(encoding="utf-8"))
    if record.get("requested") != spec.params or record.get("seed") != seed:
        return None
    if not spec.tune:  # the per-dataset defaults may have changed since that run
        params = {**default_params(spec.name, record["dataset"]), **spec.params, "seed": seed}
        if not same_hyperparameters(create(spec.name, **params).config, record.get("hyperparameters")):
            return None
    frame = pd.read_parquet(pu)
    if metric not in frame.columns:
        return None
    return record, frame.set_index("user")[metric]
