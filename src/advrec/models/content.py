"""What cold-start models build on: a warm embedding model's vectors and the items' content.

``warm_embeddings`` fits the warm model (BPR-MF by default) whose user and item vectors the
cold-start models map into or out of; ``item_content`` encodes the items' side table (MovieLens:
genres and year, optionally the title's MiniLM embedding) as standardised float32 columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError


def warm_embeddings(name: str, params: dict[str, Any], seed: int, train: Interactions,
                    show_progress: bool = False) -> tuple[torch.Tensor, torch.Tensor, Any]:
    """Fit the warm model ``name`` on ``train``; its ``(user vectors, item vectors, model)``.

    Raises
    ------
    ConfigError
        If the model has no ``embeddings()`` to take the vectors from.
    """
    from advrec.models.registry import create

    warm = create(name, **{**params, "seed": seed})
    if "embeddings" not in warm.capabilities:
        raise ConfigError(f"warm model {name!r} has no embeddings() to take vectors from (use e.g. bpr or lightgcn)")
    warm.fit(train, show_progress=show_progress)
    u, v = warm.embeddings()
    return u.float(), v.float(), warm


def item_content(train: Interactions, text: bool = False) -> tuple[np.ndarray, list[str]]:
    """The items' content as standardised float32 columns ``(n_items, d)`` and their names.

    MovieLens item tables give genres and year (and with ``text`` the title's all-MiniLM-L6-v2
    embedding, cached: :func:`advrec.data.features.text_embeddings`); other tables are encoded
    generically (:func:`advrec.data.features.encode_frame`). Each column is centred and scaled to
    unit variance (constant columns only centred).

    Raises
    ------
    DataError
        If the data has no item table (cold items need content).
    """
    from advrec.data.features import encode_item_features, encode_side_features

    if train.item_features is None:
        raise DataError(f"{train.name}: no item features; cold items are scored from their content")
    if text:
        matrix, names = encode_item_features(train, text=True)
    else:
        found, names = encode_side_features(train, "item")
        if found is None:
            raise DataError(f"{train.name}: no encodable item content in {list(train.item_features.columns)} "
                            "(identifier-like columns are left out); embed a text column with text=true")
        matrix = found
    std = matrix.std(axis=0)
    return ((matrix - matrix.mean(axis=0)) / np.where(std > 0, std, 1.0)).astype(np.float32), names
