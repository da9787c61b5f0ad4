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

Run = tuple[str, int, int]  # (dataset, seed, index into todo)


def run_pool(
    cfg: ExperimentConfig, root: Path, todo: list[tuple[str, int, Any]], jobs: int, show_progress: bool
) -> None:
    """Run the runs of ``todo`` that have no reusable result, ``jobs`` at a time.

    Workers are spawned (not forked) processes with ``cpu_count // jobs`` torch
    threads each; every run writes its own folder, so the results are the same
    as those of a sequential run. A run that needs another run first (the first
    seed's tuning for ``tune_once``; the model named by ``init`` or ``params_from``,
    same dataset and seed) is queued as soon as those runs have finished, so no
    worker waits for unrelated runs; it is not run if one of them failed.
    """
    from advrec.experiments.runs import reuse_run, run_folder

    if jobs < 1:
        raise ConfigError(f"jobs must be at least 1, got {jobs}")
    stale = {k for k, (d, s, spec) in enumerate(todo) if reuse_run(run_folder(root, d, spec.key, s), cfg, spec, s) is None}
    index = {(d, s, spec.key): k for k, (d, s, spec) in enumerate(todo)}
    grew = True
    while grew:  # a run whose init / params_from source is refit is refit after it
        more = {k for k, (d, s, spec) in enumerate(todo) if k not in stale
                and any(index.get(p) in stale for p in _needs(cfg, d, s, spec))}
        stale |= more
        grew = bool(more)
    pending = [(d, s, k) for k, (d, s, _) in enumerate(todo) if k in stale]
    if not pending:
        return
    by_key = {(d, s, todo[k][2].key): (d, s, k) for d, s, k in pending}
    waits: dict[Run, list[Run]] = {}
    left: dict[Run, int] = {}
    ready = []
    for run in pending:
        parents = {by_key[p] for p in _needs(cfg, run[0], run[1], todo[run[2]][2]) if p in by_key}
        for parent in parents:
            waits.setdefault(parent, []).append(run)
        left[run] = len(parents)
        if not parents:
            ready.append(run)
    failures = _run_all(cfg, root, todo, ready, (waits, left), jobs, show_progress, len(pending))
    if failures:
        raise AdvrecError(f"{len(failures)} of {len(pending)} runs failed:\n  " + "\n  ".join(failures))


def _needs(cfg: ExperimentConfig, dataset: str, seed: int, spec: Any) -> set[tuple[str, int, str]]:
    """(dataset, seed, label) of the runs that must finish before this one."""
    out = {(dataset, seed, ref) for ref in (spec.init, spec.params_from) if ref is not None}
    if spec.tune and spec.tune_once and seed != cfg.seeds[0]:
        out.add((dataset, cfg.seeds[0], spec.key))
    return out


def _run_all(cfg: ExperimentConfig, root: Path, todo: list[tuple[str, int, Any]], ready: list[Run],
             deps: tuple[dict[Run, list[Run]], dict[Run, int]], jobs: int, show_progress: bool,
             total: int) -> list[str]:
    """Run ``ready`` runs, and each waiting run once every run it needs succeeded; return the failures."""
    threads = max(1, (os.cpu_count() or 1) // jobs)
    cfg_json = cfg.model_dump(mode="json")
    failures: list[str] = []
    waits, left = deps

    def name(run: Run) -> str:
        return f"{run[0]} {todo[run[2]][2].key} seed={run[1]}"

    with worker_pool(min(jobs, total)) as pool:
        live: dict[Future[None], Run] = {}
        skipped: set[Run] = set()

        def submit(runs: list[Run]) -> None:
            for run in runs:
                d, s, k = run
                live[pool.submit(_worker, cfg_json, str(root), d, s, todo[k][2].key, threads)] = run

        def skip(failed: Run) -> None:  # every run that needs a failed run, and the runs that need those
            for child in waits.pop(failed, []):
                if child in skipped:
                    continue
                skipped.add(child)
                same = todo[child[2]][2].key == todo[failed[2]][2].key
                failures.append(f"{name(child)}: not run, " + ("its tuning run failed" if same else
                                                                 f"{name(failed)} failed"))
                bar.update(1)
                skip(child)

        submit(ready)
        bar = tqdm(total=total, desc=f"{cfg.name} (pool of {jobs})", disable=not show_progress, unit="run")
        while live:
            done, _ = wait(live, return_when=FIRST_COMPLETED)
            for fut in done:
                run = live.pop(fut)
                bar.update(1)
                exc = fut.exception()
                if exc is None:
                    for child in waits.pop(run, []):
                        left[child] -= 1
                        if not left[child] and child not in skipped:
                            submit([child])
                    continue
                failures.append(f"{name(run)}: {type(exc).__name__}: {exc}")
                skip(run)
        bar.close()
    return failures


def worker_pool(workers: int) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes that end when the process that made the pool is gone
    (killed, or its session ended), instead of finishing their run as orphans beside a restarted pool."""
    return ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                               initializer=_exit_with_parent, initargs=(os.getpid(),))


def _exit_with_parent(parent: int, every: float = 1.0) -> None:
    """Worker initializer: a daemon thread that ends the worker once its parent process has changed
    (checkpoints make the lost work at most ``checkpoint_every`` epochs, as for any interruption)."""
    import threading
    import time

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(1)

    threading.Thread(target=watch, name="advrec-exit-with-parent", daemon=True).start()


def _worker(cfg_json: dict[str, Any], root: str, dataset: str, seed: int, label: str, threads: int) -> None:
    import torch

    from advrec.experiments.runs import fresh_run, reuse_run, run_folder

    torch.set_num_threads(threads)
    cfg = ExperimentConfig.model_validate(cfg_json)
    spec = next(m for m in cfg.models if m.key == label)
    run_dir = run_folder(Path(root), dataset, label, seed)
    if reuse_run(run_dir, cfg, spec, seed) is None:  # another process may have finished it meanwhile
        fresh_run(cfg, dataset, seed, spec, run_dir)
