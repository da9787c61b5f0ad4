"""Score the parts of fitted blend models: the generator alone (w = 0) against the blend.

A ``prior_mode = "blend"`` CFGAN recommends by ``(1 - w) z(G) + w z(EASE^R)``. Its early
stopping follows the generator alone, so the saved model's generator *is* a CFGAN trained for
the validation-chosen rounds; scoring it with ``w = 0`` shows what the generator alone reaches,
without another fit. For every blend run of an experiment folder (every seed), this evaluates
the generator alone on the same test data and compares it, per user, with the baseline runs.

Usage:
    python benchmarks/blend_parts.py benchmarks/cfgan_ml100k.toml --out docs/benchmarks/cfgan_ml100k_parts.md
    python benchmarks/blend_parts.py benchmarks/cfgan_ml1m.toml --out docs/benchmarks/cfgan_ml1m_parts.md
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.eval import evaluate, paired_test, significance_mark
from advrec.experiments.config import load_experiment
from advrec.experiments.pipeline import load_cached, machine, resolve_split
from advrec.experiments.runner import TABLE_METRICS
from advrec.experiments.runs import run_folder
from advrec.models.base import Recommender
from advrec.utils.io import atomic_write_text


def generator_alone(run_dir: Path, dataset: str, split: str | None, seed: int, k: int) -> tuple[dict, pd.Series]:
    """Test metrics and per-user NDCG of the run's generator alone (blend weight 0)."""
    record = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    sp = resolve_split(load_cached(dataset), split, seed)
    if sp.test.checksum() != record["data"]["test_sha256"]:
        raise SystemExit(f"{run_dir}: the test split rebuilt here differs from the run's; refusing to compare")
    model = Recommender.load(run_dir)
    model.set_blend_weight(0.0)  # type: ignore[attr-defined]
    res = evaluate(model, sp.train_full(), sp.test, ks=(k,), metrics=TABLE_METRICS, beyond=False)
    return res.summary, pd.Series(res.per_user[f"ndcg@{k}"], index=res.users)


def baseline_users(root: Path, dataset: str, label: str, seeds: list[int], k: int) -> pd.Series:
    """Per-user NDCG of the baseline, averaged over seeds."""
    cols = []
    for seed in seeds:
        frame = pd.read_parquet(run_folder(root, dataset, label, seed) / "per_user.test.parquet")
        cols.append(frame.set_index("user")[f"ndcg@{k}"])
    return pd.concat(cols, axis=1).mean(axis=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment", type=Path, help="the experiment's TOML file (its runs must be finished)")
    ap.add_argument("--out", type=Path, required=True, help="markdown table to write")
    args = ap.parse_args()
    cfg = load_experiment(args.experiment)
    root, k = Path(cfg.output), cfg.ks[0]
    lines = [f"# {cfg.name}: the generators of the blend models alone", "",
             f"Command: `python benchmarks/blend_parts.py {args.experiment} --out {args.out}`. Machine: {machine()}.",
             (f"Each blend run's saved model scored with w = 0 (the generator alone) on the same test data; "
              f"in brackets the difference in ndcg@{k} to `{cfg.baseline}` and the paired tests on per-user "
              "values averaged over seeds (t: t-test, W: Wilcoxon; * p<0.05, ** p<0.01)."), ""]
    for dataset in cfg.datasets:
        base = baseline_users(root, dataset, cfg.baseline, cfg.seeds, k) if cfg.baseline else None
        cols = [f"{m}@{k}" for m in TABLE_METRICS]
        lines += [f"## {dataset}", "", "| model | part | w chosen | " + " | ".join(cols) + " |",
                  "|---|---|---:|" + "---:|" * len(cols)]
        for spec in cfg.models:
            if spec.params.get("prior_mode") != "blend":
                continue
            rows, users, ws = [], [], []
            for seed in cfg.seeds:
                run_dir = run_folder(root, dataset, spec.key, seed)
                summary, per_user = generator_alone(run_dir, dataset, cfg.split, seed, k)
                rows.append(summary)
                users.append(per_user)
                ws.append(json.loads((run_dir / "result.json").read_text())["hyperparameters"]["prior_weight"])
            cells = []
            for c in cols:
                vals = np.array([r[c] for r in rows])
                text = f"{vals.mean():.4f} ± {vals.std(ddof=1):.4f}"
                if c == f"ndcg@{k}" and base is not None:
                    mine = pd.concat(users, axis=1).mean(axis=1)
                    common = mine.index.intersection(base.index)
                    t = paired_test(mine.loc[common].to_numpy(), base.loc[common].to_numpy())
                    text += (f" ({t['mean_diff']:+.4f}; t{significance_mark(t['p_t']) or ' n.s.'}, "
                             f"W{significance_mark(t['p_wilcoxon']) or ' n.s.'})")
                cells.append(text)
            lines.append(f"| {spec.key} | generator alone (w = 0) | {', '.join(map(str, sorted(set(ws))))} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    atomic_write_text(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
