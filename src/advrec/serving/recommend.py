"""Top-k recommendations from a saved model, as a table of external ids."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.errors import AdvrecError
from advrec.models.base import Recommender

CHUNK_USERS = 2048


def recommend_frame(
    model_dir: str | Path, users: Sequence[str] | None = None, k: int = 20, exclude_seen: bool = True
) -> pd.DataFrame:
    """Recommendations of a saved model as rows ``user, rank, item, score``.

    Parameters
    ----------
    model_dir
        Folder written by :meth:`Recommender.save`.
    users
        External user ids (compared as strings); None for every user.
    k
        Items per user; items already seen are skipped when ``exclude_seen``.
    exclude_seen
        Leave out the user's training items.

    Raises
    ------
    AdvrecError
        For unknown user ids (all of them are named) or a model without ids.
    """
    if k < 1:
        raise AdvrecError(f"-k must be at least 1, got {k}")
    model = Recommender.load(model_dir)
    if model.user_ids is None or model.item_ids is None:
        raise AdvrecError(f"{model_dir}: the model was saved without its id vocabulary (ids.json)")
    if users is None:
        idx = np.arange(model.n_users)
    else:
        lookup = {str(u): i for i, u in enumerate(model.user_ids.tolist())}
        missing = [u for u in users if str(u) not in lookup]
        if missing:
            raise AdvrecError(f"unknown user id(s): {', '.join(missing[:10])}" + (" ..." if len(missing) > 10 else ""))
        idx = np.array([lookup[str(u)] for u in users], dtype=np.int64)
    frames = []
    for start in range(0, len(idx), CHUNK_USERS):
        chunk = idx[start : start + CHUNK_USERS]
        items, scores = model.recommend(chunk, k=k, exclude_seen=exclude_seen)
        kk = items.shape[1]
        ok = np.isfinite(scores).ravel()
        frames.append(
            pd.DataFrame(
                {
                    "user": np.repeat(model.user_ids[chunk], kk)[ok],
                    "rank": np.tile(np.arange(1, kk + 1), len(chunk))[ok],
                    "item": model.item_ids[items.ravel()][ok],
                    "score": scores.ravel()[ok],
                }
            )
        )
    return pd.concat(frames, ignore_index=True)
