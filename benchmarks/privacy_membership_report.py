"""Membership-inference table of a finished privacy experiment (benchmarks/privacy_membership_ml100k.toml).

Run: python benchmarks/privacy_membership_report.py EXPERIMENT.toml [--out FILE.md]

One row per model (mean ± sd over the seeds that finished): test NDCG@20, the membership AUC of
the stronger attack and its mean 95 % interval, the threshold and shadow attacks' AUCs, and the
gender AUC from the model's own representation. Runs the experiment lists but whose
``result.json`` is missing are listed under the table, never silently skipped.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
from pathlib import Path

import numpy as np
import torch

from advrec.eval.stats import format_mean_std
from advrec.experiments.config import load_experiment
from advrec.experiments.runs import run_folder
from advrec.utils.io import atomic_write_text


def report(toml: Path) -> str:
    """The Markdown page of the experiment in ``toml``."""
    cfg = load_experiment(toml)
    out = [f"# Membership inference: {cfg.name}", "",
           (f"Command: `advrec run {toml} --jobs 1`, then "
           f"`python {shlex.join(sys.argv)}`."), "", "MACHINE", "", cfg.notes.strip(), ""]
    missing = []
    seconds = 0.0
    for data in cfg.datasets:
        out += [f"## {data}", "", ("| model | seeds | NDCG@20 | membership AUC | 95 % CI (mean) | attack (best) | "
                "threshold AUC | shadow AUC | gender AUC (own representation) |"), "|---|---|---|---|---|---|---|---|---|"]
        for spec in cfg.models:
            rows = []
            for seed in cfg.seeds:
                f = run_folder(Path(cfg.output), data, spec.key, seed) / "result.json"
                if not f.is_file():
                    missing.append(f"{data} {spec.key} seed {seed}")
                    continue
                r = json.loads(f.read_text())
                priv = r["evaluations"]["privacy"]
                seconds += float(r.get("fit_seconds", 0.0)) + float(priv.get("seconds", 0.0))
                rows.append((r["metrics"]["ndcg@20"], priv["membership"], priv.get("gender", {})))
            if not rows:
                continue
            mem = [m for _, m, _ in rows]
            attacks = sorted({m["attack"] for m in mem})
            gender = [g["auc"] for _, _, g in rows if g]
            out.append(
                f"| {spec.key} | {len(rows)} | {format_mean_std([n for n, _, _ in rows], 4)} | {format_mean_std([m['auc'] for m in mem], 3)} | "
                f"[{np.mean([m['ci'][0] for m in mem]):.3f}, {np.mean([m['ci'][1] for m in mem]):.3f}] | "
                f"{', '.join(attacks)} | {format_mean_std([m['threshold']['auc'] for m in mem], 3)} | "
                f"{format_mean_std([m['shadow']['auc'] for m in mem], 3)} | {format_mean_std(gender, 3) if gender else '—'} |")
        out.append("")
    if missing:
        out += ["Missing runs (not finished): " + "; ".join(missing) + ".", ""]
    out[out.index("MACHINE")] = (f"Machine: 2 cores ({platform.processor() or platform.machine()}), torch "
                                 f"{torch.__version__}, one thread per run, shared with other benchmark jobs. Fits "
                                 f"and privacy audits of the runs listed: {seconds / 60:.0f} minutes in all.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("toml", type=Path)
    ap.add_argument("--out", type=Path, help="write the page here (default: print it)")
    args = ap.parse_args(argv)
    page = report(args.toml)
    if args.out:
        atomic_write_text(args.out, page)
    print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())
