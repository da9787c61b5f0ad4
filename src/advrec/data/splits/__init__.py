"""Train / valid / test splits of :class:`~advrec.data.Interactions`.

Every splitter is seeded and deterministic, works on whole arrays (one sort per
split, no loop over users or records), keeps the full id space in every part
and returns a :class:`~advrec.data.Split` that passes ``check_leakage()``.
See ``docs/splits.md`` for the protocols and rounding rules.

=====================  ========================================================
``Split``              the split type (``split.py``)
``random_holdout``     per-user random holdout (``"random:0.8"``)
``leave_one_out``      one held-out record per user (``"loo"``, ``"loo:random"``)
``temporal``           one global time cut (``"temporal:0.8"``)
``cold_items``         items held out whole (``"cold-item:0.2"``)
``cold_users``         users held out whole (``"cold-user:0.2[:REVEAL]"``)
``carve_validation``   a validation part out of train
``parse_spec``         ``"kind:args"`` -> ``(kind, params)``
``make_split``         spec -> checked split with a validation part
``save_split``         Parquet + checksummed manifest
``load_split``         ... and back, verifying checksums
=====================  ========================================================
"""

from __future__ import annotations

from advrec.data.splits.arrays import round_half_up
from advrec.data.splits.cold_item import cold_items
from advrec.data.splits.cold_user import cold_users
from advrec.data.splits.holdout import leave_one_out, random_holdout, temporal
from advrec.data.splits.spec import SPEC_GRAMMAR, make_split, parse_spec
from advrec.data.splits.split import Split
from advrec.data.splits.storage import load_split, save_split
from advrec.data.splits.validation import carve_validation

__all__ = [
    "SPEC_GRAMMAR",
    "Split",
    "carve_validation",
    "cold_items",
    "cold_users",
    "leave_one_out",
    "load_split",
    "make_split",
    "parse_spec",
    "random_holdout",
    "round_half_up",
    "save_split",
    "temporal",
]
