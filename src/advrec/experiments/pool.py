"""Unfinished runs of an experiment in a pool of worker processes."""

from __future__ import annotations

import os
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
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
    as those of a sequential run. A run that reuses the first seed's tuning
    (``tune_once``) is queued as soon as that run has finished, so no worker
    waits for unrelated runs.
    """
    from advrec.experiments.runs import reuse_run, run_folder

    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    pending = [
        (d, s, k) for k, (d, s, spec) in enumerate(todo)
        if reuse_run(run_folder(root, d, spec.key, s), cfg, spec, s) is None
    ]
    if not pending:
        return
    # tune_once runs of later seeds wait for the first seed's run of the same model, if pending
    first = {(d, todo[k][2].key): (d, s, k) for d, s, k in pending if s == cfg.seeds[0]}
    waits: dict[tuple[str, int, int], list[tuple[str, int, int]]] = {}
    ready = []
    for d, s, k in pending:
        spec = todo[k][2]
        parent = first.get((d, spec.key)) if spec.tune and spec.tune_once and s != cfg.seeds[0] else None
        if parent is None:
            ready.append((d, s, k))
        else:
            waits.setdefault(parent, []).append((d, s, k))
    failures = _run_all(cfg, root, todo, ready, waits, jobs, show_progress, len(pending))
    if failures:
        raise AdvrecError(f"{len(failures)} of {len(pending)} runs failed:\n  " + "\n  ".join(failures))


def _run_all(cfg: ExperimentConfig, root: Path, todo: list[tuple[str, int, Any]], ready: list[tuple[str, int, int]],
             waits: dict[tuple[str, int, int], list[tuple[str, int, int]]], jobs: int, show_progress: bool,
             total: int) -> list[str]:
    """Run ``ready`` runs, and the runs waiting on each once it succeeded; return the failures."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    cfg_json = cfg.model_dump(mode="json")
    failures: list[str] = []

    def name(run: tuple[str, int, int]) -> str:
        return f"{run[0]} {todo[run[2]][2].key} seed={run[1]}"

    with ProcessPoolExecutor(max_workers=min(jobs, total), mp_context=get_context("spawn")) as pool:
        live: dict[Future[None], tuple[str, int, int]] = {}

        def submit(runs: list[tuple[str, int, int]]) -> None:
            for run in runs:
                d, s, k = run
                live[pool.submit(_worker, cfg_json, str(root), d, s, todo[k][2].key, threads)] = run

        submit(ready)
        bar = tqdm(total=total, desc=f"{cfg.name} (pool of {jobs})", disable=not show_progress, unit="run")
        while live:
            done, _ = wait(live, return_when=FIRST_COMPLETED)
            for fut in done:
                run = live.pop(fut)
                bar.update(1)
                exc = fut.exception()
                if exc is None:
                    submit(waits.pop(run, []))
                    continue
                failures.append(f"{name(run)}: {type(exc).__name__}: {exc}")
                for child in waits.pop(run, []):
                    failures.append(f"{name(child)}: not run, its tuning run failed")
                    bar.update(1)
        bar.close()
    return failures


def _worker(cfg_json: dict[str, Any], root: str, dataset: str, seed: int, label: str, threads: int) -> None:
    import torch

    from advrec.experiments.runs import fresh_run, reuse_run, run_folder

    torch.set_num_threads(threads)
    cfg = ExperimentConfig.model_validate(cfg_json)
    spec = next(m for m in cfg.models if m.key == label)
    run_dir = run_folder(Path(root), dataset, label, seed)
    if reuse_run(run_dir, cfg, spec, seed) is None:  # another process may have finished it meanwhile
        fresh_run(cfg, dataset, seed, spec, run_dir)
