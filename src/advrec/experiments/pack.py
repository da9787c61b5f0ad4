"""Move an experiment's finished runs between machines: ``advrec run EXP --pack`` / ``--unpack``.

A pack is a gzipped tar of the experiment's output folder with what reusing a run needs (records,
evaluations, per-user values, data-stage records) and without what it does not: trained weights
(``*.safetensors``) and fit checkpoints. A run still tuning travels as the records of its finished
trials (``checkpoints/trial<n>.json``), so a search can also be split over sessions. Weights are kept
only for runs that another model starts from (``init``). Unpacked runs are reused by ``advrec run``
exactly as if they had been run there, so an experiment can be split over machines (or sessions) and
finished where the packs meet; their models cannot be loaded (``advrec recommend`` needs the weights).
"""

from __future__ import annotations

import tarfile
from pathlib import Path

from advrec.errors import ConfigError
from advrec.experiments.config import ExperimentConfig
from advrec.utils.io import atomic_path


def _kept_weights(cfg: ExperimentConfig, root: Path) -> set[Path]:
    """Run folders whose weights another model starts from (``init``)."""
    from advrec.experiments.runs import run_folder

    sources = {m.init for m in cfg.models if m.init is not None}
    return {run_folder(root, d, label, s) for d in cfg.datasets for s in cfg.seeds for label in sources}


def pack_runs(cfg: ExperimentConfig, archive: str | Path, out: str | Path | None = None) -> dict[str, int]:
    """Write the finished runs of ``cfg`` to the gzipped tar ``archive`` (atomically), and for runs
    whose tuning is under way the records of their finished trials (the rerun takes those from the
    records instead of fitting them again).

    Returns
    -------
    dict
        ``runs``: finished runs packed; ``trials``: finished trials of unfinished runs packed;
        ``files``: files written.
    """
    root = cfg.root(out)
    keep = _kept_weights(cfg, root)
    finished, trials, files = 0, 0, []
    for run_dir, done in _runs(cfg, root):
        if done:
            finished += 1
            files += [f for f in sorted(run_dir.rglob("*")) if f.is_file()
                      and f.relative_to(run_dir).parts[0] != "checkpoints"
                      and (f.suffix != ".safetensors" or run_dir in keep)]
        else:  # a search in progress: the records of its finished trials (no weights needed)
            records = sorted((run_dir / "checkpoints").glob("trial*.json"))
            trials += len(records)
            files += records
    if not files:
        raise ConfigError(f"{root}: no finished run or tuning trial of {cfg.name!r} to pack")
    with atomic_path(archive) as tmp, tarfile.open(tmp, "w:gz") as tar:
        for f in files:
            tar.add(f, arcname=f.relative_to(root).as_posix())
    return {"runs": finished, "trials": trials, "files": len(files)}


def _runs(cfg: ExperimentConfig, root: Path) -> list[tuple[Path, bool]]:
    """Every run folder of ``cfg`` under ``root`` and whether it holds a finished run."""
    from advrec.experiments.runs import reuse_run, run_folder

    folders = [(run_folder(root, d, m.key, s), m, s) for d in cfg.datasets for s in cfg.seeds for m in cfg.models]
    return [(f, reuse_run(f, cfg, m, s) is not None) for f, m, s in folders]


def unpack_runs(cfg: ExperimentConfig, archive: str | Path, out: str | Path | None = None) -> dict[str, int]:
    """Extract ``archive`` into the experiment's output folder; files already there are kept.

    Returns
    -------
    dict
        ``added``: files written; ``kept``: files left as they were (already present).
    """
    archive = Path(archive)
    if not archive.is_file():
        raise ConfigError(f"--unpack {archive}: no such file")
    root = cfg.root(out)
    added = kept = 0
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                if not member.isfile():
                    raise ConfigError(f"{archive}: {member.name!r} is not a regular file; not a pack of advrec runs")
                if (root / member.name).exists():
                    kept += 1
                    continue
                tar.extract(member, root, filter="data")  # refuses absolute paths and '..'
                added += 1
    except (tarfile.TarError, OSError) as exc:
        raise ConfigError(f"{archive}: cannot unpack ({exc})") from exc
    return {"added": added, "kept": kept}
