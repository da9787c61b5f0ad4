"""Where an experiment stands: finished runs, fits in progress (from their checkpoints), pending runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from advrec.experiments.config import ExperimentConfig


def experiment_status(cfg: ExperimentConfig, out: str | Path | None = None) -> list[dict[str, Any]]:
    """One row per (dataset, seed, model) of ``cfg``, reading only files (nothing is trained).

    Returns
    -------
    list of dict
        ``dataset``, ``model``, ``seed``, ``state`` (``"done"``, ``"in progress"``,
        ``"pending"``) and ``detail``: the test metric of a finished run, or per
        checkpointed fit (``trial<n>`` of the tuning, ``final``) the epoch reached and
        the best validation score so far.
    """
    from advrec.experiments.runs import reuse_run, run_folder

    root = cfg.root(out)
    rows = []
    for dataset in cfg.datasets:
        for seed in cfg.seeds:
            for spec in cfg.models:
                run_dir = run_folder(root, dataset, spec.key, seed)
                row: dict[str, Any] = {"dataset": dataset, "model": spec.key, "seed": seed}
                done = reuse_run(run_dir, cfg, spec, seed)
                if done is not None:
                    row.update(state="done", detail=f"{cfg.metric} {done[0]['metrics'].get(cfg.metric, float('nan')):.4f}")
                else:
                    fits = _checkpointed_fits(run_dir / "checkpoints")
                    row.update(state="in progress" if fits else "pending", detail="; ".join(fits))
                rows.append(row)
    return rows


def _checkpointed_fits(folder: Path) -> list[str]:
    """``"<fit>: epoch E, best <score> at B"`` for each checkpoint folder under ``folder``, and
    ``"trial<n>: finished, valid <score>"`` for a finished tuning trial known by its record alone;
    trials in number order, then the final fit."""
    fits = {f.parent.name: _checkpoint_line(f) for f in folder.glob("*/checkpoint.json")}
    for f in folder.glob("trial*.json"):
        fits.setdefault(f.stem, _record_line(f))
    return [f"{name}: {fits[name]}" for name in sorted(fits, key=_fit_order)]


def _fit_order(name: str) -> tuple[int, int, str]:
    """``trial2`` before ``trial10``, both before ``final`` (and any other fit)."""
    number = name.removeprefix("trial")
    return (0, int(number), "") if name.startswith("trial") and number.isdigit() else (1, 0, name)


def _record_line(path: Path) -> str:
    try:
        return f"finished, valid {float(json.loads(path.read_text(encoding='utf-8'))['value']):.4f}"
    except (OSError, ValueError, KeyError, TypeError):
        return "unreadable trial record"


def _checkpoint_line(path: Path) -> str:
    try:
        state = json.loads(path.read_text(encoding="utf-8"))["state"]
    except (OSError, ValueError, KeyError):
        return "unreadable checkpoint"
    text = f"epoch {state['epoch']}"
    if state.get("best") is not None:
        text += f", best valid {state['best']:.4f} at {state['best_epoch']}"
    if state.get("stopped"):
        text += " (stopped early)"
    return text


def status_markdown(rows: list[dict[str, Any]]) -> str:
    """The status rows as a Markdown table, with a count per state."""
    lines = ["| dataset | model | seed | state | detail |", "|---|---|---:|---|---|"]
    lines += [f"| {r['dataset']} | {r['model']} | {r['seed']} | {r['state']} | {r['detail']} |" for r in rows]
    counts = {s: sum(r["state"] == s for r in rows) for s in ("done", "in progress", "pending")}
    lines += ["", ", ".join(f"{n} {s}" for s, n in counts.items())]
    return "\n".join(lines)
