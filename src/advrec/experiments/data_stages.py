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
"""

from __future__ import annotations

from typing import Any

from advrec.data.splits import Split
from advrec.experiments.stage_base import (
    DataStage,
    Registered,
    StageParams,
    build_registered,
    fake_ids,
    item_index,
    records_like,
)
from advrec.robust.attacks import ATTACKS, InjectParams, InjectRandom
from advrec.robust.detect import DEFENCES

DATA_STAGES: dict[str, type[DataStage]] = {**ATTACKS, **DEFENCES}


def make_stage(name: str, kind: str, params: dict[str, Any]) -> DataStage:
    """The registered stage ``kind`` with validated parameters (ConfigError naming the stage)."""
    return build_registered(DATA_STAGES, "data stage", name, kind, params)


def apply_stages(split: Split, stages: list[DataStage], seed: int) -> tuple[Split, list[dict[str, Any]]]:
    """Apply ``stages`` in order; each record also gets the stage's name and the new train checksum."""
    records = []
    for stage in stages:
        split, record = stage.apply_after(split, seed, records)
        records.append({"name": stage.name, **record, "train_sha256": split.train.checksum()})
    return split, records


__all__ = ["DATA_STAGES", "DataStage", "InjectParams", "InjectRandom", "Registered", "StageParams",
           "apply_stages", "build_registered", "fake_ids", "item_index", "make_stage", "records_like"]
