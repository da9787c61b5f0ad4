"""Data stages: seeded transformations of a split's training part before the fit.

A stage gets the split (train, valid, test over one id space) and returns a new split whose
training part is changed (users or items may be appended to the id space) plus a JSON record
of what it did. Valid and test parts are never changed, so every model of an experiment is
evaluated on the same held-out data. Stages are registered by kind in :data:`DATA_STAGES`;
an experiment names them in ``[[data]]`` tables and models list the names they use.

Kinds
-----
The poisoning attacks of :mod:`advrec.robust.attacks` (``inject-random``, ...): fake users,
a fraction of the real ones, appended to the id space and aimed at target items.
The defences of :mod:`advrec.robust.detect` (``defend-detect``): detect fake profiles and remove
or down-weight them; they read the records of the earlier stages (:meth:`DataStage.apply_after`).
Augmentation (:mod:`advrec.experiments.augment`, ``augment``): a generator's proposed interactions
for sparse users, added as ``Split.generated`` records.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from advrec.data.splits import Split
from advrec.errors import AdvrecError
from advrec.experiments.augment import AUGMENTATIONS
from advrec.experiments.stage_base import DataStage, build_registered
from advrec.robust.attacks import ATTACKS
from advrec.robust.detect import DEFENCES
from advrec.utils.io import atomic_write_json

DATA_STAGES: dict[str, type[DataStage]] = {**ATTACKS, **DEFENCES, **AUGMENTATIONS}


def make_stage(name: str, kind: str, params: dict[str, Any]) -> DataStage:
    """The registered stage ``kind`` with validated parameters (ConfigError naming the stage)."""
    return build_registered(DATA_STAGES, "data stage", name, kind, params)


def apply_stages(split: Split, stages: list[DataStage], seed: int,
                 cache: Path | None = None) -> tuple[Split, list[dict[str, Any]]]:
    """Apply ``stages`` in order; each record also gets the stage's name and the new train checksum.

    With ``cache``, each stage's output split and record are kept under ``cache/<key>``, where the
    key hashes the input split's checksums, the stages so far (kind, name, parameters) and the
    seed: runs of an experiment that apply the same stages to the same data (one attack for
    several victims) craft it once. A reused record says ``"cached": true``.
    """
    records: list[dict[str, Any]] = []
    key = _split_key(split) if cache is not None else ""
    for stage in stages:
        entry = None
        if cache is not None:
            key = _digest([key, stage.kind, stage.name, stage.params.model_dump(mode="json"), int(seed)])
            entry = cache / key
            hit = _read_cached(entry)
            if hit is not None:
                split, record = hit
                records.append(record)
                continue
        split, record = stage.apply_after(split, seed, records)
        record = {"name": stage.name, **record, "train_sha256": split.train.checksum()}
        records.append(record)
        if entry is not None:
            _write_cached(entry, split, record)
    return split, records


def _digest(parts: list[Any]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:24]


def _split_key(split: Split) -> str:
    parts = [split.name, split.train.checksum(), split.test.checksum()]
    return _digest(parts + ([split.valid.checksum()] if split.valid is not None else []))


def _read_cached(entry: Path) -> tuple[Split, dict[str, Any]] | None:
    from advrec.data.splits.storage import load_split

    try:
        record = json.loads((entry / "record.json").read_text(encoding="utf-8"))
        return load_split(entry / "split"), {**record, "cached": True}
    except (OSError, ValueError, AdvrecError):
        return None  # absent or unreadable: computed again (and written again)


def _write_cached(entry: Path, split: Split, record: dict[str, Any]) -> None:
    from advrec.data.splits.storage import save_split

    try:
        save_split(split, entry / "split")
        atomic_write_json(entry / "record.json", record)  # written last: its presence marks a whole entry
    except (OSError, AdvrecError):
        pass  # a cache that cannot be written only costs time


__all__ = ["DATA_STAGES", "DataStage", "apply_stages", "make_stage"]
