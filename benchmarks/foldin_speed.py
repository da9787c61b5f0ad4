"""Speed of embedding fold-in (``advrec.models.foldin``): time per Adam step, before and after.

Fold-in solves a new user's vector against fixed item vectors by full-batch Adam on the BPR loss
(500 steps); each step builds the ``(revealed entries x items)`` matrix of pairwise terms. The
*single pass* gradient (kept here as the reference, the implementation before the change) works
on the whole block at once; the current one walks cache-sized runs of users. Workloads on ML-100K:
full profiles of a quarter of the users (what the membership audit folds in: the non-members) and
3 revealed items for a fifth of the users (cold users). Item vectors: random, 128 factors.

Run: python benchmarks/foldin_speed.py --out docs/benchmarks/foldin_speed.md
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse
import platform
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.datasets import load_dataset
from advrec.models import foldin
from advrec.utils.io import atomic_write_text


def single_pass_gradient(p: torch.Tensor, q: torch.Tensor, b: torch.Tensor | None, block: foldin._Block) -> torch.Tensor:
    """The reference: the same gradient over the whole block in one pass (no cache-sized runs)."""
    s = p @ q.T if b is None else p @ q.T + b
    x = s.index_select(0, block.row)
    x.sub_(s[block.row, block.item][:, None]).sigmoid_()
    n_items = s.shape[1]
    for e0, _, _, _, pairs in block.runs:
        x.view(-1).index_fill_(0, pairs + e0 * n_items, 0.0)
    grad = torch.zeros_like(s).index_add_(0, block.row, x).mul_(block.weight[:, None])
    return grad.index_put_((block.row, block.item), -x.sum(1) * block.weight[block.row], accumulate=True)


def workload(name: str, rows: sp.csr_matrix, q: torch.Tensor, b: torch.Tensor, repeats: int) -> dict[str, object]:
    """Seconds per gradient (best of ``repeats``) of both versions on one block, and their largest difference."""
    block = foldin._Block(foldin.binary_rows(rows), q.device)
    p = torch.randn(rows.shape[0], q.shape[1], generator=torch.Generator().manual_seed(1)) * 0.1
    out: dict[str, object] = {"workload": name, "users": rows.shape[0], "entries": int(rows.nnz)}
    for label, fn in (("single pass", single_pass_gradient), ("runs", foldin._score_gradient)):
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            g = fn(p, q, b, block)
            times.append(time.perf_counter() - t)
        out[label] = min(times)
        out[f"{label} grad"] = g
    out["max |diff|"] = float((out.pop("single pass grad") - out.pop("runs grad")).abs().max())  # type: ignore[operator]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    torch.set_num_threads(1)
    inter = load_dataset("ml-100k").interactions
    csr = inter.binary_csr
    rng = np.random.default_rng(0)
    q = torch.randn(inter.n_items, 128, generator=torch.Generator().manual_seed(0)) * 0.1
    b = torch.randn(inter.n_items, generator=torch.Generator().manual_seed(2)) * 0.1
    quarter = csr[np.sort(rng.choice(inter.n_users, inter.n_users // 4, replace=False))]
    cold = csr[np.sort(rng.choice(inter.n_users, inter.n_users // 5, replace=False))].tolil()
    for r in range(cold.shape[0]):  # keep 3 revealed items per cold user
        keep = set(rng.choice(cold.rows[r], 3, replace=False).tolist())
        cold.rows[r] = sorted(keep)
        cold.data[r] = [1.0] * 3
    rows = [workload("full profiles (a quarter of the users)", quarter, q, b, args.repeats),
            workload("cold users, 3 revealed items (a fifth)", cold.tocsr(), q, b, args.repeats)]
    lines = ["# Fold-in speed (embedding models)", "",
             f"Command: `python benchmarks/foldin_speed.py --out {args.out}`", "",
             (f"Machine: 2 cores ({platform.processor() or platform.machine()}), torch {torch.__version__}, 1 thread; "
              "shared with other benchmark processes. Seconds per gradient of the BPR fold-in objective "
              f"(one Adam step; fold-in runs {foldin.FOLD_IN_STEPS}), best of {args.repeats}, on ML-100K "
              f"({inter.n_items} items, 128 factors)."), "",
             "| workload | users | revealed entries | single pass s | cache-sized runs s | speed-up | max abs difference |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['workload']} | {r['users']} | {r['entries']} | {r['single pass']:.4f} | {r['runs']:.4f} | "
                     f"{r['single pass'] / r['runs']:.1f}x | {r['max |diff|']:.1e} |")
    atomic_write_text(Path(args.out), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
