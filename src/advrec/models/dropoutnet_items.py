"""DropoutNet for new items (Volkovs, Yu and Poutanen, NeurIPS 2017): cold items from content.

The item side of DropoutNet, a cold-item baseline: a warm embedding model is fit first; an item
network reads an item's preference vector with its content, a user network the user's preference
vector, and their dot product (plus an item bias output) is trained to reproduce the warm model's
scores. With probability ``dropout`` an item's preference input is zeroed during training, as a new
item's is, so the item network learns to score from content alone; items without training
interactions are scored that way.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from pydantic import Field

from advrec.data.interactions import Interactions
from advrec.models.cfgan.networks import mlp
from advrec.models.content import item_content, warm_embeddings
from advrec.models.dropoutnet import DropoutBase, DropoutConfig
from advrec.models.foldin import row_chunks
from advrec.models.torch_base import batch_weight
from advrec.train.callbacks import Callback


class DropoutNetItemsConfig(DropoutConfig):
    """Hyper-parameters of :class:`DropoutNetItems`."""

    text: bool = False
    """Add the title's all-MiniLM-L6-v2 embedding to the content (needs ``advrec[text]``)."""
    batch_size: int = Field(128, ge=1)
    """Items per step (each with every user's target score)."""


class DropoutNetItems(DropoutBase):
    """DropoutNet's item side: cold items scored from their content.

    TOML::

        [[models]]
        name = "dropoutnet-items"
        warm_params = {factors = 128, lr = 0.005, l2 = 0.005, epochs = 65}
    """

    name = "dropoutnet-items"
    config_class = DropoutNetItemsConfig
    capabilities = frozenset({"side_features"})
    config: DropoutNetItemsConfig

    def _fit(self, train: Interactions, valid: Interactions | None, *, show_progress: bool,
             callbacks: Sequence[Callback]) -> None:
        c = self.config
        self.content_ = torch.from_numpy(item_content(train, c.text)[0])  # first: fail before the warm fit
        self.user_pref_, self.item_pref_, self._warm = warm_embeddings(c.warm, c.warm_params, c.seed, train,
                                                                       show_progress)
        with torch.no_grad():  # the warm item bias, if any: the warm score of a zero user vector
            self._bias = self._warm.score_embeddings(torch.zeros((1, self.user_pref_.shape[1])), self.item_pref_)[0]
        try:
            super()._fit(train, valid, show_progress=show_progress, callbacks=callbacks)
        finally:
            del self._warm, self._bias

    def _networks(self) -> None:
        c = self.config
        d = self.item_pref_.shape[1]
        self.user_net = mlp([d, *c.hidden, c.dim], "tanh")
        self.item_net = mlp([d + self.content_.shape[1], *c.hidden, c.dim + 1], "tanh")  # last: the bias

    def _build(self, train: Interactions) -> None:
        self._networks()
        self.warm_items_ = torch.from_numpy(train.item_counts() > 0)
        self._train_items = torch.from_numpy(np.flatnonzero(train.item_counts() > 0))

    def _item_out(self, items: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        """Item-network outputs; the preference input of items where ``keep`` is False is zero."""
        pref = self.item_pref_[items] * keep[:, None].to(self.item_pref_.dtype)
        return self.item_net(torch.cat([pref, self.content_[items]], dim=1))

    def _predict(self, item_out: torch.Tensor, users: torch.Tensor | slice = slice(None)) -> torch.Tensor:
        user = self.user_net(self.user_pref_[users])
        return torch.cat([user, torch.ones((len(user), 1))], dim=1) @ item_out.T

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        order = self._train_items[torch.randperm(len(self._train_items), generator=generator)]
        opt, total = self._optimizers["main"], 0.0
        for batch in order.split(c.batch_size):
            keep = torch.rand(len(batch), generator=generator) >= c.dropout
            target = (self.user_pref_ @ self.item_pref_[batch].T + self._bias[batch]).float()
            loss = (self._predict(self._item_out(batch, keep)) - target).square().mean()
            opt.zero_grad(set_to_none=False)
            (loss * batch_weight(len(batch), c.batch_size)).backward()
            opt.step()
            total += loss.item() * len(batch)
        return {"loss": total / max(len(order), 1)}

    def _score(self, users: np.ndarray) -> torch.Tensor:
        items = self._item_out(torch.arange(self.n_items), self.warm_items_)
        u = torch.from_numpy(users)
        return torch.cat([self._predict(items, u[s]) for s in row_chunks(len(u), self.n_items)])

    def _state(self) -> dict[str, torch.Tensor]:
        return {"user_pref": self.user_pref_, "item_pref": self.item_pref_, "content": self.content_,
                "warm_items": self.warm_items_, **{k: v.detach() for k, v in self.train_tensors().items()}}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.user_pref_, self.item_pref_, self.content_ = state["user_pref"], state["item_pref"], state["content"]
        self.warm_items_ = state["warm_items"].to(torch.bool)
        self._networks()
        self.user_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("u.")}, strict=True)
        self.item_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("i.")}, strict=True)
