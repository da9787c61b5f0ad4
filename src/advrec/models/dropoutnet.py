"""DropoutNet for new users (Volkovs, Yu and Poutanen, NeurIPS 2017), a cold-start baseline.

A warm embedding model (BPR-MF by default) is fit first. Two networks then map a user's preference
vector with their demographics, and an item's preference vector, into a common space in which the
dot product reproduces the warm model's scores. During training the user's preference input is
dropped out: with probability ``dropout`` it is replaced by what a new user would give (the mean
item vector of their first ``R`` interactions, ``R`` drawn from ``reveal``; zero for ``R = 0``), so
the networks learn to score from demographics and a few items. A new user is scored through the
same transform of the items they revealed (the paper's "user transform" for users with few
interactions).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field, field_validator

from advrec.data.interactions import Interactions
from advrec.models.arrival import Arrival, new_user_features, user_feature_matrix
from advrec.models.cfgan.networks import mlp
from advrec.models.content import warm_embeddings
from advrec.models.foldin import binary_rows, row_chunks
from advrec.models.torch_base import TorchConfig, TorchRecommender, batch_weight, make_optimizer
from advrec.train.callbacks import Callback

if TYPE_CHECKING:
    import optuna


class DropoutConfig(TorchConfig):
    """Hyper-parameters shared by DropoutNet for users and for items."""

    warm: str = "bpr"
    """The warm model whose embeddings are the preference inputs (a model with ``embeddings``)."""
    warm_params: dict[str, Any] = Field(default_factory=dict)
    """Its hyper-parameters (its class defaults for those not given; its seed is this model's)."""
    hidden: list[int] = Field(default_factory=lambda: [200])
    """Hidden layers of both networks."""
    dim: int = Field(100, ge=1)
    """Size of the common output space."""
    dropout: float = Field(0.5, ge=0, le=1)
    """Probability that a preference input is dropped out during training (replaced by what a new
    user or item would have)."""
    batch_size: int = Field(256, ge=1)
    """Rows per step (each with every target score of its row)."""
    epochs: int = Field(50, ge=1)
    """Passes over the training rows."""


class DropoutNetConfig(DropoutConfig):
    """Hyper-parameters of :class:`DropoutNet`."""

    reveal: list[int] = Field(default_factory=lambda: [0, 1, 3, 5])
    """Numbers of a dropped-out user's earliest items whose mean item vector replaces their own
    (0: a zero vector, demographics alone)."""
    reveal_by: Literal["time", "random"] = "time"
    """Which items count as the first (see :class:`~advrec.models.arrival.Arrival`)."""

    @field_validator("reveal")
    @classmethod
    def _reveal_ok(cls, v: list[int]) -> list[int]:
        if not v or min(v) < 0:
            raise ValueError("reveal must be a non-empty list of non-negative counts, e.g. [0, 1, 3, 5]")
        return v


class DropoutBase(TorchRecommender):
    """What DropoutNet for users and for items share: a user and an item network, one optimiser."""

    config: DropoutConfig
    user_net: torch.nn.Module
    item_net: torch.nn.Module

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space: learning rate, dropout rate, width of the networks."""
        return {
            "lr": t.suggest_float("lr", 1e-4, 1e-2, log=True),
            "dropout": t.suggest_float("dropout", 0.1, 0.9),
            "hidden": [t.suggest_categorical("width", [100, 200, 500])],
        }

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        params = [*self.user_net.parameters(), *self.item_net.parameters()]
        return {"main": make_optimizer(params, self.config.optimizer, self.config.lr, 0.0)}

    def train_tensors(self) -> dict[str, torch.Tensor]:
        return {**{f"u.{k}": p for k, p in self.user_net.named_parameters()},
                **{f"i.{k}": p for k, p in self.item_net.named_parameters()}}



class DropoutNet(DropoutBase):
    """DropoutNet's user side: new users scored from demographics and a few revealed items.

    TOML::

        [[models]]
        name = "dropoutnet"
        warm = "bpr"
        warm_params = {factors = 128, lr = 0.005, l2 = 0.005, epochs = 65}
    """

    name = "dropoutnet"
    config_class = DropoutNetConfig
    capabilities = frozenset({"side_features", "fold_in"})
    config: DropoutNetConfig

    def _fit(self, train: Interactions, valid: Interactions | None, *, show_progress: bool,
             callbacks: Sequence[Callback]) -> None:
        c = self.config
        self.user_pref_, self.item_pref_, self._warm = warm_embeddings(c.warm, c.warm_params, c.seed, train,
                                                                       show_progress)
        try:
            super()._fit(train, valid, show_progress=show_progress, callbacks=callbacks)
        finally:
            del self._warm

    def _targets(self, users: torch.Tensor) -> torch.Tensor:
        """The warm model's scores of every item for ``users``: what the networks reproduce."""
        with torch.no_grad():
            return self._warm.score_embeddings(self.user_pref_[users], self.item_pref_).float()

    def _networks(self) -> None:
        c = self.config
        d = self.item_pref_.shape[1]
        self.user_net = mlp([d + user_feature_matrix(self).shape[1], *c.hidden, c.dim], "tanh")
        self.item_net = mlp([d, *c.hidden, c.dim + 1], "tanh")  # the last output is the item's bias

    def _build(self, train: Interactions) -> None:
        self._networks()
        self._arrival = Arrival(train, self.config.reveal_by, self.config.seed)
        self._train_users = torch.from_numpy(np.flatnonzero(self._arrival.counts > 0))

    def _transform(self, rows: sp.csr_matrix) -> torch.Tensor:
        """A new user's preference vector: the mean item vector of their items (zero for none)."""
        rows = binary_rows(rows)
        n = np.maximum(np.diff(rows.indptr), 1).astype(np.float32)
        mean = sp.diags(1.0 / n) @ rows
        return torch.from_numpy((mean @ self.item_pref_.numpy()).astype(np.float32))

    def _predict(self, pref: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        user = self.user_net(torch.cat([pref, feats], dim=1))
        user = torch.cat([user, torch.ones((len(user), 1))], dim=1)
        return user @ self.item_net(self.item_pref_).T

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        self._arrival.next_epoch(generator)
        reveal = self._arrival.draw(c.reveal, generator)
        feats = user_feature_matrix(self)
        order = self._train_users[torch.randperm(len(self._train_users), generator=generator)]
        opt, total = self._optimizers["main"], 0.0
        for batch in order.split(c.batch_size):
            u = batch.numpy()
            drop = torch.rand(len(u), generator=generator) < c.dropout
            pref = self.user_pref_[batch].clone()
            if drop.any():
                d = drop.numpy()
                pref[drop] = self._transform(self._arrival.first(u[d], reveal[u[d]]))
            loss = (self._predict(pref, feats[batch]) - self._targets(batch)).square().mean()
            opt.zero_grad(set_to_none=False)
            (loss * batch_weight(len(u), c.batch_size)).backward()
            opt.step()
            total += loss.item() * len(u)
        return {"loss": total / max(len(order), 1)}

    def _scores_of(self, pref: torch.Tensor, feats: torch.Tensor) -> torch.Tensor:
        out = [self._predict(pref[s], feats[s]) for s in row_chunks(len(pref), self.n_items)]
        return torch.cat(out) if out else torch.zeros((0, self.n_items))

    def _score(self, users: np.ndarray) -> torch.Tensor:
        assert self._seen is not None
        pref = self.user_pref_[users].clone()
        empty = np.diff(self._seen.indptr)[users] == 0  # no training items: a new user's zero input
        pref[torch.from_numpy(empty)] = 0.0
        return self._scores_of(pref, user_feature_matrix(self)[users])

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return self._scores_of(self._transform(history), new_user_features(self, user_features, history.shape[0]))

    def _state(self) -> dict[str, torch.Tensor]:
        return {"user_pref": self.user_pref_, "item_pref": self.item_pref_,
                **{k: v.detach() for k, v in self.train_tensors().items()}}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.user_pref_, self.item_pref_ = state["user_pref"], state["item_pref"]
        self._networks()
        self.user_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("u.")}, strict=True)
        self.item_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("i.")}, strict=True)
