"""Adversarial attribute removal: NDCG@20 against attacker AUC over the adversary weight.

For each model (BPR-MF, LightGCN, Mult-VAE) and each ``adv_weight`` (0 = the plain model) the
script

1. chooses the default weight on *validation* data (seed 0): every weight is fitted on the
   validation split's training part, scored (NDCG@20) on its validation part and audited for
   gender from the user representation; the chosen weight is the smallest with gender AUC at most
   0.55 and at least 97 % of the plain model's validation NDCG@20; without one, the smallest
   weight reaching AUC 0.55 (the privacy target first, its accuracy cost reported); without that,
   the weight with the lowest AUC;
2. measures every weight on the test split over the seeds: NDCG@20 of the test ranking and the
   privacy audit (gender, age, occupation; attackers trained fresh on the trained model: user
   embeddings, Mult-VAE's encoder means, and the top-20 lists), each run saved and reused;
3. writes a Markdown table and a PNG of the curves.

Every finished validation sweep and test run is also appended to ``<out>.jsonl`` (committed beside
the page), and rows found there are not run again: a benchmark longer than one session (the run
folders are not kept between sessions) goes on where the last one stopped. ``--fresh`` ignores the
ledger.

Run (measured on the shared 2-core machine: BPR-MF about 3 minutes per run, fit and audit; Mult-VAE
4-7; ``--models`` picks models, and finished runs are reused)::

    python benchmarks/privacy_tradeoff.py --data ml-100k --out docs/benchmarks/privacy_tradeoff_ml100k
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from advrec.data.datasets import load_dataset
from advrec.eval.evaluator import evaluate
from advrec.eval.stats import format_mean_std
from advrec.experiments.evaluations import Ranking, make_evaluation
from advrec.experiments.pipeline import resolve_split, train_and_evaluate
from advrec.models.registry import create, default_params
from advrec.privacy.audit import privacy_audit
from advrec.utils.io import atomic_write_json, atomic_write_text

TARGET_AUC, KEEP = 0.55, 0.97


class Ledger:
    """The measured rows of earlier sessions: one JSON object per line, keyed by kind, model,
    weight and seed (the latest line of a key wins)."""

    def __init__(self, path: Path, fresh: bool = False) -> None:
        self.path, self.rows = path, {}
        if not fresh:
            self.rows = self._read()

    def _read(self) -> dict[tuple[Any, ...], dict[str, Any]]:
        rows: dict[tuple[Any, ...], dict[str, Any]] = {}
        if self.path.is_file():
            for n, line in enumerate(self.path.read_text(encoding="utf-8").splitlines(), 1):
                try:
                    row = json.loads(line)
                    rows[self.key(row)] = row
                except (json.JSONDecodeError, KeyError) as exc:
                    sys.exit(f"{self.path}:{n}: not a ledger row ({exc}); mend or remove the line")
        return rows

    @staticmethod
    def key(row: dict[str, Any]) -> tuple[Any, ...]:
        return row["kind"], row["model"], row.get("weight"), row.get("seed")

    def get(self, kind: str, model: str, weight: float | None = None, seed: int | None = None) -> dict[str, Any] | None:
        return self.rows.get((kind, model, weight, seed))

    def add(self, row: dict[str, Any]) -> None:
        """Record ``row``: the file is read again and rewritten atomically with it, so an interrupted
        write loses nothing and runs of other models (``--models``) may add to the same ledger."""
        self.rows[self.key(row)] = row
        on_disk = {**self._read(), self.key(row): row}
        atomic_write_text(self.path, "".join(json.dumps(r, sort_keys=True) + "\n" for r in on_disk.values()))


def params_for(model: str, data: str, weight: float, attributes: list[str]) -> dict[str, Any]:
    """The model's per-dataset defaults, with the adversary at ``weight`` (none at 0)."""
    p = dict(default_params(model, data))
    return {**p, "adv_attributes": attributes, "adv_weight": weight} if weight > 0 else p


def choose_weight(model: str, data: str, weights: list[float], attributes: list[str], cache: Path,
                  ledger: Ledger) -> dict[str, Any]:
    """Step 1: validation NDCG@20 and gender AUC per weight (seed 0) and the chosen weight."""
    logged = ledger.get("validation", model)
    if logged is not None and [r["weight"] for r in logged["rows"]] == weights:
        return {"rows": logged["rows"], **pick(logged["rows"])}
    f = cache / f"{model}-validation.json"
    if f.is_file():
        rows = json.loads(f.read_text())["rows"]
        ledger.add({"kind": "validation", "model": model, "rows": rows})
        return {"rows": rows, **pick(rows)}
    ds = load_dataset(data)
    tune = resolve_split(ds, None, 0, need_valid=True).tuning()
    train = tune.train_full()
    rows = []
    for w in weights:
        rec = create(model, **params_for(model, data, w, attributes), seed=0).fit(train)
        ndcg = float(evaluate(rec, train, tune.test).summary["ndcg@20"])
        audit = privacy_audit(rec, train, ["gender"], seed=0, bootstrap=0)
        rows.append({"weight": w, "ndcg@20": ndcg, "gender_auc": float(audit["gender"]["auc"])})
        print(f"  validation {model} w={w}: ndcg@20 {ndcg:.4f}, gender auc {rows[-1]['gender_auc']:.3f}",
              file=sys.stderr)
    out = {"rows": rows, **pick(rows)}
    atomic_write_json(f, out)
    ledger.add({"kind": "validation", "model": model, "rows": rows})
    return out


def pick(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The default weight from validation rows (``rows[0]`` is the plain model) and the rule used.

    Examples
    --------
    >>> rows = [{"weight": 0, "ndcg@20": 0.2, "gender_auc": 0.75},
    ...         {"weight": 0.3, "ndcg@20": 0.18, "gender_auc": 0.52},
    ...         {"weight": 1, "ndcg@20": 0.17, "gender_auc": 0.50}]
    >>> pick(rows)["chosen"]
    0.3
    """
    plain, adv = rows[0]["ndcg@20"], rows[1:]
    private = [r for r in adv if r["gender_auc"] <= TARGET_AUC]
    both = [r for r in private if r["ndcg@20"] >= KEEP * plain]
    if both:
        return {"chosen": both[0]["weight"],
                "rule": f"smallest weight with gender AUC <= {TARGET_AUC} and >= {KEEP:.0%} NDCG@20"}
    if private:
        return {"chosen": private[0]["weight"],
                "rule": f"none keeps {KEEP:.0%} at AUC <= {TARGET_AUC}: the smallest weight reaching AUC "
                        f"{TARGET_AUC} (it keeps {private[0]['ndcg@20'] / plain:.1%})"}
    best = min(adv, key=lambda r: r["gender_auc"])
    return {"chosen": best["weight"], "rule": f"none reaches AUC {TARGET_AUC}: the lowest gender AUC"}


def test_runs(model: str, data: str, weights: list[float], seeds: list[int], attributes: list[str],
              audit_attributes: list[str], cache: Path, ledger: Ledger) -> list[dict[str, Any]]:
    """Step 2: every (weight, seed) on the test split, with the privacy audit (reused when saved)."""
    evals = [Ranking("test", {}), make_evaluation("privacy", "privacy", {"attributes": audit_attributes})]
    rows = []
    for w in weights:
        for seed in seeds:
            logged = ledger.get("test", model, w, seed)
            if logged is not None and all(f"{a}_auc" in logged for a in audit_attributes):
                rows.append(logged)
                continue
            t0 = time.perf_counter()
            res = train_and_evaluate(model, data, seed=seed, params=params_for(model, data, w, attributes),
                                     evaluations=evals, out=cache / model / f"w{w:g}" / f"seed{seed}")
            audit = res.record["evaluations"]["privacy"]
            row = {"weight": w, "seed": seed, "ndcg@20": res.record["metrics"]["ndcg@20"]}
            for a in audit_attributes:
                got = audit[a]
                row[f"{a}_auc"] = got["auc"]
                lists = got["sources"].get("recommendations", {})
                row[f"{a}_lists_auc"] = max((v["auc"] for v in lists.values()), default=float("nan"))
                row[f"{a}_raw_auc"] = max((v["auc"] for v in got["sources"].get("raw", {}).values()),
                                          default=float("nan"))
            rows.append(row)
            ledger.add({"kind": "test", "model": model, **row})
            print(f"  test {model} w={w:g} seed={seed}: ndcg@20 {row['ndcg@20']:.4f}, gender auc "
                  f"{row['gender_auc']:.3f} ({time.perf_counter() - t0:.0f}s)", file=sys.stderr)
    return rows


def table(model: str, rows: list[dict[str, Any]], chosen: float, audit_attributes: list[str]) -> list[str]:
    """Markdown rows of one model: one line per weight (means ± sd over seeds)."""
    weights = sorted({r["weight"] for r in rows})
    plain = np.mean([r["ndcg@20"] for r in rows if r["weight"] == 0])
    out = []
    for w in weights:
        rs = [r for r in rows if r["weight"] == w]
        nd = np.mean([r["ndcg@20"] for r in rs])
        cells = [f"{model}", f"{w:g}{' (default)' if w == chosen else ''}", format_mean_std([r["ndcg@20"] for r in rs], 4),
                 f"{nd / plain:.1%}"]
        cells += [format_mean_std([r[f"{a}_auc"] for r in rs], 3) for a in audit_attributes]
        cells += [format_mean_std([r["gender_lists_auc"] for r in rs], 3)]
        out.append("| " + " | ".join(cells) + " |")
    return out


def plot(results: dict[str, list[dict[str, Any]]], chosen: dict[str, float], path: Path) -> None:
    """NDCG@20 (share of the plain model's) against gender AUC, one curve per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for model, rows in results.items():
        weights = sorted({r["weight"] for r in rows})
        plain = np.mean([r["ndcg@20"] for r in rows if r["weight"] == 0])
        for ax, key in zip(axes, ("gender_auc", "gender_lists_auc")):
            xs = [np.mean([r[key] for r in rows if r["weight"] == w]) for w in weights]
            ys = [np.mean([r["ndcg@20"] for r in rows if r["weight"] == w]) / plain for w in weights]
            line, = ax.plot(xs, ys, "o-", label=model)
            for x, y, w in zip(xs, ys, weights):
                ax.annotate(f"{w:g}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
                if w == chosen[model]:
                    ax.plot([x], [y], "*", ms=14, color=line.get_color())
    for ax, title in zip(axes, ("attacker on the user representation", "attacker on the top-20 lists")):
        ax.axvline(TARGET_AUC, ls="--", c="grey", lw=0.8)
        ax.axhline(KEEP, ls="--", c="grey", lw=0.8)
        ax.set_xlabel("gender inference AUC (best of logistic regression, MLP)")
        ax.set_ylabel("NDCG@20 / plain model's")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8)
    fig.suptitle("Adversarial removal of gender (labels: adv_weight; star: default chosen on validation)",
                 fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="ml-100k")
    ap.add_argument("--models", default="bpr,lightgcn,multvae")
    ap.add_argument("--weights", default="0,0.1,0.3,1,3")
    ap.add_argument("--seeds", default="0,1,2,3,4")
    ap.add_argument("--hide", default="gender", help="attributes the adversary removes")
    ap.add_argument("--audit", default="gender,age,occupation", help="attributes the attackers infer")
    ap.add_argument("--cache", default=None, help="run folder (default runs/privacy-tradeoff-<data>)")
    ap.add_argument("--out", required=True, help="output prefix: <out>.md, <out>.png and the ledger <out>.jsonl")
    ap.add_argument("--fresh", action="store_true", help="ignore the rows of <out>.jsonl (measure again)")
    args = ap.parse_args(argv)
    weights = [float(w) for w in args.weights.split(",")]
    if weights[0] != 0:
        ap.error("--weights must start with 0 (the plain model)")
    seeds = [int(s) for s in args.seeds.split(",")]
    hide, audit = args.hide.split(","), args.audit.split(",")
    cache = Path(args.cache or f"runs/privacy-tradeoff-{args.data}")
    out = Path(args.out)
    ledger = Ledger(out.with_suffix(".jsonl"), args.fresh)
    t0 = time.perf_counter()
    results, chosen, validation = {}, {}, {}
    for model in args.models.split(","):
        validation[model] = choose_weight(model, args.data, weights, hide, cache, ledger)
        chosen[model] = validation[model]["chosen"]
        results[model] = test_runs(model, args.data, weights, seeds, hide, audit, cache, ledger)
    plot(results, chosen, out.with_suffix(".png"))
    head = ["model", "adv_weight", "NDCG@20", "kept"] + [f"{a} AUC" for a in audit] + ["gender AUC (top-20 lists)"]
    lines = [f"# Adversarial attribute removal on {args.data}", "",
             f"Command: `python benchmarks/privacy_tradeoff.py --data {args.data} --out {args.out}`", "",
             (f"Machine: 2 cores (shared with other jobs). Wall time: {time.perf_counter() - t0:.0f} s "
              "(saved runs and the rows of the ledger "
              f"{out.with_suffix('.jsonl').name} reused)."), "",
             (f"Seeds {seeds}; the adversary removes {', '.join(hide)}; attackers infer {', '.join(audit)}. "
              "AUC: the stronger of logistic regression and an MLP, cross-validated over users, each attacker "
              "reading a class backwards when it ranks it below chance on its own users (docs/privacy.md); "
              "mean ± sd over seeds."), "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, rows in results.items():
        lines += table(model, rows, chosen[model], audit)
    lines += ["", "## Default weights (chosen on validation data, seed 0)", ""]
    for model, v in validation.items():
        vals = ", ".join(f"w={r['weight']:g}: {r['ndcg@20']:.4f} / {r['gender_auc']:.3f}" for r in v["rows"])
        lines.append(f"- {model}: **{v['chosen']:g}** ({v['rule']}). Validation NDCG@20 / gender AUC: {vals}.")
    lines += ["", f"![trade-off curves]({out.with_suffix('.png').name})", ""]
    atomic_write_text(out.with_suffix(".md"), "\n".join(lines))
    atomic_write_json(cache / "results.json", {"results": results, "validation": validation})
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
