"""Data: the :class:`Interactions` model, loaders, splits and side features."""

from advrec.data.interactions import Interactions
from advrec.data.split import Split
from advrec.data.splits import (
    carve_validation,
    cold_items,
    cold_users,
    leave_one_out,
    load_split,
    make_split,
    parse_spec,
    random_holdout,
    save_split,
    temporal,
)

__all__ = [
    "Interactions",
    "Split",
    "carve_validation",
    "cold_items",
    "cold_users",
    "leave_one_out",
    "load_split",
    "make_split",
    "parse_spec",
    "random_holdout",
    "save_split",
    "temporal",
]
