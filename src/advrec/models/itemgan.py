"""ItemGAN: cold items from content, adversarially (in the spirit of GAR, Chen et al., SIGIR 2022).

A warm embedding model (BPR-MF by default) is fit first; its item vectors, with the item bias as
one more coordinate (and a 1 appended to the user vectors), are the space the generator maps an
item's content into (genres, year, optionally the title's MiniLM embedding). A recommender, two
towers over user and item vectors scored by a dot product, plays the discriminator: it learns to
rank a user's real item above both the generated embedding of that item and a random negative,
while the generator learns to make its embedding rank above the real one for the same user and to
stay close to the real embedding. Scoring is the warm model's dot product: warm items (those with
training interactions) with their own vectors, cold items with generated ones, so both are ranked on
one scale and warm recommendations stay the warm model's. See docs/models/itemgan.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from advrec.data.interactions import Interactions
from advrec.gan.trainer import DOut, GOut
from advrec.models.cfgan.networks import mlp
from advrec.models.content import item_content, warm_embeddings
from advrec.models.gan_base import GANConfig, GANRecommender
from advrec.train.callbacks import Callback

if TYPE_CHECKING:
    import optuna


class ItemGANConfig(GANConfig):
    """Hyper-parameters of :class:`ItemGAN` (defaults: GAR's released code where it has one)."""

    warm: str = "bpr"
    """The warm model whose vectors are mapped into (a model with ``embeddings``)."""
    warm_params: dict[str, Any] = Field(default_factory=dict)
    """Its hyper-parameters (its class defaults for the rest; its seed is this model's)."""
    text: bool = False
    """Add the title's all-MiniLM-L6-v2 embedding to the content (needs ``advrec[text]``)."""
    g_hidden: list[int] = Field(default_factory=lambda: [200])
    """Generator hidden layers (GAR: 200)."""
    d_hidden: list[int] = Field(default_factory=lambda: [200])
    """Hidden layers of each recommender tower (GAR: 200); the last tower layer has the warm size."""
    alpha: float = Field(0.9, ge=0, le=1)
    """Weight of the similarity term ``|G(c_i) - v_i|_1`` against the adversarial one (GAR: 0.9)."""
    beta: float = Field(0.4, ge=0, le=1)
    """Share of the random negative (vs the generated embedding) in what the recommender ranks the
    real item above."""
    adversarial: bool = True
    """False: no recommender towers; the generator only regresses content onto the warm vectors
    (the L1 term alone): the ablation, which is also the content-to-embedding regression baseline."""
    dropout: float = Field(0.1, ge=0, lt=1)
    """Dropout in both networks during training."""
    batch_size: int = Field(1024, ge=1)
    """(user, item, negative) triples per generator step."""
    batch_size_d: int = Field(1024, ge=1)
    """Triples per recommender step."""
    lr: float = Field(1e-3, gt=0)
    """Generator learning rate (GAR: 1e-3)."""
    lr_d: float = Field(1e-3, gt=0)
    """Recommender learning rate (GAR: 1e-3)."""
    epochs: int = Field(20, ge=1)
    """Passes over the training interactions."""
    calibrate: bool = False
    """After training, fit a scale and a shift of the generated vectors' scores to the real vectors'
    scores on warm items (least squares over the training pairs and as many random warm pairs), so
    generated vectors compete with real ones on the warm model's scale (the all-items setting).
    A positive scale and one shift for every generated item keep each user's order of cold items."""
    diagnostics_every: int = Field(0, ge=0)
    """Not used (no profile diagnostics for item embeddings)."""


class _Towers(nn.Module):
    """The recommender: a user tower and an item tower over warm-space vectors, scored by a dot product."""

    def __init__(self, dim: int, hidden: list[int], dropout: float) -> None:
        super().__init__()
        self.user = _tower(dim, hidden, dropout)
        self.item = _tower(dim, hidden, dropout)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.user(users) * self.item(items)).sum(1)


def _tower(dim: int, hidden: list[int], dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Dropout(dropout), mlp([dim, *hidden, dim], "tanh"))


class ItemGAN(GANRecommender):
    """Cold items scored from content mapped into a warm model's space by an adversarial generator.

    TOML::

        [[models]]
        name = "itemgan"
        warm_params = {factors = 128, epochs = 65, lr = 0.005, l2 = 0.005}
        text = true
    """

    name = "itemgan"
    config_class = ItemGANConfig
    capabilities = frozenset({"side_features"})
    config: ItemGANConfig

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space: learning rates, the similarity weight, the negative share, dropout."""
        return {
            "lr": t.suggest_float("lr", 1e-4, 1e-2, log=True),
            "lr_d": t.suggest_float("lr_d", 1e-4, 1e-2, log=True),
            "alpha": t.suggest_float("alpha", 0.5, 0.99),
            "beta": t.suggest_float("beta", 0.1, 0.9),
            "dropout": t.suggest_float("dropout", 0.0, 0.5),
        }

    def _fit(self, train: Interactions, valid: Interactions | None, *, show_progress: bool,
             callbacks: Sequence[Callback]) -> None:
        c = self.config
        content, _ = item_content(train, c.text)  # first: data without content fail before the warm fit
        self.content_ = torch.from_numpy(content)
        u, v, warm = warm_embeddings(c.warm, c.warm_params, c.seed, train, show_progress)
        with torch.no_grad():  # the warm model's item bias (if any) is its score for a zero user vector
            bias = warm.score_embeddings(torch.zeros((1, u.shape[1])), v)[0].float()
        self.user_emb_ = torch.cat([u, torch.ones((len(u), 1))], dim=1)
        self.item_emb_ = torch.cat([v, bias[:, None]], dim=1)
        self.calibration_ = torch.tensor([1.0, 0.0])
        super()._fit(train, valid, show_progress=show_progress, callbacks=callbacks)
        if c.calibrate:
            self.calibration_ = self._calibration(train)

    def _calibration(self, train: Interactions) -> torch.Tensor:
        """``(scale, shift)`` minimising ``sum (scale * s_gen + shift - s_real)^2`` over every training
        pair and as many random (user, warm item) pairs; the scale is kept at least 1e-3."""
        g = torch.Generator().manual_seed(self.config.seed)
        users = torch.from_numpy(train.users.astype(np.int64))
        items = torch.from_numpy(train.items.astype(np.int64))
        users = torch.cat([users, users[torch.randperm(len(users), generator=g)]])
        items = torch.cat([items, self._warm_index[torch.randint(len(self._warm_index), (len(items),), generator=g)]])
        self.g_net.eval()
        with torch.no_grad():  # in chunks of pairs: memory stays near 65536 x (d + content) floats
            parts = [((self.user_emb_[u] * self.g_net(self.content_[i])).sum(1),
                      (self.user_emb_[u] * self.item_emb_[i]).sum(1))
                     for u, i in zip(users.split(65536), items.split(65536))]
        gen = torch.cat([p[0] for p in parts]).double()
        real = torch.cat([p[1] for p in parts]).double()
        design = torch.stack([gen, torch.ones_like(gen)], dim=1)
        scale, shift = torch.linalg.lstsq(design, real[:, None]).solution[:, 0].tolist()
        if scale < 1e-3:  # generated scores carry no usable order: keep it, only shift
            scale, shift = 1e-3, float((real - 1e-3 * gen).mean())
        return torch.tensor([scale, shift])

    def _networks(self) -> None:
        c = self.config
        d = self.item_emb_.shape[1]
        self.g_net = nn.Sequential(mlp([self.content_.shape[1], *c.g_hidden, d], "tanh"))
        self.d_net = _Towers(d, c.d_hidden, c.dropout) if c.adversarial else None

    def _build(self, train: Interactions) -> None:
        self._networks()
        self._pairs = torch.from_numpy(np.stack([train.users, train.items], axis=1).astype(np.int64))
        self.warm_items_ = torch.from_numpy(train.item_counts() > 0)
        self._warm_index = torch.from_numpy(np.flatnonzero(train.item_counts() > 0))

    # ------------------------------------------------------------- the game
    def _batches(self, size: int, generator: torch.Generator) -> list[torch.Tensor]:
        order = torch.randperm(len(self._pairs), generator=generator)
        negatives = self._warm_index[torch.randint(len(self._warm_index), (len(self._pairs), 1), generator=generator)]
        return list(torch.cat([self._pairs[order], negatives], dim=1).split(size))

    def d_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        return self._batches(self.config.batch_size_d, generator)

    def g_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        return self._batches(self.config.batch_size, generator)

    def _generated(self, items: torch.Tensor) -> torch.Tensor:
        return self.g_net(F.dropout(self.content_[items], self.config.dropout, self.g_net.training))

    def d_loss(self, batch: torch.Tensor, generator: torch.Generator) -> DOut:
        assert self.d_net is not None
        u, i, j = self.user_emb_[batch[:, 0]], self.item_emb_[batch[:, 1]], self.item_emb_[batch[:, 2]]
        real, neg = self.d_net(u, i), self.d_net(u, j)
        fake = self.d_net(u, self._generated(batch[:, 1]))
        margin = real - (1.0 - self.config.beta) * fake - self.config.beta * neg
        return DOut(F.softplus(-margin).mean(), real, fake)

    def g_loss(self, batch: torch.Tensor, generator: torch.Generator) -> GOut:
        c = self.config
        gen = self._generated(batch[:, 1])
        sim = (gen - self.item_emb_[batch[:, 1]]).abs().mean()
        if self.d_net is None:
            return GOut(sim, len(batch), {"g_sim": sim})
        u = self.user_emb_[batch[:, 0]]
        adv = F.softplus(self.d_net(u, self.item_emb_[batch[:, 1]]) - self.d_net(u, gen)).mean()
        return GOut((1.0 - c.alpha) * adv + c.alpha * sim, len(batch), {"g_sim": sim, "g_adv": adv})

    # -------------------------------------------------------------- scoring
    def item_vectors(self) -> torch.Tensor:
        """Warm-space vectors of every item: their own for items with training interactions, generated
        from content for the others."""
        self.g_net.eval()
        out = self.item_emb_.clone()
        cold = ~self.warm_items_
        if cold.any():
            gen = self.g_net(self.content_[cold]) * self.calibration_[0]
            gen[:, -1] += self.calibration_[1]  # the users' constant 1 coordinate: a shift of every score
            out[cold] = gen
        return out

    def _score(self, users: np.ndarray) -> torch.Tensor:
        return self.user_emb_[torch.from_numpy(users)] @ self.item_vectors().T

    def _state(self) -> dict[str, torch.Tensor]:
        return {"user_emb": self.user_emb_, "item_emb": self.item_emb_, "content": self.content_,
                "warm_items": self.warm_items_, "calibration": self.calibration_, **{k: v.detach() for k, v in self.train_tensors().items()}}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.user_emb_, self.item_emb_, self.content_ = state["user_emb"], state["item_emb"], state["content"]
        self.warm_items_ = state["warm_items"].to(torch.bool)
        self.calibration_ = state.get("calibration", torch.tensor([1.0, 0.0])).float()  # none before calibrate
        self._networks()
        self.g_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("g.")}, strict=True)
        if self.d_net is not None:
            self.d_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("d.")}, strict=True)
            self.d_net.eval()
        self.g_net.eval()
