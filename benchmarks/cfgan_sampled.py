"""CFGAN's sampled game against the dense game on ML-100K: validation NDCG@20 by pool size.

All runs: user mode, batches 256 / 256, lr 1e-3 / 1e-3, otherwise the original code's settings;
fit on the training part of the validation split of ``ml-100k-cfgan`` (seed 0), evaluated on
its validation part every 10 rounds for 150 rounds (no early stopping: the best round is
reported). ``negatives`` = pool size; a pool of all 1,682 columns plays the dense game's
objective through the sampled code path. Test data is never used.

Usage:
    python benchmarks/cfgan_sampled.py --threads 1
    python benchmarks/cfgan_sampled.py --threads 1 --pools 256 768 --set table_lr_scale=6.57
appends to docs/benchmarks/cfgan_sampled.jsonl and writes docs/benchmarks/cfgan_sampled.md from it.
"""

from __future__ import annotations

import argparse
import json
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
from advrec.utils.io import atomic_write_text

OUT = Path("docs/benchmarks/cfgan_sampled.md")
LOG = Path("docs/benchmarks/cfgan_sampled.jsonl")
COMMON = {"mode": "user", "batch_size": 256, "batch_size_d": 256, "lr": 1e-3, "lr_d": 1e-3,
          "epochs": 150, "eval_every": 10, "patience": 15, "seed": 0, "diagnostics_every": 0}
POOLS: list[int | None] = [None, 2000, 1500, 768, 256]


def run(negatives: int | None, extra: dict) -> dict:
    """Fit once; the best validation round and its NDCG@20, seconds per round."""
    split = resolve_split(load_cached("ml-100k-cfgan"), None, 0).tuning()
    t0 = time.perf_counter()
    model = create("cfgan", negatives=negatives, **{**COMMON, **extra}).fit(split.train, split.test)
    wall = time.perf_counter() - t0
    secs = sorted(h["seconds"] for h in model.history if "valid_ndcg@20" not in h)
    curve = [round(h["valid_ndcg@20"], 4) for h in model.history if "valid_ndcg@20" in h]
    return {"negatives": negatives, "settings": " ".join(f"{k}={v}" for k, v in sorted(extra.items())),
            "best_round": model.loop_result_.best_epoch,
            "best": model.loop_result_.best_score, "curve": curve,
            "s_per_round": secs[len(secs) // 2], "wall": wall, "load": os.getloadavg()[0]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--pools", nargs="+", default=[str(p) for p in POOLS], metavar="M",
                    help="pool sizes to run ('None' = the dense game)")
    ap.add_argument("--set", nargs="*", default=[], metavar="K=V", help="other settings, e.g. table_lr_scale=6.57")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    extra = parse_assignments(args.set)
    for pool in args.pools:
        r = run(None if pool == "None" else int(pool), extra)
        r["threads"] = args.threads
        print(r, flush=True)
        with LOG.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(r) + "\n")
        render()


def render() -> None:
    """Write the table from every row of the log."""
    lines = ["# CFGAN: the sampled game against the dense game (ML-100K, validation)", "",
             ("Command: `python benchmarks/cfgan_sampled.py --threads 1 [--pools M ...] [--set k=v ...]`. "
              f"Machine: {machine()}."),
             "User mode, batches 256 / 256, lr 1e-3 / 1e-3, other settings the original code's unless listed; fit",
             "on the training part of `ml-100k-cfgan`'s validation split (seed 0), validation NDCG@20 every 10",
             "rounds for 150 rounds. `negatives` is the pool of columns drawn per mini-batch (1,682 columns in",
             "all: 2000 means every column, i.e. the dense objective through the sampled code). `load`: 1-minute",
             "load average at the end (2 cores; seconds are inflated above 2).", "",
             "| game | negatives | settings | best valid NDCG@20 | best round | curve (every 10 rounds) | s / round | load |",
             "|---|---:|---|---:|---:|---|---:|---:|"]
    for line in LOG.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        game = "dense" if r["negatives"] is None else "sampled"
        lines.append(f"| {game} | {r['negatives'] or '-'} | {r['settings'] or '-'} | {r['best']:.4f} | {r['best_round']} | "
                     f"{' '.join(map(str, r['curve']))} | {r['s_per_round']:.2f} | {r['load']:.1f} |")
    atomic_write_text(OUT, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
