"""Why CFGAN's sampled game fails on Amazon-Beauty: short validation probes of the generator.

Each probe fits CFGAN (the sampled game with the settings of benchmarks/cfgan_beauty.toml's
`cfgan+itemknn` run, including the values its one tuning trial drew) on the training part of
Amazon-Beauty's published validation split for ``--rounds`` rounds, evaluates the generator alone
on the validation part every 5 rounds, and measures how much the generator depends on its
condition: the standard deviation across 2,000 training users of each hidden unit's activation,
averaged over the units (``h_std_users``; 0 means every user gets the same output). Test data is
never used.

Variants (``VARIANT`` names one; ``K=V`` settings override the base ones):
  base        the experiment's settings
  ginit       the generator's input table initialised for the mean number of active inputs (a
              user's items) instead of the catalogue size (Glorot bound sqrt(6 / (5.5 + hidden)))
  *_noreg     the same with ``l2 = 0``

Usage:
    python benchmarks/cfgan_beauty_probe.py base --rounds 10
    python benchmarks/cfgan_beauty_probe.py alpha0.001 --rounds 10 --set alpha=0.001
appends one JSON line to docs/benchmarks/cfgan_beauty_probe.jsonl and rewrites
docs/benchmarks/cfgan_beauty_probe.md from it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from pathlib import Path

import torch

from advrec.experiments.pipeline import (
    load_cached,
    machine,
    parse_assignments,
    resolve_split,
)
from advrec.models import create
from advrec.models.cfgan import sparse_networks
from advrec.utils.io import atomic_write_text

OUT = Path("docs/benchmarks/cfgan_beauty_probe.md")
LOG = Path("docs/benchmarks/cfgan_beauty_probe.jsonl")
BASE = {"mode": "user", "negatives": 1024, "batch_size": 1024, "batch_size_d": 1024, "lr": 1e-3,
        "lr_d": 1e-3, "precision": "bf16", "alpha": 0.064, "zr_ratio": 0.54, "pm_ratio": 0.44,
        "g_hidden": [800], "l2": 0.0078, "eval_every": 5, "patience": 10, "seed": 0}


def scale_input_init(mean_active: float) -> None:
    """Make every new SparseGenerator start its input table at Glorot for ``mean_active`` inputs."""
    original = sparse_networks.SparseGenerator.__init__

    def init(self: sparse_networks.SparseGenerator, n: int, hidden: list[int], activation: str) -> None:
        original(self, n, hidden, activation)
        bound = math.sqrt(6.0 / (mean_active + hidden[0]))
        torch.nn.init.uniform_(self.inp.weight, -bound, bound)

    sparse_networks.SparseGenerator.__init__ = init  # type: ignore[method-assign]


def probe(variant: str, rounds: int, extra: dict) -> dict:
    """Fit one variant; validation NDCG@20 of the generator alone and its condition dependence."""
    split = resolve_split(load_cached("amazon-beauty"), None, 0).tuning()
    if variant.startswith("ginit"):
        scale_input_init(len(split.train) / split.train.n_users)
    params = {**BASE, "epochs": rounds, **({"l2": 0.0} if variant.endswith("noreg") else {}), **extra}
    t0 = time.perf_counter()
    model = create("cfgan", **params).fit(split.train, split.test)
    with torch.no_grad():
        h = model.g_net.hidden_rows(split.train.csr[:2000])
    return {"variant": variant, "settings": extra, "rounds": rounds,
            "valid": [(r["epoch"], r["valid_ndcg@20"]) for r in model.history if "valid_ndcg@20" in r],
            "h_std_users": float(h.std(0).mean()), "h_mean": float(h.mean()),
            "gen_coverage@20": model.history[-1].get("gen_coverage@20"),
            "seconds": time.perf_counter() - t0, "machine": machine()}


def render(rows: list[dict]) -> str:
    """The probes as a Markdown table."""
    lines = [
        "# CFGAN's sampled game on Amazon-Beauty: does the generator use its condition?", "",
        ("Command: `python benchmarks/cfgan_beauty_probe.py VARIANT --rounds 10 [--set K=V ...]` "
        "(one line per call; docstring of the script for the variants). Fit on the training part of "
        "the published validation split, seed 0, generator alone on the validation part; one torch "
        "thread, other jobs running beside it (seconds are not timings). For scale: ItemKNN's "
        "validation NDCG@20 is 0.0498 (docs/benchmarks/tuning.md); on test, MostPop 0.0092 and "
        "ItemKNN 0.0559 (seed-0 runs of benchmarks/cfgan_beauty.toml). `h_std_users`: std across "
        "2,000 users of each hidden unit's activation, mean over units; `gen_coverage@20`: share of "
        "the catalogue in the generated top-20 lists of the diagnostics sample, last round."), "",
        "| variant | settings | valid NDCG@20 by round | h_std_users | h_mean | gen_coverage@20 | s |",
        "|---|---|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        valid = ", ".join(f"{e}: {v:.4f}" for e, v in r["valid"])
        sets = " ".join(f"{k}={v}" for k, v in r["settings"].items()) or "-"
        lines.append(f"| {r['variant']} | {sets} | {valid} | {r['h_std_users']:.4f} | {r['h_mean']:.3f} | "
                     f"{r['gen_coverage@20']:.5f} | {r['seconds']:.0f} |")
    if any(r.get("note") for r in rows):
        lines += ["", ("Rows marked in the log with a `note` were run by an earlier copy of this script "
                  "(the same settings and code path, before it wrote the log itself).")]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("variant")
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--set", nargs="*", default=[], metavar="K=V")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    row = probe(args.variant, args.rounds, parse_assignments(args.set))
    with LOG.open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
    rows = [json.loads(line) for line in LOG.read_text(encoding="utf-8").splitlines() if line.strip()]
    atomic_write_text(OUT, render(rows))
    print(render([row]))


if __name__ == "__main__":
    main()
