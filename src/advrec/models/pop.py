"""MostPop: rank items by their number of training interactions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.models.base import ModelConfig, Recommender
from advrec.train.callbacks import Callback


class MostPopConfig(ModelConfig):
    """MostPop has no hyper-parameters beyond the seed."""


class MostPop(Recommender):
    """Popularity baseline: every user gets the same item scores.

    Optimises nothing; it scores item ``i`` by the number of training users who
    interacted with it. A strong floor on popularity-biased data.

    TOML::

        [[models]]
        name = "pop"
    """

    name = "pop"
    seeded = False
    config_class = MostPopConfig
    capabilities = frozenset({"fold_in"})

    def _fit(
        self,
        train: Interactions,
        valid: Interactions | None,
        *,
        show_progress: bool,
        callbacks: Sequence[Callback],
    ) -> None:
        self.popularity_ = torch.from_numpy(
            np.asarray(train.binary_csr.sum(axis=0)).ravel().astype(np.float32)
        )

    def _score(self, users: np.ndarray) -> torch.Tensor:
        return self.popularity_.unsqueeze(0).expand(len(users), -1).clone()

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return self.popularity_.unsqueeze(0).expand(history.shape[0], -1).clone()

    def _state(self) -> dict[str, torch.Tensor]:
        return {"popularity": self.popularity_}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        pop = state["popularity"]
        if pop.shape != (self.n_items,):
            raise ValueError(f"popularity has shape {tuple(pop.shape)}, expected ({self.n_items},)")
        self.popularity_ = pop
