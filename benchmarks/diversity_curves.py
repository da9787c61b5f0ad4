"""Accuracy-diversity trade-off of MMR, DPP and the PD-GAN-style model: NDCG@20 against ILD@20.

For each seed the dataset's default split is made and BPR-MF is fit with its per-dataset defaults
(chosen on validation); every test user's top 20 is then re-ranked from the 100 best-scored items
for each lambda of the grid (1 = the model's own ranking). With ``--pdgan``, the adversarial model
(``pdgan``, started from the seed's fitted BPR-MF: ``init``) is fit at each lambda of the grid below 1 (its
kernel's trade-off) and its own lists are measured the same way, beside its ablation
(``adversarial=false``: DPP over continued BPR training). Similarity: the items' genres where the
data has them (ML-100K), else the model's item embeddings (ml-1m-lgcn: its ids cannot be tied to
movies.dat). Output: a table per method and dataset (mean over seeds), the ILD each method reaches
at a relative NDCG@20 cost of 2 % and 5 % (linear interpolation along its curve), and a PNG.

Every measured row is appended to the ledger ``OUT.jsonl`` (commit it beside the page) and a rerun
skips the rows it holds, so a long benchmark (ml-1m-lgcn with ``--pdgan``) can be finished over
several sessions; ``--fresh`` measures everything again.

Usage: python benchmarks/diversity_curves.py --data ml-100k --seeds 0 1 2 3 4 --out docs/benchmarks/diversity_ml100k
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.features import genre_matrix
from advrec.diversity import evaluate_reranked
from advrec.eval.stats import format_mean_std, paired_test
from advrec.experiments.pipeline import load_cached, resolve_split
from advrec.models import create
from advrec.models.registry import default_params

LAMBDAS = (1.0, 0.98, 0.95, 0.9, 0.8, 0.7, 0.6, 0.5, 0.3, 0.0)
#: the PD-GAN-style model is fit once per value (the re-rankers only re-rank)
PDGAN_LAMBDAS = (0.95, 0.9, 0.8, 0.7, 0.5)
METHODS = ("mmr", "dpp")
PDGAN_METHODS = ("pdgan", "pdgan-noadv")


def _key(row: dict) -> tuple:
    return (row["seed"], row["method"], float(row["lambda"]))


def load_ledger(path: Path | None, model: str, k: int, candidates: int) -> dict[tuple, dict]:
    """Rows measured before (``OUT.jsonl``) for this model, cutoff and candidate count, by (seed, method, lambda)."""
    if path is None or not path.is_file():
        return {}
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {_key(r): r for r in rows if (r.get("model"), r.get("k"), r.get("candidates")) == (model, k, candidates)}


def run(data: str, seeds: list[int], model: str, k: int, candidates: int, pdgan: bool = False,
        ledger: Path | None = None) -> pd.DataFrame:
    """Every (seed, method, lambda) row; rows already in ``ledger`` are reused, new ones appended to it."""
    done = load_ledger(ledger, model, k, candidates)
    wanted = [(seed, m, lam) for seed in seeds for m in METHODS for lam in LAMBDAS]
    if pdgan:
        wanted += [(seed, m, lam) for seed in seeds for m in PDGAN_METHODS for lam in (1.0, *PDGAN_LAMBDAS)]
    rows: list[dict] = [done[w] for w in wanted if w in done]

    def keep(row: dict) -> None:
        row = {**row, "model": model, "k": k, "candidates": candidates}
        rows.append(row)
        print(json.dumps(row), file=sys.stderr)
        if ledger is not None:
            with ledger.open("a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")

    ds = load_cached(data)
    for seed in seeds:
        if all(w in done for w in wanted if w[0] == seed):
            continue
        split = resolve_split(ds, None, seed, need_valid=False)
        train = split.train_full()
        rec = create(model, **{**default_params(model, ds.name), "seed": seed}).fit(train)
        embeddings = rec.embeddings()[1].numpy()
        genres = genre_matrix(train)
        vectors, similarity = (genres, "genres") if genres is not None else (embeddings, "embeddings")
        for method in METHODS:
            for lam in LAMBDAS:
                if (seed, method, lam) in done:
                    continue
                t0 = time.perf_counter()
                got = evaluate_reranked(rec, train, split.test, method=method, lam=lam, vectors=vectors, k=k,
                                        candidates=candidates, embeddings=embeddings)
                keep({"seed": seed, "method": method, "lambda": lam, "similarity": similarity,
                      "seconds": time.perf_counter() - t0, **got["metrics"]})
        for method in PDGAN_METHODS if pdgan else ():
            base = next(r for r in rows if r["seed"] == seed and r["method"] == "dpp" and r["lambda"] == 1.0)
            if (seed, method, 1.0) not in done:
                keep({**base, "method": method})  # lambda 1: the model's own ranking, as for the re-rankers
            for lam in PDGAN_LAMBDAS:
                if (seed, method, lam) in done:
                    continue
                t0 = time.perf_counter()
                gan = create("pdgan", seed=seed, lam=lam, adversarial=method == "pdgan", warm=model,
                             warm_params=default_params(model, ds.name)).fit(train, init=rec)
                got = evaluate_reranked(gan, train, split.test, method="dpp", lam=1.0, vectors=vectors, k=k,
                                        candidates=candidates, embeddings=embeddings)
                keep({"seed": seed, "method": method, "lambda": lam, "similarity": similarity,
                      "seconds": time.perf_counter() - t0, **got["metrics"]})
    order = {w: j for j, w in enumerate(wanted)}
    return pd.DataFrame(sorted(rows, key=lambda r: order[_key(r)])).drop(columns=["model", "k", "candidates"],
                                                                         errors="ignore")


def at_cost(curve: pd.DataFrame, k: int, cost: float) -> float:
    """The ILD reached at a relative NDCG cost of ``cost`` (linear interpolation; NaN beyond the curve)."""
    base = float(curve.loc[curve["lambda"] == 1.0, f"ndcg@{k}"].iloc[0])
    c = curve.sort_values("lambda", ascending=False)
    rel = 1.0 - c[f"ndcg@{k}"].to_numpy() / base
    ild = c[f"ild@{k}"].to_numpy()
    if cost > rel.max():
        return float("nan")
    return float(np.interp(cost, np.maximum.accumulate(rel), ild))


def report(frame: pd.DataFrame, data: str, k: int, argv: list[str], out: Path) -> str:
    cols = [f"ndcg@{k}", f"recall@{k}", f"ild@{k}", f"ild_embeddings@{k}", f"genre_coverage@{k}",
            f"coverage@{k}", f"gini@{k}"]
    cols = [c for c in cols if c in frame]
    mean = frame.groupby(["method", "lambda"], sort=False)[cols].mean().reset_index()
    lines = [f"# Diversity re-ranking on {data}", "",
             f"Command: `python benchmarks/diversity_curves.py {shlex.join(a for a in argv if a != '--render')}`", "",
             (f"Machine: 2 cores, torch 2.13.0+cpu. Seeds: {sorted(frame.seed.unique().tolist())}; BPR-MF with the "
             f"dataset's defaults; the top {k} re-ranked from the 100 best-scored items; similarity: "
             f"{frame.similarity.iloc[0]} (`ild@{k}` is over it)."), ""]
    methods = list(dict.fromkeys(mean.method))
    for method in methods:
        part = mean[mean.method == method]
        lines += [f"## {method.upper()}", "", "| lambda | " + " | ".join(cols) + " |", "|---:|" + "---:|" * len(cols)]
        lines += ["| " + f"{r['lambda']:g} | " + " | ".join(f"{r[c]:.4f}" for c in cols) + " |"
                  for _, r in part.iterrows()]
        lines.append("")
    lines += [f"## ILD@{k} at the same NDCG@{k} cost", "", "| method | cost 2 % | cost 5 % |", "|---|---:|---:|"]
    for method in methods:
        part = mean[mean.method == method]
        lines.append(f"| {method} | {at_cost(part, k, 0.02):.4f} | {at_cost(part, k, 0.05):.4f} |")
    lines += ["", *paired_at_cost(frame, k, methods), f"![NDCG@{k} against ILD@{k}]({out.name}.png)", ""]
    return "\n".join(lines)


def _p(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.3f}"


def paired_at_cost(frame: pd.DataFrame, k: int, methods: list[str]) -> list[str]:
    """Each seed's own curve read at the two costs; the adversarial model against every other method
    by a paired t-test over seeds (Markdown lines; none without ``pdgan`` rows or with one seed)."""
    seeds = sorted(frame.seed.unique().tolist())
    if "pdgan" not in methods or len(seeds) < 2:
        return []
    costs = (0.02, 0.05)
    per = {m: np.array([[at_cost(frame[(frame.method == m) & (frame.seed == s)], k, c) for c in costs]
                        for s in seeds]) for m in methods}
    lines = [(f"Per seed (each seed's curve read at the cost, then mean ± std over {len(seeds)} seeds) and "
             "`pdgan` minus each method, paired t-test over seeds (p in brackets; with 5 seeds the "
             "Wilcoxon test cannot reach p < 0.05, so only the t-test is given):"), "",
             "| method | cost 2 % | cost 5 % | pdgan − method, 2 % | pdgan − method, 5 % |", "|---|---:|---:|---:|---:|"]
    for m in methods:
        cells = [format_mean_std(per[m][:, j]) for j in range(len(costs))]
        if m != "pdgan":
            tests = [paired_test(per["pdgan"][:, j], per[m][:, j]) for j in range(len(costs))]
            cells += [f"{t['mean_diff']:+.4f} (p {_p(t['p_t'])})" for t in tests]
        else:
            cells += ["", ""]
        lines.append(f"| {m} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def plot(frame: pd.DataFrame, k: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = frame.groupby(["method", "lambda"], sort=False)[[f"ndcg@{k}", f"ild@{k}"]].mean().reset_index()
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for method in dict.fromkeys(mean.method):
        part = mean[mean.method == method].sort_values("lambda", ascending=False)
        ax.plot(part[f"ild@{k}"], part[f"ndcg@{k}"], marker="o", label=method.upper())
    ax.set_xlabel(f"ILD@{k}")
    ax.set_ylabel(f"NDCG@{k}")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    p.add_argument("--model", default="bpr")
    p.add_argument("--k", type=int, default=20)
    p.add_argument("--candidates", type=int, default=100)
    p.add_argument("--pdgan", action="store_true", help="also fit the PD-GAN-style model and its ablation per lambda")
    p.add_argument("--out", required=True, help="path without suffix: writes OUT.md, OUT.png and OUT.csv")
    p.add_argument("--render", action="store_true", help="only re-render OUT.md and OUT.png from OUT.csv")
    p.add_argument("--fresh", action="store_true", help="measure every row again (ignore the ledger OUT.jsonl)")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.render:
        frame = pd.read_csv(out.with_suffix(".csv"))
    else:
        ledger = out.with_suffix(".jsonl")
        if args.fresh:
            ledger.unlink(missing_ok=True)
        frame = run(args.data, args.seeds, args.model, args.k, args.candidates, args.pdgan, ledger)
        frame.to_csv(out.with_suffix(".csv"), index=False)
    plot(frame, args.k, out.with_suffix(".png"), f"{args.model} on {args.data}: diversity trade-off")
    out.with_suffix(".md").write_text(report(frame, args.data, args.k, argv, out), encoding="utf-8")
    print(out.with_suffix(".md").read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
