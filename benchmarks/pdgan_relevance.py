"""Where the PD-GAN-style model's diversity comes from: each factorisation's relevance alone.

For each seed, BPR-MF is fit with the dataset's defaults (as in ``diversity_curves.py``); ``pdgan`` and
its ablation (``adversarial=false``: continued BPR training) are started from it at one ``lam``. Each
model's top 20 by its relevance alone (no DPP) is measured beside BPR-MF's, with the ILD over BPR-MF's
item vectors (the similarity of the curves on data without genres), and how far training moved the
item vectors (mean relative change). A model whose relevance alone is already more diverse moves the
whole trade-off curve, whatever the DPP then adds.

Usage: python benchmarks/pdgan_relevance.py --data ml-1m-lgcn --seeds 0 1 2 3 4 --out docs/benchmarks/pdgan_relevance_ml1m.md
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from advrec.diversity import evaluate_reranked
from advrec.experiments.pipeline import load_cached, resolve_split
from advrec.experiments.records import machine
from advrec.models import create
from advrec.models.base import Recommender
from advrec.models.registry import default_params
from advrec.utils.io import atomic_write_text

KEYS = ("ndcg@20", "recall@20", "ild@20", "coverage@20", "gini@20")


def measure(model: Recommender, train, test, vectors: np.ndarray) -> dict[str, float]:
    """The model's own top 20 (``lam`` 1: no re-ranking), ILD over ``vectors``."""
    got = evaluate_reranked(model, train, test, method="dpp", lam=1.0, vectors=vectors, k=20, candidates=100,
                            embeddings=vectors)
    return {k: float(got["metrics"][k]) for k in KEYS}


def relevance_only(gan: Recommender) -> Recommender:
    """``gan`` scoring by its factorisation's relevance, without its DPP."""
    gan._score = lambda users: gan.g_net.scores(torch.from_numpy(users)).detach()  # type: ignore[attr-defined]
    return gan


def run(data: str, seed: int, lam: float) -> list[dict]:
    ds = load_cached(data)
    split = resolve_split(ds, None, seed, need_valid=False)
    train = split.train_full()
    params = default_params("bpr", ds.name)
    bpr = create("bpr", **{**params, "seed": seed}).fit(train)
    v = bpr.embeddings()[1]
    rows = [{"model": "bpr (the start)", "moved": 0.0, **measure(bpr, train, split.test, v.numpy())}]
    for adversarial in (True, False):
        gan = create("pdgan", seed=seed, lam=lam, adversarial=adversarial, warm_params=params).fit(train, init=bpr)
        moved = float(((gan.g_net.item.detach() - v).norm(dim=1) / v.norm(dim=1)).mean())
        label = "pdgan" if adversarial else "pdgan, adversarial=false"
        rows.append({"model": f"{label}: relevance alone", "moved": moved,
                     **measure(relevance_only(gan), train, split.test, v.numpy())})
    return rows


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--lam", type=float, default=0.95)
    p.add_argument("--out", required=True)
    args = p.parse_args(argv)
    frame = pd.DataFrame([row for seed in args.seeds for row in run(args.data, seed, args.lam)])
    table = frame.groupby("model", sort=False)[[*KEYS, "moved"]]
    mean, std = table.mean(), table.std()
    lines = [f"# PD-GAN on {args.data}: the relevance of each factorisation alone", "",
             f"Command: `python benchmarks/pdgan_relevance.py {shlex.join(argv)}`", "",
             (f"Machine: {machine()}. Seeds {args.seeds} (mean ± std), lam {args.lam:g}; top 20 by relevance (no DPP); ILD over "
             "the starting BPR-MF's item vectors; `moved`: mean relative change of the item vectors."), "",
             "| model | " + " | ".join(KEYS) + " | moved |", "|---|" + "---:|" * (len(KEYS) + 1)]
    lines += [f"| {m} | " + " | ".join(f"{mean.loc[m, k]:.4f} ± {std.loc[m, k]:.4f}" for k in [*KEYS, "moved"]) + " |"
              for m in mean.index]
    atomic_write_text(Path(args.out), "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
