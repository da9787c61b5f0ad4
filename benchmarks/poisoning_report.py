"""Poisoning and defence report of a finished poisoning experiment (e.g. benchmarks/defence_ml100k.toml).

Run: python benchmarks/poisoning_report.py EXPERIMENT.toml [--out FILE.md] [--runs DIR] [--budget 3%]

Every model entry is classified by its data stages (read from the experiment file, not from labels):
no stage = a clean fit; an attack stage (a kind of ``advrec.robust.attacks.ATTACKS``) = the victim
under that attack; an attack then a ``defend-detect`` stage = the victim defended; a defence alone =
the defence's cost on clean data. The victim is the ``params_from`` model (the clean fit whose
hyper-parameters the refit used). Robust training: ``apr`` stands for a defended ``bpr`` and
``apr-lightgcn`` for a defended ``lightgcn`` (its own clean fit is its baseline).

- gain = target HR@K under attack - target HR@K of the clean fit, on the same target items (the
  clean fit's ``target-items`` evaluation whose targets equal the attack's); paired t / Wilcoxon
  tests over seeds (``advrec.eval.stats.paired_test``).
- defended gain = HR@K of the defended refit - HR@K of the clean fit (undefended; APR: APR's clean fit).
- cost = relative loss of clean NDCG@K of the defended refit against the undefended one under the same
  attack (positive = a loss); peace cost = the same for the defence alone on clean data.
- halving check at ``--budget``: for every heuristic attack with a positive gain, defended gain <=
  gain / 2, and cost <= ``--max-cost``.
Runs the experiment lists but whose ``result.json`` is missing are listed, never silently skipped.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from advrec.eval.stats import paired_test, significance_mark
from advrec.experiments.config import ExperimentConfig, ModelSpec, load_experiment
from advrec.experiments.runs import run_folder
from advrec.robust.attacks import ATTACKS

HEURISTIC = ("inject-random", "inject-average", "inject-bandwagon", "inject-popular")
ROBUST_FOR = {"apr": "bpr", "apr-lightgcn": "lightgcn"}
KEYS = ["dataset", "pool", "victim", "attack", "budget"]


def budget_label(params: dict[str, Any]) -> tuple[str, float]:
    """A budget's label (``"3%"``, ``"50x36"``) and sort key from an attack stage's parameters."""
    filler = params.get("filler", 10)
    if params.get("n_fake") is not None:
        return f"{params['n_fake']}x{filler}", 1e6 + float(params["n_fake"])
    frac = float(params.get("fraction", 0.01))
    return f"{frac * 100:g}%", frac


def _victim(spec: ModelSpec) -> str:
    """The clean model a run is compared with: its ``params_from``, else its label without the
    ``@<stage>`` and ``+<defence>`` parts (``apr+sup@random-0.03`` -> ``apr``)."""
    return spec.params_from or spec.key.split("@")[0].split("+")[0]


def classify(cfg: ExperimentConfig, spec: ModelSpec) -> dict[str, Any] | None:
    """What one model entry is (victim, attack, budget, defence), or None if the report cannot place it."""
    stages = {d.name: d for d in cfg.data}
    attacks = [stages[n] for n in spec.data if stages[n].kind in ATTACKS]
    defences = [stages[n] for n in spec.data if stages[n].kind == "defend-detect"]
    if len(attacks) > 1 or len(defences) > 1 or len(attacks) + len(defences) < len(spec.data):
        return None
    row: dict[str, Any] = {"rank": cfg.models.index(spec), "label": spec.key, "model": spec.name, "victim": _victim(spec),
                           "attack": None, "kind": None, "budget": None, "order": 0.0, "pool": None,
                           "defence": None}
    if attacks:
        a = attacks[0]
        row.update(attack=a.kind.removeprefix("inject-"), kind=a.kind, pool=a.params.get("target_pool", "unpopular"))
        row["budget"], row["order"] = budget_label(a.params)
    if defences:
        p = defences[0].params
        name = p.get("detector", "pca-varselect")
        if name == "supervised" and p.get("classifier", "logistic") != "logistic":
            name += f"-{p['classifier']}"
        row["defence"] = name if p.get("action", "remove") == "remove" else f"{name}/downweight"
    return row


def _targets(record: dict[str, Any], k: int) -> dict[tuple[int, ...], tuple[float, float]]:
    """``{targets: (hr@k, ndcg@k)}`` over the run's target-items evaluations."""
    out = {}
    for ev in record.get("evaluations", {}).values():
        if ev.get("kind") == "target-items" and "targets" in ev:
            m = ev["metrics"]
            out[tuple(ev["targets"])] = (_num(m.get(f"hr@{k}")), _num(m.get(f"ndcg@{k}")))
    return out


def _num(x: Any) -> float:
    return float("nan") if x is None else float(x)


def load_runs(cfg: ExperimentConfig, root: Path, k: int) -> tuple[pd.DataFrame, list[str], list[str]]:
    """One row per finished run (classification, clean NDCG@k, targets, attack and defence records),
    the runs that are missing, and the model entries the report cannot place."""
    rows, missing, unplaced = [], [], []
    ranking = next((e.name for e in cfg.evaluations if e.kind == "ranking"), "test")
    for spec in cfg.models:
        info = classify(cfg, spec)
        if info is None:
            unplaced.append(spec.key)
            continue
        for dataset in cfg.datasets:
            for seed in cfg.seeds:
                f = run_folder(root, dataset, spec.key, seed) / "result.json"
                if not f.is_file():
                    missing.append(f"{dataset} {spec.key} seed={seed}")
                    continue
                rec = json.loads(f.read_text(encoding="utf-8"))
                row = {**info, "dataset": dataset, "seed": seed, "targets_by": _targets(rec, k),
                       "ndcg": _num(rec["evaluations"].get(ranking, {}).get("metrics", {}).get(f"ndcg@{k}"))}
                for st in rec.get("data_stages", []):
                    if "fake_user_ids" in st:
                        row["target_index"] = tuple(st.get("target_index", ()))
                        row["craft"] = st.get("craft_seconds", np.nan)
                    elif st.get("kind") == "defend-detect" and st.get("detection"):
                        row.update({f"det_{m}": _num(st["detection"].get(m)) for m in ("precision", "recall", "f1")})
                        row["n_flagged"] = st.get("n_flagged")
                rows.append(row)
    return pd.DataFrame(rows), missing, unplaced


def load_detections(cfg: ExperimentConfig, root: Path) -> pd.DataFrame:
    """One row per finished run and ``detection`` evaluation with values, shaped like the detection
    columns of :func:`load_runs` (the detector named after the evaluation)."""
    names = [e.name for e in cfg.evaluations if e.kind == "detection"]
    rows = []
    for spec in cfg.models if names else []:
        info = classify(cfg, spec)
        for dataset in cfg.datasets if info is not None and info["attack"] else []:
            for seed in cfg.seeds:
                f = run_folder(root, dataset, spec.key, seed) / "result.json"
                if not f.is_file():
                    continue
                evals = json.loads(f.read_text(encoding="utf-8"))["evaluations"]
                for name in names:
                    got = evals.get(name, {}).get("metrics", {})
                    if got.get("f1") is None:
                        continue
                    rows.append({**info, "defence": name, "dataset": dataset, "seed": seed,
                                 "n_flagged": got.get("n_flagged"),
                                 **{f"det_{m}": _num(got.get(m)) for m in ("precision", "recall", "f1")}})
    return pd.DataFrame(rows)


def _with_robust(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of robust-training models (APR) added again as a defence of their plain model."""
    extra = []
    models = dict(zip(frame["victim"], frame["model"]))
    plain = {m: v for v, m in models.items()}
    for robust, base in ROBUST_FOR.items():
        sub = frame[(frame["model"] == robust) & frame["defence"].isna()]
        if base in plain and len(sub):
            extra.append(sub.assign(baseline=sub["victim"], victim=plain[base], defence=f"{robust} (robust training)"))
    out = frame.assign(baseline=frame["victim"])
    return pd.concat([out, *extra], ignore_index=True) if extra else out


def paired_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Per attacked run (defended or not): its target HR / NDCG, the baseline clean fit's on the same
    targets, and the clean NDCG@k of the baseline and of the undefended refit under the same attack."""
    frame = _with_robust(frame)
    clean = frame[frame["attack"].isna() & frame["defence"].isna()].set_index(["dataset", "victim", "seed"])
    hit = frame[frame["attack"].notna()].copy()
    undefended = hit[hit["defence"].isna()].set_index(["dataset", "victim", "attack", "pool", "budget", "seed"])
    out = []
    for _, r in hit.iterrows():
        base = clean.loc[(r["dataset"], r["baseline"], r["seed"])] if (r["dataset"], r["baseline"], r["seed"]) in \
            clean.index else None
        hr, tn = r["targets_by"].get(r["target_index"], (np.nan, np.nan))
        hr0, tn0 = (np.nan, np.nan) if base is None else base["targets_by"].get(r["target_index"], (np.nan, np.nan))
        key = (r["dataset"], r["victim"], r["attack"], r["pool"], r["budget"], r["seed"])
        und = undefended.loc[key] if key in undefended.index else None
        vkey = (r["dataset"], r["victim"], r["seed"])
        hr_v = clean.loc[vkey]["targets_by"].get(r["target_index"], (np.nan,))[0] if vkey in clean.index else np.nan
        out.append({**r.drop(labels=["targets_by"]).to_dict(), "hr": hr, "tndcg": tn, "hr_clean": hr0,
                    "tndcg_clean": tn0, "hr_clean_victim": hr_v, "ndcg_clean": np.nan if base is None else base["ndcg"],
                    "ndcg_undefended": np.nan if und is None else und["ndcg"],
                    "hr_undefended": np.nan if und is None else
                    und["targets_by"].get(r["target_index"], (np.nan,))[0]})
    return pd.DataFrame(out)


def _agg(g: pd.DataFrame, a: str, b: str) -> dict[str, Any]:
    t = paired_test(g[a].to_numpy(), g[b].to_numpy())
    return {"mean_a": t["mean_a"], "mean_b": t["mean_b"], "diff": t["mean_diff"], "p_t": t["p_t"],
            "p_w": t["p_wilcoxon"], "n": t["n"]}


def gain_table(pairs: pd.DataFrame) -> pd.DataFrame:
    """Per dataset x target pool x victim x attack x budget (undefended): HR clean / attacked, gain,
    tests over seeds, clean NDCG@k before / after and its relative change, craft seconds."""
    rows = []
    und = pairs[pairs["defence"].isna()]
    for key, g in und.groupby(KEYS + ["order"], sort=True, dropna=False):
        t = _agg(g, "hr", "hr_clean")
        rows.append({**dict(zip(KEYS + ["order"], key)), "hr_clean": t["mean_b"], "hr_attacked": t["mean_a"],
                     "gain": t["diff"], "p_t": t["p_t"], "p_w": t["p_w"], "seeds": t["n"],
                     "ndcg_clean": g["ndcg_clean"].mean(), "ndcg_attacked": g["ndcg"].mean(),
                     "ndcg_change": (g["ndcg"].mean() - g["ndcg_clean"].mean()) / g["ndcg_clean"].mean(),
                     "craft_s": g["craft"].mean(), "rank": g["rank"].min()})
    return pd.DataFrame(rows)


def defence_table(pairs: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """Per defence x victim x attack x budget: gain without and with the defence, the test of the
    defended against the undefended HR over seeds, the cost under attack and the peace cost."""
    rows = []
    peace = _peace_costs(_with_robust(frame))
    for key, g in pairs[pairs["defence"].notna()].groupby(["defence"] + KEYS + ["order"], dropna=False):
        d = dict(zip(["defence"] + KEYS + ["order"], key))
        t = _agg(g, "hr", "hr_undefended")
        nd = g["ndcg_undefended"].mean()
        rows.append({**d, "gain": (g["hr_undefended"] - g["hr_clean_victim"]).mean(),
                     "gain_defended": (g["hr"] - g["hr_clean"]).mean(), "p_t": t["p_t"], "p_w": t["p_w"],
                     "seeds": t["n"], "cost": (nd - g["ndcg"].mean()) / nd,
                     "peace_cost": peace.get((d["dataset"], d["victim"], d["defence"]), np.nan)})
    return pd.DataFrame(rows)


def _peace_costs(frame: pd.DataFrame) -> dict[tuple[str, str, str], float]:
    """Relative clean NDCG loss of each defence alone on clean data (APR: APR's clean fit against the plain one)."""
    clean = frame[frame["attack"].isna() & frame["defence"].isna()]
    base = clean.groupby(["dataset", "victim"])["ndcg"].mean()
    alone = frame[frame["attack"].isna() & frame["defence"].notna()]
    got = alone.groupby(["dataset", "victim", "defence"])["ndcg"].mean()
    return {k: float((base[k[:2]] - v) / base[k[:2]]) for k, v in got.items() if k[:2] in base.index}


def halving_check(defences: pd.DataFrame, budget: str, max_cost: float) -> pd.DataFrame:
    """Per target pool x defence x victim at ``budget`` (heuristic attacks): does the defence halve
    every positive gain at a cost <= ``max_cost`` under every attack?"""
    sel = defences[(defences["budget"] == budget)
                   & defences["attack"].isin([h.removeprefix("inject-") for h in HEURISTIC])]
    rows = []
    for (dataset, pool, defence, victim), g in sel.groupby(["dataset", "pool", "defence", "victim"]):
        positive = g["gain"] > 0
        halved = bool((g.loc[positive, "gain_defended"] <= g.loc[positive, "gain"] / 2).all())
        cheap = bool((g["cost"] <= max_cost).all())
        rows.append({"dataset": dataset, "pool": pool, "defence": defence, "victim": victim, "attacks": len(g),
                     "with_gain": int(positive.sum()), "halved": halved, "max_cost": g["cost"].max(),
                     "passes": halved and cheap and bool(positive.any())})
    return pd.DataFrame(rows)


def detection_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Precision / recall / F1 per dataset x pool x attack x budget x detector, mean ± std over seeds
    (one value per seed: the first victim's record; ``disagree`` counts victims whose record differs)."""
    if "det_f1" not in frame:
        return pd.DataFrame()
    det = frame[frame["det_f1"].notna()]
    rows = []
    for key, g in det.groupby(["dataset", "pool", "attack", "budget", "order", "defence"]):
        first = g.groupby("seed").first()
        spread = g.groupby("seed")[["det_precision", "det_recall", "det_f1"]].nunique(dropna=False)
        rows.append({**dict(zip(["dataset", "pool", "attack", "budget", "order", "detector"], key)),
                     **{m: (first[f"det_{m}"].mean(), first[f"det_{m}"].std(ddof=1) if len(first) > 1 else 0.0)
                        for m in ("precision", "recall", "f1")},
                     "flagged": first["n_flagged"].mean(), "seeds": len(first),
                     "disagree": int((spread > 1).any(axis=1).sum())})
    return pd.DataFrame(rows)


def _f(x: float, digits: int = 4) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x:.{digits}f}"


def _pct(x: float) -> str:
    return "n/a" if x is None or not np.isfinite(x) else f"{x * 100:+.1f}%"


def _mark(p_t: float, p_w: float) -> str:
    if not (np.isfinite(p_t) or np.isfinite(p_w)):
        return ""
    return f" (t{significance_mark(p_t) or ' n.s.'}, W{significance_mark(p_w) or ' n.s.'})"


def _table(head: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head), *("| " + " | ".join(r) + " |" for r in rows), ""]


def render_gains(gains: pd.DataFrame, k: int) -> list[str]:
    """The pivot (victim x attack@budget, cells gain) and the detailed gain table, per dataset and target pool."""
    lines: list[str] = []
    for (dataset, pool), g in gains.groupby(["dataset", "pool"], sort=False):
        g = g.sort_values(["order", "attack"])
        cols = list(dict.fromkeys(f"{a}@{b}" for a, b in zip(g["attack"], g["budget"])))
        cells = {(r.victim, f"{r.attack}@{r.budget}"): f"{r.gain:+.4f}{'*' if r.p_t < 0.05 else ''}"
                 for r in g.itertuples()}
        victims = list(g.groupby("victim")["rank"].min().sort_values().index)
        lines += [f"### {dataset}, {pool} targets: target HR@{k} gain (attacked - clean; * paired t p<0.05)", "",
                  "(–: not in the experiment's grid, or no finished pair of runs: see the missing runs above)", ""]
        lines += _table(["victim", *cols], [[v, *(cells.get((v, c), "–") for c in cols)] for v in victims])
        lines += [f"### {dataset}, {pool} targets: detail", ""]
        rows = [[r.victim, r.attack, r.budget, _f(r.hr_clean), _f(r.hr_attacked), f"{_f(r.gain)}{_mark(r.p_t, r.p_w)}",
                 _f(r.ndcg_clean), _f(r.ndcg_attacked), _pct(r.ndcg_change), _f(r.craft_s, 3), str(r.seeds)]
                for r in g.sort_values(["rank", "order", "attack"]).itertuples()]
        lines += _table(["victim", "attack", "budget", f"HR@{k} clean", f"HR@{k} attacked", "gain (tests over seeds)",
                         f"NDCG@{k} clean", f"NDCG@{k} attacked", "change", "craft s", "seeds"], rows)
    return lines


def render_defences(defs: pd.DataFrame, check: pd.DataFrame, k: int, budget: str, max_cost: float) -> list[str]:
    """Gain without / with each defence and the halving check."""
    if defs.empty:
        return ["No defended runs in this experiment.", ""]
    lines = ["## Defences", "",
             (f"gain: target HR@{k} gain without the defence; defended: with it (tests: defended HR against "
              f"undefended HR over seeds); cost: relative clean NDCG@{k} loss of the defended refit against the "
              "undefended one under the same attack; peace cost: the defence alone on clean data."), ""]
    rows = [[r.defence, r.victim, r.pool, r.attack, r.budget, _f(r.gain), f"{_f(r.gain_defended)}{_mark(r.p_t, r.p_w)}",
             _pct(r.cost), _pct(r.peace_cost), str(r.seeds)]
            for r in defs.sort_values(["dataset", "defence", "victim", "pool", "order", "attack"]).itertuples()]
    lines += _table(["defence", "victim", "targets", "attack", "budget", "gain", "defended gain", "cost",
                     "peace cost", "seeds"], rows)
    lines += [f"### Halving check at {budget} (heuristic attacks)", "",
              (f"Passes when every attack with a positive gain has its gain at least halved and every cost is "
               f"at most {max_cost:.0%}; a victim no attack lifts (no positive gain) cannot pass."), ""]
    lines += _table(["dataset", "targets", "defence", "victim", "attacks", "with gain", "halved", "max cost", "passes"],
                    [[r.dataset, r.pool, r.defence, r.victim, str(r.attacks), str(r.with_gain),
                      ("yes" if r.halved else "no") if r.with_gain else "n/a (no gain)",
                      _pct(r.max_cost), "**yes**" if r.passes else "no"] for r in check.itertuples()])
    return lines


def render_detection(det: pd.DataFrame) -> list[str]:
    """The detection table: precision / recall / F1 per attack, budget and detector."""
    lines: list[str] = []
    if not det.empty:
        lines += ["## Detection", "",
                  ("Precision / recall / F1 of the flagged users, mean ± std over seeds (detectors of a "
                   "`defend-detect` stage, and `detection` evaluations, named after the evaluation)."), ""]
        rows = [[r.dataset, r.pool, r.attack, r.budget, r.detector,
                 *(f"{r[m][0]:.2f} ± {r[m][1]:.2f}" for m in ("precision", "recall", "f1")),
                 f"{r.flagged:.1f}", str(r.seeds), str(r.disagree)]
                for _, r in det.sort_values(["dataset", "pool", "order", "attack", "detector"]).iterrows()]
        lines += _table(["dataset", "targets", "attack", "budget", "detector", "precision", "recall", "F1", "flagged",
                         "seeds", "victims disagree"], rows)
    return lines


def _compress(missing: list[str]) -> list[str]:
    """``"dataset label seed=N"`` entries grouped by run: ``"dataset label: seeds 1, 2"``."""
    by: dict[str, list[str]] = {}
    for m in missing:
        head, seed = m.rsplit(" seed=", 1)
        by.setdefault(head, []).append(seed)
    return [f"{head}: seed{'s' if len(v) > 1 else ''} {', '.join(v)}" for head, v in by.items()]


def report(cfg: ExperimentConfig, root: Path, *, k: int = 20, budget: str = "3%", max_cost: float = 0.02,
           title: str | None = None, command: str | None = None) -> str:
    """The whole Markdown report of the experiment ``cfg`` whose runs are under ``root``."""
    frame, missing, unplaced = load_runs(cfg, root, k)
    lines = [f"# {title or cfg.name}: poisoning and defences", ""]
    if command:
        lines += [f"Command: `{command}`.", ""]
    definitions = (__doc__ or "").split("\n\n", 2)[2].split("Runs the experiment")[0].strip()
    lines += [(f"Experiment `{cfg.name}`, datasets {cfg.datasets}, seeds {cfg.seeds}, split {cfg.split}; "
               f"runs read from `{root}`."), "", definitions, ""]
    done = root / "results.json"
    if done.is_file():
        res = json.loads(done.read_text(encoding="utf-8"))
        lines += [(f"Last `advrec run`: `{res.get('command')}`, {res.get('wall_seconds', float('nan')):.0f} s wall "
                   f"(finished runs reused) on {res.get('versions', {}).get('machine', 'an unrecorded machine')}."), ""]
    if missing:
        lines += [f"**Missing runs ({len(missing)})**, left out of every mean below:", "",
                  *(f"- {m}" for m in _compress(missing)), ""]
    if unplaced:
        lines += [f"Model entries the report cannot place (several attacks or other stages): {unplaced}", ""]
    if frame.empty:
        return "\n".join([*lines, "No finished runs."])
    pairs = paired_rows(frame)
    lines += ["## Attacks", "", *render_gains(gain_table(pairs), k)]
    defs = defence_table(pairs, frame)
    check = halving_check(defs, budget, max_cost) if not defs.empty else pd.DataFrame()
    lines += render_defences(defs, check, k, budget, max_cost)
    lines += render_detection(detection_table(pd.concat([frame, load_detections(cfg, root)], ignore_index=True)))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: read the experiment file, write the report (stdout or ``--out``)."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("experiment")
    ap.add_argument("--out", help="Markdown file (default: print)")
    ap.add_argument("--runs", help="the experiment's output folder (default: its `output`)")
    ap.add_argument("--k", type=int, default=20)
    ap.add_argument("--budget", default="3%", help="budget of the halving check, as labelled in the report")
    ap.add_argument("--max-cost", type=float, default=0.02)
    ap.add_argument("--title")
    args = ap.parse_args(argv)
    cfg = load_experiment(args.experiment)
    root = Path(args.runs or cfg.output or Path("runs") / cfg.name)
    command = shlex.join(["python", "benchmarks/poisoning_report.py", *(argv if argv is not None else sys.argv[1:])])
    text = report(cfg, root, k=args.k, budget=args.budget, max_cost=args.max_cost, title=args.title, command=command)
    if args.out:
        Path(args.out).write_text(text + "\n", encoding="utf-8")
    else:
        print(text)


if __name__ == "__main__":
    main()
