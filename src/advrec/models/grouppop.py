"""GroupPop: item popularity within the user's demographic group (a cold-start baseline)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError
from advrec.models.base import ModelConfig, Recommender
from advrec.train.callbacks import Callback

if TYPE_CHECKING:
    import optuna


class GroupPopConfig(ModelConfig):
    """Hyper-parameters of :class:`GroupPop`."""

    columns: list[str] | None = None
    """User-feature columns whose values define a group (names of the training data's user
    table, e.g. ``["gender", "age"]``); None: every encoded user feature."""
    shrink: float = Field(10.0, ge=0)
    """Weight, counted in users, of the global popularity in every group's scores: a group
    of ``n_g`` users scores ``(n_g * pop_g + shrink * pop) / (n_g + shrink)``; 0: the group's
    popularity alone."""


class GroupPop(Recommender):
    """Popularity within the user's group, shrunk toward global popularity.

    A group is a distinct value of the user's encoded side features (the ``columns``
    chosen, e.g. gender x age group on MovieLens; see
    :func:`advrec.data.features.encode_side_features`). With ``n_g`` the training users
    of group ``g`` who have interactions, ``pop_g(i)`` the share of them who interacted
    with item ``i`` and ``pop(i)`` the share of all such users, the group scores
    item ``i`` by::

        s_g(i) = (n_g * pop_g(i) + shrink * pop(i)) / (n_g + shrink)

    so small groups lean on the global ranking. Every user, with training interactions
    or not, gets the scores of their group; :meth:`fold_in` scores new users from their
    encoded features (global popularity for a group not seen in training, or without
    features). It optimises nothing and reads only the features, never the user's items.

    TOML::

        [[models]]
        name = "grouppop"
        columns = ["gender", "age"]
        shrink = 10.0
    """

    name = "grouppop"
    seeded = False
    config_class = GroupPopConfig
    capabilities = frozenset({"side_features", "fold_in"})
    config: GroupPopConfig

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning: how strongly small groups lean on global popularity."""
        return {"shrink": t.suggest_float("shrink", 0.1, 1000.0, log=True)}

    def _fit(
        self,
        train: Interactions,
        valid: Interactions | None,
        *,
        show_progress: bool,
        callbacks: Sequence[Callback],
    ) -> None:
        features = self.user_features_
        if features is None:
            raise DataError(f"grouppop: the training data {train.name!r} has no user features "
                            "(Interactions.user_features) to form groups from")
        self.group_columns_ = torch.from_numpy(self._columns(self.user_feature_names_))
        keys = features[:, self.group_columns_.numpy()]
        group_keys, user_group = np.unique(keys, axis=0, return_inverse=True)
        user_group = np.asarray(user_group, np.int64).reshape(-1)
        active = (train.user_counts() > 0).astype(np.float64)
        members = sp.csr_matrix((active, (user_group, np.arange(self.n_users))),
                                shape=(len(group_keys), self.n_users))
        counts = np.asarray((members @ train.binary_csr).todense(), np.float64)  # users of g with item i
        n_g = np.asarray(members.sum(axis=1), np.float64)  # (groups, 1)
        pop = counts.sum(axis=0) / max(float(active.sum()), 1.0)
        denom = n_g + self.config.shrink
        scores = np.divide(counts + self.config.shrink * pop, denom, out=np.tile(pop, (len(n_g), 1)),
                           where=denom > 0)
        self.group_keys_ = torch.from_numpy(group_keys.astype(np.float32))
        self.user_group_ = torch.from_numpy(user_group)
        self.group_scores_ = torch.from_numpy(scores.astype(np.float32))
        self.popularity_ = torch.from_numpy(pop.astype(np.float32))

    def _columns(self, names: list[str]) -> np.ndarray:
        """Indices of the encoded columns that belong to the configured ``columns``."""
        wanted = self.config.columns
        if wanted is None:
            return np.arange(len(names), dtype=np.int64)
        base = [n.split("=", 1)[0] for n in names]
        missing = [c for c in wanted if c not in base]
        if missing or not wanted:
            raise ConfigError(f"grouppop: columns={wanted} names no encoded user feature "
                              f"({missing or 'empty list'}); the training data has: {sorted(set(base))}")
        return np.flatnonzero(np.isin(base, wanted)).astype(np.int64)

    def _score(self, users: np.ndarray) -> torch.Tensor:
        return self.group_scores_[self.user_group_[torch.from_numpy(users)]]

    def groups_of(self, user_features: np.ndarray) -> np.ndarray:
        """Group index of each row of encoded user features; -1 for a group unseen in training.

        Raises
        ------
        DataError
            If the rows do not have the training data's encoded feature columns.
        """
        f = np.asarray(user_features, np.float32)
        d = len(self.user_feature_names_)
        if f.ndim != 2 or f.shape[1] != d:
            raise DataError(f"grouppop: user_features of shape {f.shape}, expected (n, {d}) encoded as in "
                            f"training (columns {self.user_feature_names_})")
        known = self.group_keys_.numpy()
        keys = np.vstack([known, f[:, self.group_columns_.numpy()]])
        _, inverse = np.unique(keys, axis=0, return_inverse=True)
        inverse = np.asarray(inverse, np.int64).reshape(-1)
        lookup = np.full(len(keys), -1, np.int64)
        lookup[inverse[: len(known)]] = np.arange(len(known))
        return lookup[inverse[len(known):]]

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        n = history.shape[0]
        pop = self.popularity_.unsqueeze(0).expand(n, -1)
        if user_features is None:
            return pop.clone()
        if len(user_features) != n:
            raise DataError(f"grouppop: fold_in got {len(user_features)} rows of user_features for {n} users")
        groups = torch.from_numpy(self.groups_of(user_features))
        out = self.group_scores_[groups.clamp(min=0)]
        return torch.where((groups >= 0).unsqueeze(1), out, pop)

    def _state(self) -> dict[str, torch.Tensor | np.ndarray]:
        return {"group_keys": self.group_keys_, "user_group": self.user_group_, "group_scores": self.group_scores_,
                "popularity": self.popularity_, "group_columns": self.group_columns_}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        keys, scores = state["group_keys"], state["group_scores"]
        if scores.shape != (len(keys), self.n_items) or state["user_group"].shape != (self.n_users,):
            raise ValueError(f"group scores {tuple(scores.shape)} / user groups {tuple(state['user_group'].shape)} "
                             f"do not match {len(keys)} groups, {self.n_users} users, {self.n_items} items")
        self.group_keys_, self.group_scores_ = keys, scores
        self.user_group_ = state["user_group"].to(torch.int64)
        self.popularity_ = state["popularity"]
        self.group_columns_ = state["group_columns"].to(torch.int64)
