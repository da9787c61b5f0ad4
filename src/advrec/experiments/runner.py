"""Run an experiment file: models x datasets x seeds, one results table with significance marks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from advrec.errors import AdvrecError
from advrec.experiments.config import ExperimentConfig
from advrec.experiments.pipeline import versions
from advrec.experiments.pool import run_pool
from advrec.experiments.runs import Vectors, fresh_run, reuse_run, run_folder
from advrec.experiments.stage_check import run_order
from advrec.utils.io import atomic_write_json, atomic_write_text

TABLE_METRICS = ("ndcg", "recall", "precision", "mrr")


def run_experiment(
    cfg: ExperimentConfig, out: str | Path | None = None, *, show_progress: bool = True, jobs: int = 1,
    command: str | None = None,
) -> dict[str, Any]:
    """Run every (dataset, seed, model) of ``cfg`` and write the results.

    Finished runs (a ``result.json`` with the same hyper-parameters in their
    folder) are reused, so an interrupted experiment resumes where it stopped.
    With ``jobs > 1`` the unfinished runs go to a pool of that many processes
    first (each gets ``cpu_count // jobs`` threads); the table is then built from
    their files. ``command``, the command line that ran it, heads the Markdown table.

    Raises
    ------
    AdvrecError
        If a run in the pool failed (after every other run has finished).

    Returns
    -------
    dict
        ``{"config", "runs", "tables"}``; also written as ``results.json`` and
        ``results.md`` under the output folder.
    """
    import time

    started = time.perf_counter()
    root = cfg.root(out)
    order = {label: i for i, label in enumerate(run_order(cfg))}
    models = sorted(cfg.models, key=lambda m: order[m.key])  # init / params_from sources first
    todo = [(d, s, m) for d in cfg.datasets for s in cfg.seeds for m in models]
    if jobs > 1:  # runs that need another run are queued in the pool once it has finished
        run_pool(cfg, root, todo, jobs, show_progress)
    runs: list[dict[str, Any]] = []
    per_user: dict[tuple[str, str, int], Vectors] = {}
    bar = tqdm(todo, desc=cfg.name, disable=not show_progress, unit="run")
    for dataset, seed, spec in bar:
        bar.set_postfix_str(f"{dataset} {spec.key} seed={seed}")
        run_dir = run_folder(root, dataset, spec.key, seed)
        record, vectors = reuse_run(run_dir, cfg, spec, seed) or fresh_run(cfg, dataset, seed, spec, run_dir)
        record["label"] = spec.key
        record["experiment_dataset"] = dataset
        runs.append(record)
        per_user[(dataset, spec.key, seed)] = vectors
    tables = {table_key(d, t.evaluation, cfg): summarise(cfg, d, runs, per_user, t.evaluation)
              for t in cfg.tables for d in cfg.datasets}
    result = {"config": cfg.model_dump(mode="json"), "versions": versions(), "runs": runs, "tables": tables,
              "wall_seconds": round(time.perf_counter() - started, 1), "command": command}
    atomic_write_json(root / "results.json", result)
    atomic_write_text(root / "results.md", to_markdown(cfg, tables, result))
    return result


def table_key(dataset: str, evaluation: str, cfg: ExperimentConfig) -> str:
    """Key of a table in ``results.json``: the dataset for the first table's evaluation, else
    ``"<dataset> / <evaluation>"``."""
    return dataset if evaluation == cfg.tables[0].evaluation else f"{dataset} / {evaluation}"


def summarise(cfg: ExperimentConfig, dataset: str, runs: list[dict[str, Any]],
              per_user: dict[tuple[str, str, int], Vectors], evaluation: str = "test") -> list[dict[str, Any]]:
    """Mean and std over seeds per model of one evaluation, with tests against the baseline on ``cfg.metric``."""
    from advrec.eval.stats import paired_test

    rows = []
    for spec in cfg.models:
        mine = [r for r in runs if r["experiment_dataset"] == dataset and r["label"] == spec.key]
        metrics = [_metrics(r, evaluation) for r in mine]
        row: dict[str, Any] = {"model": spec.key, "seeds": len(mine), "evaluation": evaluation}
        for key in sorted(metrics[0]):
            vals = np.array([np.nan if m.get(key) is None else m[key] for m in metrics], dtype=np.float64)
            row[key] = {"mean": float(vals.mean()), "std": float(vals.std(ddof=1)) if len(vals) > 1 else 0.0}
        row["fit_seconds"] = float(np.mean([r["fit_seconds"] for r in mine]))
        if cfg.baseline and spec.key != cfg.baseline:
            a = _user_means(per_user, dataset, spec.key, evaluation)
            b = _user_means(per_user, dataset, cfg.baseline, evaluation)
            if a is not None and b is not None:
                common = a.index.intersection(b.index)
                row["vs_baseline"] = paired_test(a.loc[common].to_numpy(), b.loc[common].to_numpy())
        rows.append(row)
    return rows


def _metrics(record: dict[str, Any], evaluation: str) -> dict[str, Any]:
    evals = record.get("evaluations") or {}
    if evaluation in evals:
        return dict(evals[evaluation]["metrics"])
    raise AdvrecError(f"run {record.get('label')} seed={record.get('seed')} has no evaluation {evaluation!r}")


def _user_means(per_user: dict[tuple[str, str, int], Vectors], dataset: str, label: str,
                evaluation: str) -> pd.Series | None:
    cols = [vec[evaluation] for (d, lab, _seed), vec in per_user.items()
            if d == dataset and lab == label and evaluation in vec]
    return pd.concat(cols, axis=1).mean(axis=1) if cols else None


def to_markdown(cfg: ExperimentConfig, tables: dict[str, list[dict[str, Any]]],
                result: dict[str, Any] | None = None) -> str:
    """Render the tables: mean ± std over seeds, significance marks against the baseline."""
    from advrec.eval.stats import significance_mark

    lines = [f"# {cfg.name}", ""]
    if result is not None and result.get("command"):
        lines += [f"Command: `{result['command']}`.", ""]
    if result is not None:
        lines += [(f"Machine: {result['versions']['machine']}. Wall time of the whole experiment "
                   f"(finished runs reused): {result['wall_seconds']:.0f} s."), ""]
    for key, rows in tables.items():
        cols = _columns(cfg, rows)
        lines += [
            f"## {key}",
            "",
            f"Seeds: {cfg.seeds}. Split: {cfg.split or 'dataset default'}. Full ranking, train items excluded."
            + (f" In brackets: difference in {cfg.metric} to `{cfg.baseline}`; paired t-test (t) and "
               "Wilcoxon signed-rank test (W) on per-user values averaged over seeds; * p<0.05, ** p<0.01, "
               "n.s. not significant." if cfg.baseline else ""),
            "",
            "| model | " + " | ".join(cols) + " | fit s |",
            "|---|" + "---:|" * (len(cols) + 1),
        ]
        for row in rows:
            cells = []
            for c in cols:
                cell = row.get(c)
                text = "n/a" if cell is None else f"{cell['mean']:.4f} ± {cell['std']:.4f}"
                if c == cfg.metric and "vs_baseline" in row:
                    test = row["vs_baseline"]
                    text += (f" ({test['mean_diff']:+.4f}; t{significance_mark(test['p_t']) or ' n.s.'}, "
                             f"W{significance_mark(test['p_wilcoxon']) or ' n.s.'})")
                cells.append(text)
            lines.append(f"| {row['model']} | " + " | ".join(cells) + f" | {row['fit_seconds']:.1f} |")
        lines.append("")
    if cfg.notes:
        lines += [cfg.notes.strip(), ""]
    return "\n".join(lines)


def _columns(cfg: ExperimentConfig, rows: list[dict[str, Any]]) -> list[str]:
    """The table's metric columns: its spec's, else NDCG/recall/precision/MRR at each cutoff when
    the evaluation has them, else every metric it reports."""
    evaluation = rows[0].get("evaluation", "test") if rows else "test"
    spec = next((t for t in cfg.tables if t.evaluation == evaluation), None)
    if spec is not None and spec.metrics:
        return list(spec.metrics)
    have = [k for k in rows[0] if isinstance(rows[0][k], dict) and "mean" in rows[0][k]] if rows else []
    default = [f"{m}@{k}" for k in cfg.ks for m in TABLE_METRICS]
    return [c for c in default if c in have] or have

