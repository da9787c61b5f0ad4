"""Data: the :class:`Interactions` model, loaders, splits and side features."""

from advrec.data.datasets import (
    dataset_info,
    dataset_names,
    fetch_dataset,
    load_dataset,
)
from advrec.data.features import encode_item_features, encode_user_features
from advrec.data.interactions import Interactions
from advrec.data.sources import Dataset
from advrec.data.splits.split import Split
from advrec.data.tabular import load_tabular

__all__ = [
    "Dataset",
    "Interactions",
    "Split",
    "dataset_info",
    "dataset_names",
    "encode_item_features",
    "encode_user_features",
    "fetch_dataset",
    "load_dataset",
    "load_tabular",
]
