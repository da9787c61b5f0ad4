"""Choose each model's per-dataset defaults on VALIDATION data and record them.

For every (dataset, model) pair, runs an Optuna search that fits on the split's
training part and scores NDCG@20 on its validation part (carved out of the
training data with seed 0; the published validation part where the dataset has
one). The test part is never read. The best parameters are written to
``src/advrec/models/defaults.toml`` (which ``advrec train`` uses when no
``--set``/``--tune`` is given) and the search is summarised in
``docs/benchmarks/tuning.md``.

Usage::

    python benchmarks/tune_defaults.py --data ml-100k-cfgan --models ease itemknn --trials 30
"""

from __future__ import annotations

import argparse
import fcntl
import json
import sys
import time
from pathlib import Path
from typing import Any

from advrec.experiments.pipeline import load_cached, parse_assignments, resolve_split
from advrec.experiments.tuning import tune
from advrec.models.registry import _DEFAULTS_FILE, _defaults_table
from advrec.utils.io import atomic_write_text

DOC = Path("docs/benchmarks/tuning.md")
LOG = Path("docs/benchmarks/tuning.jsonl")


def to_toml(table: dict[str, dict[str, dict[str, Any]]]) -> str:
    """Render ``{model: {dataset: {param: value}}}`` as TOML (scalars only)."""
    head = _DEFAULTS_FILE.read_text(encoding="utf-8").split("\n[", 1)[0].rstrip() + "\n"
    out = [head]
    for model in sorted(table):
        for dataset in sorted(table[model]):
            out.append(f'\n[{model}."{dataset}"]')
            for key, val in sorted(table[model][dataset].items()):
                out.append(f"{key} = {json.dumps(val)}")
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", default=["ml-100k-cfgan"])
    ap.add_argument("--models", nargs="+", default=[])
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    ap.add_argument("--rebuild", action="store_true",
                    help="only rewrite defaults.toml and tuning.md from the searches logged in tuning.jsonl")
    ap.add_argument("--trials", type=int, default=30)
    ap.add_argument("--fixed", action="append", default=[], metavar="MODEL:KEY=VALUE",
                    help="parameters held fixed during the search, e.g. bpr:factors=64")
    args = ap.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.rebuild:
        for (dataset, model), e in latest_searches().items():
            record_defaults(model, dataset, e["params"])
        write_doc()
        return
    fixed: dict[str, dict[str, Any]] = {}
    for item in args.fixed:
        if ":" not in item:
            ap.error(f"--fixed expects MODEL:KEY=VALUE, got {item!r}")
        model, kv = item.split(":", 1)
        fixed.setdefault(model, {}).update(parse_assignments([kv]))  # JSON values, else strings

    for dataset in args.data:
        split = resolve_split(load_cached(dataset), None, seed=0)
        for model in args.models:
            t0 = time.perf_counter()
            best, trials = tune(model, split, args.trials, seed=0, base_params=fixed.get(model))
            secs = time.perf_counter() - t0
            best.pop("seed", None)
            record_defaults(model, dataset, best)
            value = max(t["value"] for t in trials)
            entry = {"dataset": dataset, "model": model, "trials": len(trials), "best_valid_ndcg@20": value,
                     "params": best, "seconds": round(secs, 1), "split": split.name}
            print(json.dumps(entry), flush=True)
            with LOG.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
    write_doc()


def record_defaults(model: str, dataset: str, params: dict[str, Any]) -> None:
    """Read-modify-write of defaults.toml under a lock, so several searches may run at once."""
    with open(_DEFAULTS_FILE.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _defaults_table.cache_clear()
        table = {m: {d: dict(p) for d, p in v.items()} for m, v in _defaults_table().items()}
        old = table.setdefault(model, {}).get(dataset, {})
        kept = {k: v for k, v in old.items() if k.startswith("adv_")}  # chosen by privacy_tradeoff.py
        table[model][dataset] = {**kept, **params}
        atomic_write_text(_DEFAULTS_FILE, to_toml(table))


def latest_searches() -> dict[tuple[str, str], dict[str, Any]]:
    """The latest logged search per (dataset, model)."""
    latest: dict[tuple[str, str], dict[str, Any]] = {}
    for line in LOG.read_text(encoding="utf-8").splitlines():
        e = json.loads(line)
        latest[(e["dataset"], e["model"])] = e
    return latest


def write_doc() -> None:
    """Summarise every search logged in tuning.jsonl (latest per dataset/model)."""
    latest = latest_searches()
    lines = [
        "# Per-dataset defaults, chosen on validation data",
        "",
        ("Command: `python benchmarks/tune_defaults.py --data DATASET --models MODEL ... --trials N` "
         "(Optuna TPE, seed 0). Each trial fits on the training part and is scored by NDCG@20 on the "
         "validation part (full ranking, training items excluded). Test data is never read. "
         "Iterative models stop early on validation NDCG@20 and their best epoch becomes `epochs`."),
        "Machine: 2 cores, CPU only.",
        "",
        "| dataset | model | trials | best valid NDCG@20 | parameters | search s |",
        "|---|---|---:|---:|---|---:|",
    ]
    for (dataset, model), e in sorted(latest.items()):
        params = ", ".join(f"{k}={_fmt(v)}" for k, v in sorted(e["params"].items()))
        lines.append(f"| {dataset} | {model} | {e['trials']} | {e['best_valid_ndcg@20']:.4f} | {params} | {e['seconds']:.0f} |")
    atomic_write_text(DOC, "\n".join(lines) + "\n")


def _fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


if __name__ == "__main__":
    sys.exit(main())
