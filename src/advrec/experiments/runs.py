"""One run of an experiment (a dataset, a seed, a model): its folder, reuse of a finished run, a fresh run."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from advrec.errors import AdvrecError, StaleCheckpointError
from advrec.experiments.config import ExperimentConfig, ModelSpec
from advrec.experiments.data_stages import make_stage
from advrec.experiments.evaluations import make_evaluation
from advrec.experiments.pipeline import train_and_evaluate
from advrec.models.base import Recommender, same_hyperparameters
from advrec.models.registry import create, default_params
from advrec.utils.io import atomic_write_json, safe_name

#: per-user vectors of ``cfg.metric`` by evaluation name
Vectors = dict[str, pd.Series]


def run_folder(root: Path, dataset: str, label: str, seed: int) -> Path:
    """Where one run of an experiment keeps its files."""
    return root / safe_name(dataset) / safe_name(label) / f"seed{seed}"


def stage_config(cfg: ExperimentConfig, spec: ModelSpec) -> dict[str, Any]:
    """What besides hyper-parameters defines a run: its data stages, init, and evaluations."""
    data = {d.name: d.model_dump(mode="json") for d in cfg.data}
    return {"data": [data[name] for name in spec.data], "init": spec.init, "init_path": spec.init_path,
            "params_from": spec.params_from, "evaluations": [e.model_dump(mode="json") for e in cfg.evaluations]}


def fresh_run(cfg: ExperimentConfig, dataset: str, seed: int, spec: ModelSpec,
              run_dir: Path) -> tuple[dict[str, Any], Vectors]:
    """Run (the unfinished stages of) one run and write its ``result.json``."""
    root = run_dir.parents[2]
    copied = _copy_unseeded(cfg, dataset, seed, spec, run_dir)
    if copied is not None:
        return copied
    params, trials, tuned_on = _params(cfg, dataset, seed, spec, run_dir)
    init = None
    if spec.init is not None:
        init = Recommender.load(_finished(root, dataset, spec.init, seed, spec, "init"))
    elif spec.init_path is not None:
        init = Recommender.load(spec.init_path)
    by_name = {d.name: d for d in cfg.data}
    stages = [make_stage(n, by_name[n].kind, by_name[n].params) for n in spec.data]
    others = [make_stage(d.name, d.kind, d.params) for d in cfg.data if d.name not in spec.data]
    evaluations = [make_evaluation(e.name, e.kind, e.params) for e in cfg.evaluations]
    ckpt = run_dir / "checkpoints" if cfg.checkpoint_every else None
    def run() -> Any:
        return train_and_evaluate(
            spec.name, dataset, split=cfg.split, seed=seed, params=params,
            tune_trials=trials, ks=tuple(cfg.ks), out=run_dir, metric=cfg.metric,
            checkpoints=ckpt, checkpoint_every=cfg.checkpoint_every or 1,
            stages=stages, other_stages=others, init=init, evaluations=evaluations,
            stage_cache=root / "_stages",  # an attack is crafted once per dataset and seed, not per victim
        )

    try:
        res = run()
    except StaleCheckpointError as exc:  # left by earlier settings of this run: start afresh
        assert ckpt is not None
        print(f"advrec: {exc.path}: a checkpoint of earlier settings of this run; removed, the fit starts afresh",
              file=sys.stderr)
        shutil.rmtree(ckpt, ignore_errors=True)
        res = run()
    if tuned_on is not None:
        res.record.update(tuned_on)
    res.record["requested"] = spec.params
    res.record["stages"] = stage_config(cfg, spec)
    atomic_write_json(run_dir / "result.json", res.record)
    if ckpt is not None:
        shutil.rmtree(ckpt, ignore_errors=True)
    return res.record, _vectors(run_dir, res.record, cfg.metric)


def _params(cfg: ExperimentConfig, dataset: str, seed: int, spec: ModelSpec,
            run_dir: Path) -> tuple[dict[str, Any], int, dict[str, Any] | None]:
    """Hyper-parameters to fit with, tuning trials still to run, and what to record about their origin."""
    root = run_dir.parents[2]
    if spec.params_from is not None:
        chosen = _record(_finished(root, dataset, spec.params_from, seed, spec, "params_from"))["hyperparameters"]
        own = spec.params  # the model's own values override the source's (e.g. one option switched on)
        return {**{k: v for k, v in chosen.items() if k != "seed"}, **own}, 0, {"params_from": spec.params_from}
    old = run_dir / "result.json"
    if spec.tune and old.is_file():  # a finished tuning of this run (e.g. only the evaluations changed)
        record = _record(run_dir)
        if record.get("requested") == spec.params and record.get("seed") == seed and \
                record.get("stages", {}).get("data") == stage_config(cfg, spec)["data"]:
            chosen = {k: v for k, v in record["hyperparameters"].items() if k != "seed"}
            return chosen, 0, {"tuning": record.get("tuning"), "tuned_on_seed": record.get("tuned_on_seed", seed)}
    if spec.tune and spec.tune_once and seed != cfg.seeds[0]:
        first = run_folder(root, dataset, spec.key, cfg.seeds[0]) / "result.json"
        if not first.is_file():
            raise AdvrecError(f"{spec.key} seed={seed}: tune_once needs the tuned run of seed "
                              f"{cfg.seeds[0]} first ({first} is missing)")
        chosen = _record(first.parent)["hyperparameters"]
        return {k: v for k, v in chosen.items() if k != "seed"}, 0, {"tuned_on_seed": cfg.seeds[0]}
    return dict(spec.params), spec.tune, None


def _record(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "result.json").read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def _finished(root: Path, dataset: str, label: str, seed: int, spec: ModelSpec, what: str) -> Path:
    d = run_folder(root, dataset, label, seed)
    if not (d / "result.json").is_file():
        raise AdvrecError(f"{spec.key} seed={seed}: {what}={label!r} needs that model's finished run "
                          f"first ({d / 'result.json'} is missing)")
    return d


def _vectors(run_dir: Path, record: dict[str, Any], metric: str) -> Vectors:
    out: Vectors = {}
    for name in record.get("evaluations", {}):
        f = run_dir / f"per_user.{name}.parquet"
        if f.is_file():
            frame = pd.read_parquet(f)
            if metric in frame.columns:
                out[name] = frame.set_index("user")[metric]
    return out


#: evaluation kinds whose result does not depend on the run's seed
_SEEDLESS_EVALUATIONS = ("ranking", "attribute")


def _copyable(cfg: ExperimentConfig, spec: ModelSpec) -> bool:
    """Whether a run of ``spec`` is the same for every seed: an unseeded model on a fixed split, with
    no data stage, warm start or borrowed settings, and only evaluations that draw nothing from the
    seed (target items, perturbations and detectors do)."""
    from advrec.models.registry import get_model_class

    if spec.tune or get_model_class(spec.name).seeded or cfg.split not in (None, "fixed"):
        return False
    if spec.data or spec.init or spec.init_path or spec.params_from:
        return False
    return all(e.kind in _SEEDLESS_EVALUATIONS for e in cfg.evaluations)


def _copy_unseeded(cfg: ExperimentConfig, dataset: str, seed: int, spec: ModelSpec,
                   run_dir: Path) -> tuple[dict[str, Any], Vectors] | None:
    """The finished run of another seed, when the seed cannot change the result.

    That is: an untuned model whose fit ignores the seed (``seeded = False``) on a fixed
    split (the dataset's published split), with no data stages and no warm start. The copy
    records ``copied_from_seed``; the fitted model stays in the donor's folder.
    """
    from advrec.experiments.pipeline import load_cached

    if not _copyable(cfg, spec) or load_cached(dataset).split is None:
        return None
    for other in cfg.seeds:
        donor = run_folder(run_dir.parents[2], dataset, spec.key, other)
        if other == seed:
            continue
        found = reuse_run(donor, cfg, spec, other)
        if found is None:
            continue
        record = {**found[0], "seed": seed, "copied_from_seed": other, "out": str(donor),
                  "hyperparameters": {**found[0]["hyperparameters"], "seed": seed}}
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in record.get("evaluations", {}):
            shutil.copyfile(donor / f"per_user.{name}.parquet", run_dir / f"per_user.{name}.parquet")
        atomic_write_json(run_dir / "result.json", record)
        return record, _vectors(run_dir, record, cfg.metric)
    return None


def reuse_run(run_dir: Path, cfg: ExperimentConfig, spec: ModelSpec, seed: int) -> tuple[dict[str, Any], Vectors] | None:
    """A finished run in ``run_dir`` if it did exactly what this run would do."""
    f = run_dir / "result.json"
    if not f.is_file():
        return None
    record = _record(run_dir)
    if record.get("requested") != spec.params or record.get("seed") != seed:
        return None
    if record.get("copied_from_seed") is not None and not _copyable(cfg, spec):
        return None  # copied from another seed when its evaluations did not depend on the seed
    if record.get("stages") != stage_config(cfg, spec):
        return None
    if not spec.tune and spec.params_from is None:  # the per-dataset defaults may have changed since that run
        params = {**default_params(spec.name, record["dataset"]), **spec.params, "seed": seed}
        if not same_hyperparameters(create(spec.name, **params).config, record.get("hyperparameters")):
            return None
    if not _sources_unchanged(run_dir, record, spec, seed):
        return None
    if any(not (run_dir / f"per_user.{name}.parquet").is_file() for name in record.get("evaluations", {})):
        return None
    return record, _vectors(run_dir, record, cfg.metric)


def _sources_unchanged(run_dir: Path, record: dict[str, Any], spec: ModelSpec, seed: int) -> bool:
    """Whether the runs this one took its hyper-parameters (``params_from``) or its starting model
    (``init``) from still hold what it used: a source refit since (other settings, a fixed
    trainer) makes this run stale too."""
    def source(label: str) -> dict[str, Any] | None:
        # the dataset's folder of this run: the record's dataset is the loaded data's name, which
        # differs from the folder's for a dataset given as a file path
        f = run_dir.parents[1] / safe_name(label) / f"seed{seed}" / "result.json"
        return _record(f.parent) if f.is_file() else None

    def bare(params: dict[str, Any] | None) -> dict[str, Any]:
        return {k: v for k, v in (params or {}).items() if k != "seed"}

    if spec.params_from is not None:
        src = source(spec.params_from)
        if src is None or bare(src.get("hyperparameters")) != bare(record.get("hyperparameters")):
            return False
    if spec.init is not None:
        src = source(spec.init)
        used = record.get("init") or {}
        if src is None or src.get("hyperparameters") != used.get("config"):
            return False
    return True
