"""Unfinished runs of an experiment in a pool of worker processes."""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from advrec.errors import AdvrecError, ConfigError
from advrec.experiments.config import ExperimentConfig


def run_pool(
    cfg: ExperimentConfig, root: Path, todo: list[tuple[str, int, Any]], jobs: int, show_progress: bool
) -> None:
    """Run the runs of ``todo`` that have no reusable result, ``jobs`` at a time.

    Workers are spawned (not forked) processes with ``cpu_count // jobs`` torch
    threads each; every run writes its own folder, so the results are the same
    as those of a sequential run.
    """
    from advrec.experiments.runner import _reuse, run_folder

    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    pending = [
        (d, s, k) for k, (d, s, spec) in enumerate(todo)
        if _reuse(run_folder(root, d, spec.key, s), spec, s, cfg.metric) is None
    ]
    if not pending:
        return
    # runs that reuse another seed's tuning (tune_once) wait for a second wave
    later = [(d, s, k) for d, s, k in pending
             if todo[k][2].tune and todo[k][2].tune_once and s != cfg.seeds[0]]
    waves = [[p for p in pending if p not in later], later]
    failures: list[str] = []
    for wave in (w for w in waves if w):
        failures += _run_wave(cfg, root, todo, wave, jobs, show_progress)
    if failures:
        raise AdvrecError(f"{len(failures)} of {len(pending)} runs failed:\n  " + "\n  ".join(failures))


def _run_wave(cfg: ExperimentConfig, root: Path, todo: list[tuple[str, int, Any]],
              wave: list[tuple[str, int, int]], jobs: int, show_progress: bool) -> list[str]:
    """Run one wave of runs in a process pool; return the failures' descriptions."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    cfg_json = cfg.model_dump(mode="json")
    failures: list[str] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(wave)), mp_context=get_context("spawn")) as pool:
        futures = {
            pool.submit(_worker, cfg_json, str(root), d, s, todo[k][2].key, threads): f"{d} {todo[k][2].key} seed={s}"
            for d, s, k in wave
        }
        bar = tqdm(as_completed(futures), total=len(futures), desc=f"{cfg.name} (pool of {jobs})",
                   disable=not show_progress, unit="run")
        for fut in bar:
            exc = fut.exception()
            if exc is not None:
                failures.append(f"{futures[fut]}: {type(exc).__name__}: {exc}")
    return failures


def _worker(cfg_json: dict[str, Any], root: str, dataset: str, seed: int, label: str, threads: int) -> None:
    import torch

    from advrec.experiments.runner import _fresh, run_folder

    torch.set_num_threads(threads)
    cfg = ExperimentConfig.model_validate(cfg_json)
    spec = next(m for m in cfg.models if m.key == label)
    _fresh(cfg, dataset, seed, spec, run_folder(Path(root), dataset, label, seed))
