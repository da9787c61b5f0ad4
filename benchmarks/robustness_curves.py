"""Relative metric drop under embedding perturbations, per model and budget, from an experiment's runs.

Reads the ``perturb`` evaluations (``eval.<name>.json``) and the clean ``ranking`` evaluation
of every run under an experiment's output folder (``<root>/<dataset>/<label>/seed<n>/``, as
``advrec run`` writes them) and writes

* a PNG: relative drop of ``--metric`` against ``eps``, one colour per model, FGSM (and PGD)
  solid, random noise dashed, mean over seeds with the std over seeds as error bars;
* a Markdown section: the clean metrics per model with a paired test against the model it was
  warm-started from (its ``init``), the mean ± std drop per model x attack x eps, and the drop
  ratio of each model to that reference at every eps (adversarial attacks only: random noise
  barely moves either model, so its ratio is a ratio of two noises).

Usage (docs/benchmarks/apr_ml100k_cfgan.md)::

    python benchmarks/robustness_curves.py runs/apr-ml100k-cfgan \\
        --png docs/benchmarks/img/apr_ml100k_cfgan_drop.png --md /tmp/apr_ml100k_cfgan_section.md
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from advrec.errors import ConfigError

ADVERSARIAL = ("fgsm", "pgd")
RATIO_NOTE = ("Drop ratio (model / the model it was warm-started from): ratio of the mean drops; in brackets the "
              "smallest and largest ratio of single seeds.")
CLEAN_NOTE = ("Clean test metrics (mean ± std over seeds); against the reference: mean difference of per-user "
              "values averaged over seeds (relative), paired t-test and Wilcoxon signed-rank p-values.")


def collect(root: Path, metric: str = "ndcg@20") -> pd.DataFrame:
    """One row per perturb evaluation of every run under ``root``.

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, label, seed, evaluation, attack, eps, clean, perturbed, drop`` (``drop``:
        the evaluation's ``relative_drop[metric]``, positive for a loss).

    Raises
    ------
    ConfigError
        If ``root`` is not a folder or holds no perturb evaluation reporting ``metric``.
    """
    if not root.is_dir():
        raise ConfigError(f"robustness_curves: run folder not found: {root}")
    rows = []
    for f in sorted(root.glob("*/*/seed*/eval.*.json")):
        rec = json.loads(f.read_text(encoding="utf-8"))
        if rec.get("kind") != "perturb" or metric not in (rec.get("relative_drop") or {}):
            continue
        run = f.parent
        rows.append({"dataset": run.parents[1].name, "label": run.parent.name, "seed": int(run.name[4:]),
                     "evaluation": rec["name"], "attack": rec["attack"], "eps": float(rec["eps"]),
                     "clean": rec["clean"][metric], "perturbed": rec["perturbed"][metric],
                     "drop": rec["relative_drop"][metric]})
    if not rows:
        raise ConfigError(f"robustness_curves: no perturb evaluation reporting {metric!r} under {root} "
                          "(expected <root>/<dataset>/<label>/seed<n>/eval.<name>.json)")
    return pd.DataFrame(rows)


def summarise(drops: pd.DataFrame) -> pd.DataFrame:
    """Mean, std (ddof 1; 0 for one seed) and number of seeds of the drop per dataset, model, attack, eps."""
    g = drops.groupby(["dataset", "label", "attack", "eps"], sort=False)["drop"]
    out = g.agg(mean="mean", std=lambda x: float(x.std(ddof=1)) if len(x) > 1 else 0.0, seeds="count")
    return out.reset_index()


def references(root: Path, dataset: str, labels: list[str]) -> dict[str, str]:
    """``{label: the label it was warm-started from}`` (its runs' recorded ``init``), within ``labels``."""
    out: dict[str, str] = {}
    for label in labels:
        for f in sorted((root / dataset / label).glob("seed*/result.json")):
            init = (json.loads(f.read_text(encoding="utf-8")).get("stages") or {}).get("init")
            if init in labels:
                out[label] = init
                break
    return out


def ratios(drops: pd.DataFrame, pairs: dict[str, str], attacks: tuple[str, ...] = ADVERSARIAL) -> pd.DataFrame:
    """Drop of each model over its reference's, per attack and eps: the ratio of the mean drops over
    seeds, and the smallest / largest ratio of the seeds both ran (paired by seed).

    Returns
    -------
    pandas.DataFrame
        Columns ``dataset, label, reference, attack, eps, ratio, seed_min, seed_max``.
    """
    rows = []
    keys = ["dataset", "attack", "eps", "seed"]
    for label, ref in pairs.items():
        a = drops[(drops.label == label) & drops.attack.isin(attacks)].set_index(keys)["drop"]
        b = drops[(drops.label == ref) & drops.attack.isin(attacks)].set_index(keys)["drop"]
        both = pd.concat({"a": a, "b": b}, axis=1, join="inner").reset_index()
        for (dataset, attack, eps), grp in both.groupby(["dataset", "attack", "eps"], sort=False):
            den = grp.b.mean()
            per_seed = (grp.a / grp.b).where(grp.b > 0)
            rows.append({"dataset": dataset, "label": label, "reference": ref, "attack": attack, "eps": eps,
                         "ratio": grp.a.mean() / den if den > 0 else np.nan,
                         "seed_min": per_seed.min(), "seed_max": per_seed.max()})
    return pd.DataFrame(rows, columns=["dataset", "label", "reference", "attack", "eps", "ratio", "seed_min",
                                       "seed_max"])


def clean_table(root: Path, dataset: str, labels: list[str], pairs: dict[str, str], evaluation: str,
                metrics: tuple[str, ...]) -> pd.DataFrame:
    """Clean metrics per model (mean ± std over seeds of ``evaluation``) and, for a model with a
    reference, the paired t-test / Wilcoxon test on the per-user values averaged over seeds."""
    from advrec.eval.stats import paired_test

    per_user: dict[str, pd.DataFrame] = {}
    rows = []
    for label in labels:
        runs = sorted((root / dataset / label).glob(f"seed*/eval.{evaluation}.json"))
        if not runs:
            continue
        summ = [json.loads(f.read_text(encoding="utf-8"))["metrics"] for f in runs]
        frames = [pd.read_parquet(f.parent / f"per_user.{evaluation}.parquet").set_index("user") for f in runs]
        per_user[label] = pd.concat(frames).groupby(level=0)[list(metrics)].mean()
        row: dict[str, Any] = {"label": label, "seeds": len(runs)}
        for m in metrics:
            vals = np.array([s[m] for s in summ], dtype=np.float64)
            row[m] = vals.mean()
            row[f"{m} std"] = vals.std(ddof=1) if len(vals) > 1 else 0.0
        rows.append(row)
    out = pd.DataFrame(rows)
    for i, row in out.iterrows():
        ref = pairs.get(row["label"])
        if ref not in per_user:
            continue
        a, b = per_user[row["label"]], per_user[ref]
        common = a.index.intersection(b.index)
        for m in metrics:
            test = paired_test(a.loc[common, m].to_numpy(), b.loc[common, m].to_numpy())
            out.loc[i, f"{m} vs"] = f"{test['mean_diff']:+.4f} ({test['mean_diff'] / test['mean_b']:+.1%}; " \
                                    f"p_t={test['p_t']:.2g}, p_W={test['p_wilcoxon']:.2g})"
    return out


def plot(summary: pd.DataFrame, dataset: str, metric: str, path: Path, labels: list[str] | None = None) -> Path:
    """Relative drop (%) against eps: one colour per model (in ``labels`` order), adversarial attacks solid,
    random dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = summary[summary.dataset == dataset]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for n, label in enumerate(labels or list(dict.fromkeys(data.label))):
        for attack, grp in data[data.label == label].groupby("attack", sort=False):
            grp = grp.sort_values("eps")
            ax.errorbar(grp.eps, 100 * grp["mean"], yerr=100 * grp["std"], capsize=3, marker="o",
                        color=colours[n % len(colours)], linestyle="--" if attack == "random" else "-",
                        label=f"{label}, {attack}")
    ax.axhline(0.0, color="grey", linewidth=0.8)
    ax.set_xscale("log", base=2)
    eps = sorted(data.eps.unique())
    ax.set_xticks(eps, [f"{e:g}" for e in eps])
    ax.set_xlabel("eps (L2 norm of every user and item embedding's perturbation)")
    ax.set_ylabel(f"relative {metric} drop (%)")
    ax.set_title(f"{dataset}: {metric} lost under perturbation (mean ± std over seeds)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def drop_table(summary: pd.DataFrame, rat: pd.DataFrame, dataset: str, labels: list[str]) -> list[str]:
    """Markdown lines: mean ± std drop per model x attack x eps, then the ratios to the references."""
    data = summary[summary.dataset == dataset]
    eps = sorted(data.eps.unique())
    head = ["| model | attack | seeds | " + " | ".join(f"eps {e:g}" for e in eps) + " |",
            "|---|---|---:|" + "---:|" * len(eps)]
    lines = head[:]
    for attack in dict.fromkeys(data.attack):
        for label in labels:
            grp = data[(data.label == label) & (data.attack == attack)].set_index("eps")
            if grp.empty:
                continue
            cells = [f"{100 * grp.loc[e, 'mean']:.1f} ± {100 * grp.loc[e, 'std']:.1f}%" if e in grp.index
                     else "n/a" for e in eps]
            lines.append(f"| {label} | {attack} | {int(grp.seeds.max())} | " + " | ".join(cells) + " |")
    rat = rat[rat.dataset == dataset]
    if rat.empty:
        return lines
    lines += ["", RATIO_NOTE, "",
              "| model / reference | attack | " + " | ".join(f"eps {e:g}" for e in eps) + " |",
              "|---|---|" + "---:|" * len(eps)]
    for (label, ref, attack), grp in rat.groupby(["label", "reference", "attack"], sort=False):
        grp = grp.set_index("eps")
        cells = [f"{grp.loc[e, 'ratio']:.2f} [{grp.loc[e, 'seed_min']:.2f}, {grp.loc[e, 'seed_max']:.2f}]"
                 if e in grp.index and np.isfinite(grp.loc[e, "ratio"]) else "n/a" for e in eps]
        lines.append(f"| {label} / {ref} | {attack} | " + " | ".join(cells) + " |")
    return lines


def to_markdown(root: Path, dataset: str, metric: str, labels: list[str], pairs: dict[str, str],
                clean: pd.DataFrame, summary: pd.DataFrame, rat: pd.DataFrame, png: str | None,
                metrics: tuple[str, ...], argv: list[str]) -> str:
    """The Markdown section: command (``argv``: the script's arguments), machine, clean table, drop
    table, ratios, and the PNG (``png``: its path relative to the Markdown file)."""
    info = _run_info(root)
    command = " ".join(shlex.quote(a) for a in ["python", "benchmarks/robustness_curves.py", *argv])
    runs = f" on the runs of `{info['command']}`" if info.get("command") else ""
    lines = [f"Command: `{command}`{runs}.", "", f"Machine: {info.get('machine', 'not recorded')}.", "",
             CLEAN_NOTE, "",
             "| model | seeds | " + " | ".join(metrics) + " | " + " | ".join(f"{m} vs reference" for m in metrics)
             + " |", "|---|---:|" + "---:|" * (2 * len(metrics))]
    for _, row in clean.iterrows():
        ref = pairs.get(row["label"])
        vs = [f"vs {ref}: {row[f'{m} vs']}" if isinstance(row.get(f"{m} vs"), str) else "" for m in metrics]
        lines.append(f"| {row['label']} | {int(row['seeds'])} | "
                     + " | ".join(f"{row[m]:.4f} ± {row[f'{m} std']:.4f}" for m in metrics)
                     + " | " + " | ".join(vs) + " |")
    drop_note = f"Relative {metric} drop, `(clean - perturbed) / clean` (positive: a loss), mean ± std over seeds:"
    lines += ["", drop_note, "", *drop_table(summary, rat, dataset, labels), ""]
    if png is not None:
        lines += [f"![relative {metric} drop against eps]({png})", ""]
    return "\n".join(lines)


def _run_info(root: Path) -> dict[str, Any]:
    """The experiment's command and machine (``results.json``, else any run's ``result.json``)."""
    f = root / "results.json"
    if f.is_file():
        res = json.loads(f.read_text(encoding="utf-8"))
        return {"command": res.get("command"), "machine": (res.get("versions") or {}).get("machine")}
    for r in sorted(root.glob("*/*/seed*/result.json")):
        return {"machine": (json.loads(r.read_text(encoding="utf-8")).get("versions") or {}).get("machine")}
    return {}


def _labels(root: Path, dataset: str, drops: pd.DataFrame) -> list[str]:
    """Model labels in the experiment file's order (``results.json``), else in the order found."""
    found = list(dict.fromkeys(drops.label[drops.dataset == dataset]))
    f = root / "results.json"
    if f.is_file():
        order = [m.get("label") or m["name"] for m in json.loads(f.read_text(encoding="utf-8"))["config"]["models"]]
        return [x for x in order if x in found] + [x for x in found if x not in order]
    return found


def main(argv: list[str] | None = None) -> str:
    """Command line; returns the Markdown section (also written to ``--md`` or printed)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("root", type=Path, help="the experiment's output folder (its `output`)")
    ap.add_argument("--dataset", help="dataset folder under root (needed when there are several)")
    ap.add_argument("--metric", default="ndcg@20")
    ap.add_argument("--clean", default="test", help="name of the clean ranking evaluation")
    ap.add_argument("--clean-metrics", nargs="+", default=["ndcg@20", "recall@20"])
    ap.add_argument("--pair", action="append", default=[], metavar="MODEL:REFERENCE",
                    help="compare MODEL to REFERENCE (default: every model to its init)")
    ap.add_argument("--png", type=Path)
    ap.add_argument("--md", type=Path)
    argv = sys.argv[1:] if argv is None else argv
    args = ap.parse_args(argv)
    drops = collect(args.root, args.metric)
    datasets = list(dict.fromkeys(drops.dataset))
    dataset = args.dataset or (datasets[0] if len(datasets) == 1 else None)
    if dataset not in datasets:
        raise ConfigError(f"robustness_curves: --dataset must be one of {datasets} (got {args.dataset!r})")
    labels = _labels(args.root, dataset, drops)
    pairs = references(args.root, dataset, labels)
    for item in args.pair:
        model, sep, ref = item.partition(":")
        if not sep or model not in labels or ref not in labels:
            raise ConfigError(f"robustness_curves: --pair {item!r}: expected MODEL:REFERENCE of {labels}")
        pairs[model] = ref
    summary, rat = summarise(drops), ratios(drops, pairs)
    metrics = tuple(args.clean_metrics)
    clean = clean_table(args.root, dataset, labels, pairs, args.clean, metrics)
    link = None
    if args.png is not None:
        plot(summary, dataset, args.metric, args.png, labels)
        base = Path.cwd() if args.md is None else args.md.resolve().parent
        link = os.path.relpath(args.png.resolve(), base)
    text = to_markdown(args.root, dataset, args.metric, labels, pairs, clean, summary, rat, link, metrics, argv)
    if args.md is None:
        print(text)
    else:
        args.md.parent.mkdir(parents=True, exist_ok=True)
        args.md.write_text(text, encoding="utf-8")
    return text


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
