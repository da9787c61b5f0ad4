"""Content baselines for cold items: ContentKNN and GenrePop.

``contentknn`` scores an item by the mean cosine similarity of its content to the user's items;
``genrepop`` by popularity: its own for items with training interactions, the mean popularity of
the items that share its genres for the others. Neither trains anything; both read the items'
side table (genres, year; with ``text`` also the title's MiniLM embedding for ContentKNN).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.features import genre_matrix
from advrec.data.interactions import Interactions
from advrec.errors import DataError
from advrec.models.base import ModelConfig, Recommender
from advrec.models.content import item_content
from advrec.models.foldin import binary_rows, map_row_chunks
from advrec.train.callbacks import Callback


class ContentKNNConfig(ModelConfig):
    """Hyper-parameters of :class:`ContentKNN`."""

    text: bool = False
    """Add the title's all-MiniLM-L6-v2 embedding to the content (needs ``advrec[text]``)."""


class ContentKNN(Recommender):
    """Mean cosine similarity of an item's content to the content of the user's items.

    With ``c_i`` the standardised content of item ``i`` scaled to unit length and ``I_u`` the
    user's training items, ``s(u, i) = c_i . mean_{j in I_u} c_j`` (the mean cosine similarity),
    computed as one product per user without an item-item matrix.
    """

    name = "contentknn"
    seeded = False
    config_class = ContentKNNConfig
    capabilities = frozenset({"side_features", "fold_in"})
    config: ContentKNNConfig

    def _fit(self, train: Interactions, valid: Interactions | None, *, show_progress: bool,
             callbacks: Sequence[Callback]) -> None:
        content, _ = item_content(train, self.config.text)
        self.content_ = torch.nn.functional.normalize(torch.from_numpy(content), dim=1)

    def _rows_scores(self, rows: sp.csr_matrix) -> torch.Tensor:
        rows = binary_rows(rows)
        n = np.maximum(np.diff(rows.indptr), 1).astype(np.float32)
        profile = torch.from_numpy(np.asarray((sp.diags(1.0 / n) @ rows) @ self.content_.numpy(), np.float32))
        return profile @ self.content_.T

    def _score(self, users: np.ndarray) -> torch.Tensor:
        assert self._seen is not None
        return self._rows_scores(self._seen[users])

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return map_row_chunks(history, self._rows_scores, self.n_items)

    def _state(self) -> dict[str, torch.Tensor | np.ndarray]:
        return {"content": self.content_}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        if state["content"].shape[0] != self.n_items:
            raise ValueError(f"content of {state['content'].shape[0]} items, expected {self.n_items}")
        self.content_ = state["content"]


class GenrePop(Recommender):
    """Popularity, with the genre's popularity for items without training interactions.

    An item with training interactions scores its number of training users; an item without
    any (a cold item) scores the mean, over its genres, of the mean popularity of the items of
    that genre that have interactions (0 without a known genre). Genres: see :func:`genre_matrix`.
    """

    name = "genrepop"
    seeded = False
    capabilities = frozenset({"side_features", "fold_in"})

    def _fit(self, train: Interactions, valid: Interactions | None, *, show_progress: bool,
             callbacks: Sequence[Callback]) -> None:
        found = genre_matrix(train)
        if found is None:
            raise DataError(f"genrepop: the training data {train.name!r} has no genre or other categorical item column")
        genres = found.astype(np.float64)
        pop = train.binary_csr.sum(axis=0).A1.astype(np.float64)
        warm = pop > 0
        members = genres[warm].sum(axis=0)
        genre_pop = np.divide(genres[warm].T @ pop[warm], members, out=np.zeros(genres.shape[1]), where=members > 0)
        n_genres = genres.sum(axis=1)
        guess = np.divide(genres @ genre_pop, n_genres, out=np.zeros(len(pop)), where=n_genres > 0)
        self.scores_ = torch.from_numpy(np.where(warm, pop, guess).astype(np.float32))

    def _score(self, users: np.ndarray) -> torch.Tensor:
        return self.scores_.expand(len(users), -1).clone()

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return self.scores_.expand(history.shape[0], -1).clone()

    def _state(self) -> dict[str, torch.Tensor | np.ndarray]:
        return {"scores": self.scores_}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        if state["scores"].shape != (self.n_items,):
            raise ValueError(f"scores of shape {tuple(state['scores'].shape)}, expected ({self.n_items},)")
        self.scores_ = state["scores"]
