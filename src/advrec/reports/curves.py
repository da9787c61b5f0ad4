"""Training curves (PNG) and diagnostics tables from the per-epoch history of saved models.

Every iterative model saves its per-epoch logs (``meta.json``, key ``history``);
for adversarial models they hold the two losses, the discriminator accuracy and
the mode-collapse diagnostics of :mod:`advrec.gan.diagnostics`. This module reads
them back, averages over seeds, plots one panel per family of signals and writes
a Markdown table of the diagnostics at chosen epochs.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from advrec.errors import ConfigError, ModelFileError
from advrec.utils.io import atomic_path, read_json

#: (panel title, key patterns) in display order; panels with no matching key are skipped
PANELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("losses", ("g_loss", "d_loss", "dns_loss")),
    ("discriminator accuracy", ("d_acc_real", "d_acc_fake")),
    ("catalogue coverage of top-k", ("gen_coverage@*", "rec_coverage@*")),
    ("mean pairwise profile distance", ("gen_pairwise", "real_pairwise")),
    ("popularity Jensen-Shannon", ("pop_js",)),
    ("own-profile overlap", ("self_overlap",)),
    ("generator reward", ("reward",)),
    ("validation", ("valid_*",)),
)

History = list[dict[str, float]]


def load_histories(paths: Sequence[str | Path]) -> dict[str, list[History]]:
    """Histories by label from saved model folders.

    Each path is a model folder (with ``meta.json``) or a folder whose
    sub-folders are model folders (e.g. ``runs/x/data/cfgan`` with ``seed0`` ...);
    the label is the folder's name, and the seeds of one folder form one group.

    Raises
    ------
    ModelFileError
        If a path holds no saved model with a history.
    """
    out: dict[str, list[History]] = {}
    for p in map(Path, paths):
        metas = [p / "meta.json"] if (p / "meta.json").is_file() else sorted(p.glob("*/meta.json"))
        hist = [h for h in (read_json(m, "model metadata").get("history") or [] for m in metas) if h]
        if not hist:
            raise ModelFileError(f"{p}: no saved model with a training history (meta.json) here or one level down")
        out[p.name if p.name and not p.name.startswith("seed") else str(p)] = hist
    return out


def _keys(histories: dict[str, list[History]], patterns: tuple[str, ...]) -> list[str]:
    present = sorted({k for group in histories.values() for h in group for row in h for k in row})
    return [k for pat in patterns for k in present if fnmatch.fnmatchcase(k, pat)]


def _series(group: list[History], key: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Epochs, mean, min and max over the seeds of one key (epochs where every seed logged it)."""
    tables = [{int(r["epoch"]): float(r[key]) for r in h if key in r and "epoch" in r} for h in group]
    epochs = sorted(set.intersection(*(set(t) for t in tables))) if tables else []
    vals = np.array([[t[e] for e in epochs] for t in tables], dtype=np.float64).reshape(len(tables), len(epochs))
    return np.array(epochs), vals.mean(0), vals.min(0), vals.max(0)


def plot_curves(histories: dict[str, list[History]], path: str | Path, title: str = "") -> Path:
    """One panel per family of logged signals; lines are seed means, bands span min-max.

    Returns
    -------
    Path
        The written PNG (atomic write).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [(name, keys) for name, pats in PANELS if (keys := _keys(histories, pats))]
    if not panels:
        raise ConfigError("the histories hold none of the plotted signals")
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.4 * rows), squeeze=False)
    for ax, (name, keys) in zip(axes.ravel(), panels):
        for label, group in histories.items():
            for key in keys:
                x, mean, lo, hi = _series(group, key)
                if not len(x):
                    continue
                tag = key if len(histories) == 1 else f"{label}: {key}"
                (line,) = ax.plot(x, mean, label=tag, lw=1.4)
                if len(group) > 1:
                    ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    plt.close(fig)
    return target


def _mean_std(values: Sequence[float]) -> str:
    """``"mean ± std"`` with three decimals, or three significant digits below 0.01.

    Catalogue coverage on a large catalogue (20 of 57,289 items is 0.00035) would otherwise
    print as 0.000.
    """
    m, s = float(np.mean(values)), float(np.std(values))
    if m != 0.0 and abs(m) < 0.01:
        return f"{m:.3g} ± {s:.2g}"
    return f"{m:.3f} ± {s:.3f}"


def diagnostics_table(histories: dict[str, list[History]], epochs: Sequence[int] | None = None) -> str:
    """Markdown table of every diagnostic at some epochs (seed mean ± std).

    ``epochs`` defaults to the first, the middle and the last epoch of each group that
    logged a diagnostic (pre-training epochs without diagnostics are skipped).
    """
    keys = _keys(histories, tuple(p for _, pats in PANELS[1:] for p in pats if not p.startswith("valid")))
    lines = ["| model | epoch | " + " | ".join(keys) + " |", "|---|---:|" + "---:|" * len(keys)]
    for label, group in histories.items():
        logged = sorted(set.intersection(*({int(r["epoch"]) for r in h if any(k in r for k in keys)} for h in group)))
        if not logged:
            continue
        chosen = epochs or sorted({logged[0], logged[(len(logged) - 1) // 2], logged[-1]})
        for e in chosen:
            cells = []
            for key in keys:
                vals = [r[key] for h in group for r in h if int(r.get("epoch", -1)) == e and key in r]
                cells.append("" if not vals else _mean_std(vals))
            lines.append(f"| {label} | {e} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
