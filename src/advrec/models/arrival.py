"""What a new user brings: their first few items (warm users made to arrive like cold ones) and
their demographics.

Cold-start models (``usergan``, ``dropoutnet``) learn on warm training users from what a new user
reveals when they arrive: a cold-user split (``cold-user:F:R``) reveals each cold user's ``R``
earliest interactions. :class:`Arrival` keeps every training user's items in that order and
gives the first ``r`` of any user, vectorised over a batch.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.data.splits.arrays import user_ranks
from advrec.errors import DataError


class Arrival:
    """Each training user's items, earliest first (by time, or a seeded random order).

    Parameters
    ----------
    train
        The training interactions.
    by
        ``"time"`` (random order when ``train`` has no timestamps) or ``"random"``.
    seed
        Seed of the random order.
    """

    def __init__(self, train: Interactions, by: Literal["time", "random"], seed: int) -> None:
        self.by = by if train.timestamps is not None else "random"
        rank, counts = user_ranks(train, self.by, np.random.default_rng(seed))
        self.items = train.items[np.lexsort((rank, train.users))].astype(np.int64)
        self.counts = counts
        self.starts = np.cumsum(counts) - counts
        self.n_items = train.n_items

    def draw(self, choices: list[int], generator: torch.Generator) -> np.ndarray:
        """One number of revealed items per user, drawn uniformly from ``choices`` and capped at
        the user's count minus one, so something is always left to predict."""
        c = torch.tensor(choices, dtype=torch.int64)
        pick = c[torch.randint(len(c), (len(self.counts),), generator=generator)].numpy()
        return np.minimum(pick, np.maximum(self.counts - 1, 0))

    def next_epoch(self, generator: torch.Generator) -> None:
        """Start an epoch: a fresh random arrival order of every user's items when the order is
        random (``by="random"``, or ``"time"`` on data without timestamps); nothing by time."""
        if self.by != "random":
            return
        keys = torch.rand(len(self.items), generator=generator).numpy()
        users = np.repeat(np.arange(len(self.counts)), self.counts)
        self.items = self.items[np.lexsort((keys, users))]

    def first(self, users: np.ndarray, counts: np.ndarray) -> sp.csr_matrix:
        """0/1 rows ``(len(users), n_items)`` of the first ``counts[j]`` items of ``users[j]``."""
        counts = np.asarray(counts, np.int64)
        total = int(counts.sum())
        offset = np.arange(total) - np.repeat(np.cumsum(counts) - counts, counts)
        cols = self.items[np.repeat(self.starts[users], counts) + offset]
        indptr = np.concatenate([[0], np.cumsum(counts)])
        return sp.csr_matrix((np.ones(total, np.float32), cols, indptr), shape=(len(users), self.n_items))


def user_feature_matrix(model: Any) -> torch.Tensor:
    """The encoded user features a ``side_features`` model read in ``fit``, ``(n_users, d)``
    float32 (``d = 0`` when the training data had none)."""
    f = getattr(model, "user_features_", None)
    return torch.zeros((model.n_users, 0)) if f is None else torch.as_tensor(f, dtype=torch.float32)


def new_user_features(model: Any, user_features: np.ndarray | None, n: int) -> torch.Tensor:
    """The features of ``n`` new users for ``fold_in``: as given, checked against the training
    encoding; zeros (nothing known) when none are given or the model was fit without any.

    Raises
    ------
    DataError
        If the given rows do not have the training data's encoded columns.
    """
    d = user_feature_matrix(model).shape[1]
    if user_features is None or d == 0:
        return torch.zeros((n, d))
    feats = torch.as_tensor(np.asarray(user_features, np.float32))
    if tuple(feats.shape) != (n, d):
        raise DataError(f"{model.name}: user_features of shape {tuple(feats.shape)}, expected ({n}, {d}) "
                        f"encoded as in training ({getattr(model, 'user_feature_names_', [])})")
    return feats
