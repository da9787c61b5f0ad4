"""Report of an augmentation experiment: each model with and without each augmentation, paired.

For every model fit plain and on each ``augment`` data stage (``each_data``), and for each ranking
evaluation (all test users, the sparsest quarter): the mean over seeds of the metric, the difference
to the plain fit with a paired t-test and Wilcoxon test on per-user values averaged over seeds (users
evaluated in both), the first augmentation (the adversarial generator) against each other one with the
same tests, and the generators' mode-collapse diagnostics from the stages' records.

Usage: python benchmarks/augment_report.py benchmarks/augment_ml100k.toml --out docs/benchmarks/augment_ml100k.md
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from advrec.eval.stats import paired_test, significance_mark
from advrec.experiments.config import ExperimentConfig, load_experiment
from advrec.experiments.runs import run_folder

DIAG = ("records_added", "n_users_augmented", "coverage", "real_coverage", "pop_js", "gen_pairwise",
        "real_pairwise", "generate_seconds")


def _per_user(run: Path, evaluation: str, metric: str) -> pd.Series | None:
    f = run / f"per_user.{evaluation}.parquet"
    if not f.is_file():
        return None
    frame = pd.read_parquet(f, columns=["user", metric])
    return frame.set_index("user")[metric]


def collect(cfg: ExperimentConfig, root: Path, evaluation: str, metric: str) -> tuple[pd.DataFrame, list[str]]:
    """One row per (dataset, model, augmentation, seed): the per-user values of ``metric``."""
    rows, missing = [], []
    stages = [d.name for d in cfg.data if d.kind == "augment"]
    bases = [m.key for m in cfg.models if not m.data and not m.each_data]
    for dataset in cfg.datasets:
        for base in bases:
            for aug in ["", *stages]:
                label = f"{base}@{aug}" if aug else base
                for seed in cfg.seeds:
                    run = run_folder(root, dataset, label, seed)
                    values = _per_user(run, evaluation, metric) if (run / "result.json").is_file() else None
                    if values is None:
                        missing.append(f"{dataset} {label} seed={seed}")
                        continue
                    rows.append({"dataset": dataset, "model": base, "aug": aug or "none", "seed": seed,
                                 "values": values})
    return pd.DataFrame(rows), missing


def compare(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean ± std over seeds per (dataset, model, augmentation), and the paired tests against none."""
    out = []
    for (dataset, model), g in frame.groupby(["dataset", "model"], sort=False):
        plain = g[g.aug == "none"]
        base_users = _user_means(plain)
        for aug, a in g.groupby("aug", sort=False):
            means = [float(v.mean()) for v in a["values"]]
            row: dict[str, Any] = {"dataset": dataset, "model": model, "aug": aug, "n_seeds": len(a),
                                   "mean": float(np.mean(means)), "std": float(np.std(means))}
            if aug != "none" and len(plain):
                users = _user_means(a)
                common = users.index.intersection(base_users.index)
                test = paired_test(users[common].to_numpy(), base_users[common].to_numpy())
                row.update(diff=test["mean_diff"], p_t=test["p_t"], p_w=test["p_wilcoxon"], n_users=test["n"],
                           rel=test["mean_diff"] / max(float(base_users[common].mean()), 1e-12))
            out.append(row)
    return pd.DataFrame(out)


def between(frame: pd.DataFrame) -> pd.DataFrame:
    """The first augmentation against each later one, per (dataset, model): paired tests on per-user means.

    Parameters
    ----------
    frame : pandas.DataFrame
        The rows of :func:`collect`; augmentations are taken in the order they first appear.

    Returns
    -------
    pandas.DataFrame
        One row per (dataset, model, other augmentation): ``diff`` (first minus other), ``rel``, ``p_t``,
        ``p_w``, ``n_users``.
    """
    out = []
    for (dataset, model), g in frame.groupby(["dataset", "model"], sort=False):
        augs = [a for a in dict.fromkeys(g.aug) if a != "none"]
        if len(augs) < 2:
            continue
        ref = _user_means(g[g.aug == augs[0]])
        for other in augs[1:]:
            users = _user_means(g[g.aug == other])
            common = ref.index.intersection(users.index)
            test = paired_test(ref[common].to_numpy(), users[common].to_numpy())
            out.append({"dataset": dataset, "model": model, "first": augs[0], "other": other,
                        "diff": test["mean_diff"], "p_t": test["p_t"], "p_w": test["p_wilcoxon"],
                        "n_users": test["n"],
                        "rel": test["mean_diff"] / max(float(users[common].mean()), 1e-12)})
    return pd.DataFrame(out)


def _user_means(runs: pd.DataFrame) -> pd.Series:
    """Per-user mean over the seeds the user was evaluated in."""
    if not len(runs):
        return pd.Series(dtype=float)
    return pd.concat(list(runs["values"]), axis=1).mean(axis=1)


def diagnostics(cfg: ExperimentConfig, root: Path) -> pd.DataFrame:
    """The generators' records (added records, coverage, popularity JS, pairwise distances), mean over seeds."""
    rows = []
    stages = [d.name for d in cfg.data if d.kind == "augment"]
    base = next(m.key for m in cfg.models if not m.data and not m.each_data)
    for dataset in cfg.datasets:
        for aug in stages:
            for seed in cfg.seeds:
                f = run_folder(root, dataset, f"{base}@{aug}", seed) / "data.json"
                if not f.is_file():
                    continue
                rec = next(r for r in json.loads(f.read_text()) if r.get("kind") == "augment")
                rows.append({"dataset": dataset, "aug": aug, **{k: rec[k] for k in DIAG if k in rec},
                             **rec.get("diagnostics", {})})
    if not rows:
        return pd.DataFrame()
    return pd.DataFrame(rows).groupby(["dataset", "aug"], sort=False).mean(numeric_only=True).reset_index()


def _difference(row: pd.Series) -> str:
    marks = f"t{significance_mark(row['p_t']) or ' n.s.'}, W{significance_mark(row['p_w']) or ' n.s.'}"
    return f"{row['diff']:+.4f}, {row['rel']:+.1%}; {marks}"


def _cell(row: pd.Series) -> str:
    text = f"{row['mean']:.4f} ± {row['std']:.4f}"
    if "diff" in row and pd.notna(row.get("diff")):
        text += f" ({_difference(row)})"
    return text


def _between_lines(table: pd.DataFrame, evaluation: str, metric: str) -> list[str]:
    if not len(table):
        return []
    first = table["first"].iloc[0]
    others = list(dict.fromkeys(table.other))
    lines = [f"### {evaluation}: {metric}, {first} against the other augmentations", "",
             f"{first} minus each other augmentation (absolute, relative to the other); the same tests.", "",
             "| dataset | model | " + " | ".join(f"vs {o}" for o in others) + " |", "|---|---|" + "---:|" * len(others)]
    for (dataset, model), g in table.groupby(["dataset", "model"], sort=False):
        cells = {r.other: _difference(r) for _, r in g.iterrows()}
        lines.append(f"| {dataset} | {model} | " + " | ".join(cells.get(o, "–") for o in others) + " |")
    return [*lines, ""]


def render(cfg: ExperimentConfig, root: Path, metrics: list[str], argv: list[str], jobs: int = 1) -> str:
    lines = [f"# {cfg.name}", "",
             (f"Command: `advrec run {argv[0]} --jobs {jobs}`, then "
             f"`python benchmarks/augment_report.py {shlex.join(argv)}`."), "",
             "Machine: 2 cores, torch 2.13.0+cpu, shared with other jobs.", ""]
    evaluations = [e.name for e in cfg.evaluations if e.kind == "ranking"] or ["test"]
    all_missing: set[str] = set()
    for evaluation in evaluations:
        for metric in metrics:
            frame, missing = collect(cfg, root, evaluation, metric)
            all_missing.update(missing)
            if not len(frame):
                continue
            table = compare(frame)
            augs = list(dict.fromkeys(table.aug))
            lines += [f"## {evaluation}: {metric}", "",
                      ("In brackets: difference to the plain fit (absolute, relative); paired t-test (t) and "
                      "Wilcoxon (W) on per-user values averaged over seeds; * p<0.05, ** p<0.01."), "",
                      "| dataset | model | " + " | ".join(augs) + " |", "|---|---|" + "---:|" * len(augs)]
            for (dataset, model), g in table.groupby(["dataset", "model"], sort=False):
                cells = {r.aug: _cell(r) for _, r in g.iterrows()}
                lines.append(f"| {dataset} | {model} | " + " | ".join(cells.get(a, "–") for a in augs) + " |")
            lines.append("")
            lines += _between_lines(between(frame), evaluation, metric)
    diag = diagnostics(cfg, root)
    if len(diag):
        cols = [c for c in diag.columns if c not in ("dataset", "aug")]
        lines += ["## Generated interactions (mean over seeds)", "",
                  ("coverage: share of the catalogue among the generated items (real_coverage: among the same "
                  "users' real items); pop_js: JS divergence of the item popularity of generated vs real "
                  "interactions; gen_pairwise / real_pairwise: mean pairwise distance of the users' generated "
                  "and real profiles (low generated distance: everyone gets the same items)."), "",
                  "| dataset | generator | " + " | ".join(cols) + " |", "|---|---|" + "---:|" * len(cols)]
        for _, r in diag.iterrows():
            lines.append(f"| {r['dataset']} | {r['aug']} | " + " | ".join(f"{r[c]:.4g}" for c in cols) + " |")
        lines.append("")
    if all_missing:
        lines += [f"**Partial:** {len(all_missing)} runs missing: " + ", ".join(sorted(all_missing)[:12])
                  + (" ..." if len(all_missing) > 12 else ""), ""]
    if cfg.notes:
        lines += [cfg.notes.strip(), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("experiment")
    p.add_argument("--out", required=True)
    p.add_argument("--root", help="runs folder (default: the experiment's output)")
    p.add_argument("--metrics", nargs="+", default=["ndcg@20", "recall@20"])
    p.add_argument("--jobs", type=int, default=1, help="the runs' --jobs, for the page's command line")
    args = p.parse_args(argv)
    cfg = load_experiment(args.experiment)
    root = Path(args.root or cfg.output or f"runs/{cfg.name}")
    text = render(cfg, root, args.metrics, argv, args.jobs)
    Path(args.out).write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
