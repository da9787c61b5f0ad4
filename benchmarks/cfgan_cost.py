"""CFGAN training cost on this machine: seconds per round and wall time to convergence.

For each dataset, CFGAN (the original code's ML-100K settings, item mode) is fit on the
training part of a validation split and evaluated on the validation part every
``--eval-every`` rounds; training stops after ``--patience`` evaluations without improvement
(at most ``--rounds``). "Converged" is the best validation round. Test data is never used.

Usage:
    python benchmarks/cfgan_cost.py --data ml-100k-cfgan ml-1m-lgcn --threads 2
    python benchmarks/cfgan_cost.py --data ml-1m-lgcn --probe 4      # seconds per round only
writes docs/benchmarks/cfgan_cost.md (one row per dataset, appended to the rows already there).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
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

OUT = Path("docs/benchmarks/cfgan_cost.md")
LOG = Path("docs/benchmarks/cfgan_cost.jsonl")


def measure(dataset: str, rounds: int, eval_every: int, patience: int, seed: int, params: dict) -> dict:
    """Fit with early stopping on validation; return the timings and the best round."""
    split = resolve_split(load_cached(dataset), None, seed).tuning()
    model = create("cfgan", **{"epochs": rounds, "eval_every": eval_every, "patience": patience, "seed": seed, **params})
    t0 = time.perf_counter()
    model.fit(split.train, split.test)
    wall = time.perf_counter() - t0
    hist = model.history
    train_only = [h["seconds"] for h in hist if "valid_ndcg@20" not in h]
    best = model.loop_result_.best_epoch
    to_best = sum(h["seconds"] for h in hist if h["epoch"] <= best)
    return {
        "dataset": dataset,
        "settings": settings(params),
        "rows x cols": f"{model.store.n_rows} x {model.store.n_cols}",
        "seconds_per_round": statistics.median(train_only),
        "rounds_run": len(hist),
        "best_round": best,
        "best_valid_ndcg@20": model.loop_result_.best_score,
        "seconds_to_best": to_best,
        "wall_seconds": wall,
        "g_passes_to_best": best * model.config.g_steps,
        "machine": machine(),
    }


def from_checkpoint(path: Path, dataset: str, seed: int, params: dict) -> dict:
    """The convergence row of a fit that ran elsewhere (e.g. an ``advrec run`` tuning trial),
    from the per-round history in its ``checkpoint.json``."""
    state = json.loads((path / "checkpoint.json").read_text(encoding="utf-8"))["state"]
    hist, best = state["history"], state["best_epoch"]
    if not state.get("stopped") and state["epoch"] < params.get("epochs", 300):
        raise SystemExit(f"{path}: that fit has not finished (round {state['epoch']})")
    split = resolve_split(load_cached(dataset), None, seed).tuning()
    users, items = split.train.n_users, split.train.n_items
    rows, cols = (users, items) if params.get("mode", "item") == "user" else (items, users)
    return {
        "dataset": dataset,
        "settings": settings({k: v for k, v in params.items() if k != "epochs"}),
        "rows x cols": f"{rows} x {cols}",
        "seconds_per_round": statistics.median(h["seconds"] for h in hist if "valid_ndcg@20" not in h),
        "rounds_run": len(hist),
        "best_round": best,
        "best_valid_ndcg@20": state["best"],
        "seconds_to_best": sum(h["seconds"] for h in hist if h["epoch"] <= best),
        "wall_seconds": sum(h["seconds"] for h in hist),
        "g_passes_to_best": best * int(params.get("g_steps", 4)),
        "machine": machine(),
        "source": str(path),
    }


def probe(dataset: str, rounds: int, seed: int, params: dict) -> dict:
    """Seconds per round over a few rounds on the training part (no validation, no convergence)."""
    split = resolve_split(load_cached(dataset), None, seed).tuning()
    model = create("cfgan", **{"epochs": rounds, "seed": seed, **params}).fit(split.train)
    secs = [h["seconds"] for h in model.history]
    return {"dataset": dataset, "settings": settings(params), "rows x cols": f"{model.store.n_rows} x {model.store.n_cols}",
            "seconds_per_round": statistics.median(secs), "probe_rounds": rounds, "machine": machine()}


def settings(params: dict) -> str:
    """The changes to the original settings, as ``k=v`` (empty: the original code's)."""
    return " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def _load(row: dict) -> str:
    return f"{row['load']:.1f}" if "load" in row else "~1"


def render(rows: list[dict]) -> str:
    lines = [
        "# CFGAN training cost",
        "",
        "Commands: `python benchmarks/cfgan_cost.py --data ml-100k-cfgan --threads 1 [--set k=v ...]` (convergence) and",
        "`python benchmarks/cfgan_cost.py --data ml-1m-lgcn --probe 4 --threads 1 [--set k=v ...]` (seconds per round only;",
        "rows marked probe). One torch thread. `load` is the machine's 1-minute load average when the row",
        "finished (2 cores: above 2, jobs shared a core and the times are inflated; older rows: one other",
        "job on the second core). Compare seconds only between rows of similar load.",
        "CFGAN with the original code's ML-100K settings (item mode, 4 G and 2 D passes per round,",
        "batches 32 / 64) fit on the training part of a validation split, early-stopped on validation",
        "NDCG@20 (evaluated every 10 rounds, patience 4, at most 300 rounds). Converged = the best",
        "validation round; wall time includes the validation evaluations. One round = 4 generator",
        "passes, so the paper's \"1000+ epochs\" are about 250 rounds.",
        "Amazon-Beauty rows use the sampled game (user mode). Its round with a pool of 256, before the",
        "pool-membership lookup replaced `torch.isin` (session 4): 27.76 s at load 3.0; after: the row below.",
        "Back to back at load ~2 (pool 1,024, bf16, diagnostics every round, 2 rounds under cProfile),",
        "that fix and the diagnostics' top-k / sparse Gram matrix took a round from 47 s to 21 s.",
        "",
        ("| dataset | changed settings | rows x cols | load | s / round | G passes to best | best round | rounds run | s to best | wall s | "
         "valid NDCG@20 | machine |"),
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in rows:
        if "probe_rounds" in r:
            lines.append(
                f"| {r['dataset']} | {r['settings'] or 'original'} | {r['rows x cols']} | {_load(r)} | {r['seconds_per_round']:.2f} | not measured | | "
                f"{r['probe_rounds']} (probe) | | | | {r['machine']} |")
            continue
        where = f" (history of `{r['source']}`)" if "source" in r else ""
        lines.append(
            f"| {r['dataset']} | {r['settings'] or 'original'}{where} | {r['rows x cols']} | {_load(r)} | {r['seconds_per_round']:.2f} | {r['g_passes_to_best']} | "
            f"{r['best_round']} | {r['rounds_run']} | {r['seconds_to_best']:.0f} | {r['wall_seconds']:.0f} | "
            f"{r['best_valid_ndcg@20']:.4f} | {r['machine']} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", nargs="+", default=["ml-100k-cfgan"])
    ap.add_argument("--rounds", type=int, default=300)
    ap.add_argument("--eval-every", type=int, default=10)
    ap.add_argument("--patience", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--set", nargs="*", default=[], metavar="K=V",
                    help="CFGAN settings changed from the original code's, e.g. precision=bf16 negatives=256")
    ap.add_argument("--probe", type=int, default=0, metavar="N",
                    help="only time N rounds (no validation, no convergence); for large data")
    ap.add_argument("--render", action="store_true", help="only rewrite the table from the log")
    ap.add_argument("--from-checkpoint", type=Path, metavar="DIR",
                    help="take the row from a finished fit's checkpoint folder (its history) instead of fitting")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    params = parse_assignments(args.set)
    for dataset in [] if args.render else args.data:
        if args.from_checkpoint:
            row = from_checkpoint(args.from_checkpoint, dataset, args.seed, params)
        elif args.probe:
            row = probe(dataset, args.probe, args.seed, params)
        else:
            row = measure(dataset, args.rounds, args.eval_every, args.patience, args.seed, params)
        row["load"] = os.getloadavg()[0]
        print(json.dumps(row), flush=True)
        with LOG.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(row) + "\n")
    rows = {}
    for line in LOG.read_text(encoding="utf-8").splitlines():
        r = json.loads(line)
        if "settings" not in r:  # rows measured before settings were recorded
            r["settings"] = "" if r.pop("precision", "fp32") == "fp32" else "precision=bf16"
        key = (r["dataset"], "probe_rounds" in r, r["settings"], r.get("source"))
        rows[key] = r  # the latest measurement of each dataset and kind
    atomic_write_text(OUT, render(list(rows.values())))


if __name__ == "__main__":
    main()
