"""UserGAN: a conditional generator of user interaction vectors for cold and sparse users.

The generator reads what is known of a user when they arrive (their encoded demographics and the
few items they revealed) and writes their whole interaction vector; a discriminator judges
(condition, vector) pairs against real warm users, CFGAN-style. Training simulates arrival on
warm users: each epoch every training user reveals ``R`` of their interactions (``R`` drawn from
``reveal``; the earliest ones by time, as a cold-user split reveals them) and the generator must
produce the rest. See docs/models/usergan.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field, field_validator
from torch import nn

from advrec.data.interactions import Interactions
from advrec.errors import DataError
from advrec.gan.diagnostics import mean_pairwise_distance, profile_diagnostics, sample_rows
from advrec.gan.trainer import DOut, GOut
from advrec.models.arrival import Arrival, new_user_features, user_feature_matrix
from advrec.models.cfgan.masks import draw_row_seeds, sample_unobserved
from advrec.models.cfgan.networks import densify, mlp
from advrec.models.foldin import binary_rows, row_chunks
from advrec.models.gan_base import GANConfig, GANRecommender

if TYPE_CHECKING:
    import optuna


class UserGANConfig(GANConfig):
    """Hyper-parameters of :class:`UserGAN`."""

    reveal: list[int] = Field(default_factory=lambda: [0, 1, 3, 5])
    """Numbers of interactions a simulated new user reveals; each epoch draws one per training
    user (a user with ``n`` interactions reveals at most ``n - 1``)."""
    reveal_by: Literal["time", "random"] = "time"
    """Which interactions are revealed: the earliest (``"time"``, as cold-user splits reveal them)
    or a fresh random choice every epoch (``"random"``, and ``"time"`` on data without timestamps)."""
    g_hidden: list[int] = Field(default_factory=lambda: [400])
    """Generator hidden layers."""
    d_hidden: list[int] = Field(default_factory=lambda: [125])
    """Discriminator hidden layers."""
    activation: Literal["sigmoid", "tanh", "relu"] = "tanh"
    """Hidden activation of both networks."""
    zr_ratio: float = Field(0.7, ge=0, le=1)
    """Fraction of a user's non-interacted items pushed toward 0 (zero reconstruction) each epoch."""
    pm_ratio: float = Field(0.7, ge=0, le=1)
    """Fraction of a user's non-interacted items the discriminator sees in a generated vector
    (partial masking); the rest are hidden from it, as CFGAN does."""
    alpha: float = Field(0.1, ge=0)
    """Weight of the zero-reconstruction term."""
    adversarial: bool = True
    """False: no discriminator; the generator minimises the masked reconstruction alone (the
    ablation: the same network and data, without the adversarial term)."""
    adv_weight: float = Field(0.1, ge=0)
    """Weight of the adversarial term in the generator's loss, beside the masked reconstruction."""
    batch_size: int = Field(64, ge=1)
    """Users per generator step."""
    batch_size_d: int = Field(64, ge=1)
    """Users per discriminator step."""
    lr: float = Field(1e-3, gt=0)
    """Generator learning rate."""
    lr_d: float = Field(1e-3, gt=0)
    """Discriminator learning rate."""
    epochs: int = Field(100, ge=1)
    """Passes over the training users."""

    @field_validator("reveal")
    @classmethod
    def _reveal_ok(cls, v: list[int]) -> list[int]:
        if not v or min(v) < 0:
            raise ValueError("reveal must be a non-empty list of non-negative counts, e.g. [0, 1, 3, 5]")
        return v

    @field_validator("g_hidden", "d_hidden")
    @classmethod
    def _layers_ok(cls, v: list[int]) -> list[int]:
        if min(v, default=1) < 1:
            raise ValueError("hidden layer sizes must be positive")
        return v


class _Generator(nn.Module):
    """``G(c)``: condition (features, revealed items) -> a vector over items in (0, 1)."""

    def __init__(self, d_cond: int, n_items: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        self.net = mlp([d_cond, *hidden, n_items], activation)

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(condition))


class _Discriminator(nn.Module):
    """``D(x | c)``: a logit for a (vector, condition) pair."""

    def __init__(self, d_cond: int, n_items: int, hidden: list[int], activation: str) -> None:
        super().__init__()
        self.net = mlp([d_cond + n_items, *hidden, 1], activation)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([condition, x], dim=1)).squeeze(1)


class UserGAN(GANRecommender):
    """A conditional GAN of user behaviour: demographics + revealed items -> the interaction vector.

    ``fold_in(history, user_features)`` generates the vectors of new users from what they revealed
    and their encoded demographics (both optional: with neither it scores like a learned popularity);
    ``score`` of a training user conditions on their whole training row. The generator is trained
    on warm users made to look like arriving ones (``reveal``); the discriminator, on the user's
    condition and a vector (the real one, or the generated one masked to the real items plus a
    ``pm_ratio`` sample of the others), learns to tell them apart. ``adversarial=false`` trains the
    same generator on the masked squared error instead (the ablation).

    TOML::

        [[models]]
        name = "usergan"
        reveal = [0, 1, 3, 5]
        adversarial = true
    """

    name = "usergan"
    config_class = UserGANConfig
    capabilities = frozenset({"side_features", "fold_in"})
    config: UserGANConfig

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space: learning rates, width, the ZR weight, both sampling ratios and the
        weight of the adversarial term (unused by the ablation)."""
        return {
            "lr": t.suggest_float("lr", 1e-4, 1e-2, log=True),
            "lr_d": t.suggest_float("lr_d", 1e-4, 1e-2, log=True),
            "g_hidden": [t.suggest_categorical("g_width", [200, 400, 800])],
            "alpha": t.suggest_float("alpha", 0.01, 1.0, log=True),
            "zr_ratio": t.suggest_float("zr_ratio", 0.1, 0.9),
            "pm_ratio": t.suggest_float("pm_ratio", 0.1, 0.9),
            "adv_weight": t.suggest_float("adv_weight", 0.01, 1.0, log=True),
        }

    # ------------------------------------------------------------- building
    def _networks(self, d_feat: int) -> None:
        c = self.config
        d_cond = d_feat + self.n_items
        self.g_net = _Generator(d_cond, self.n_items, c.g_hidden, c.activation).to(self.device)
        self.d_net = (_Discriminator(d_cond, self.n_items, c.d_hidden, c.activation).to(self.device)
                      if c.adversarial else None)

    def _build(self, train: Interactions) -> None:
        c = self.config
        self._feat = user_feature_matrix(self)
        self._networks(self._feat.shape[1])
        self._arrival = Arrival(train, c.reveal_by, c.seed)
        counts = self._arrival.counts
        self._train_users = torch.from_numpy(np.flatnonzero(counts > 0))
        if not len(self._train_users):
            raise DataError(f"usergan: the training data {train.name!r} has no interactions")
        assert self._seen is not None
        self._rows = self._seen
        diag = sample_rows(len(self._train_users), c.diag_rows, torch.Generator().manual_seed(c.seed))
        self._diag_users = self._train_users[diag].numpy()
        self._diag_real = densify(self._rows, self._diag_users).to(self.device)
        self._diag_real_pairwise = mean_pairwise_distance(self._diag_real)
        self._epoch_reveal = np.zeros(self.n_users, np.int64)
        self._epoch_seeds: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------- the game
    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Draw this epoch's number of revealed items per user (and their order) and the mask seeds."""
        self._arrival.next_epoch(generator)
        self._epoch_reveal = self._arrival.draw(self.config.reveal, generator)
        for kind in ("zr", "pm"):
            self._epoch_seeds[kind] = draw_row_seeds(self.n_users, generator)

    def _batch(self, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The (condition, real vector) of a batch of training users under this epoch's reveal."""
        u = users.numpy()
        shown = densify(self._arrival.first(u, self._epoch_reveal[u]), np.arange(len(u)))
        cond = torch.cat([self._feat[u], shown], dim=1).to(self.device)
        return cond, densify(self._rows, u).to(self.device)

    def _mask(self, kind: str, real: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        ratio = self.config.zr_ratio if kind == "zr" else self.config.pm_ratio
        return sample_unobserved(real > 0, self._epoch_seeds[kind][users].to(self.device), ratio).to(real.dtype)

    def _batches(self, size: int, generator: torch.Generator) -> list[torch.Tensor]:
        return list(self._train_users[torch.randperm(len(self._train_users), generator=generator)].split(size))

    def d_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        return self._batches(self.config.batch_size_d, generator)

    def g_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        return self._batches(self.config.batch_size, generator)

    def d_loss(self, batch: torch.Tensor, generator: torch.Generator) -> DOut:
        assert self.d_net is not None
        d_net = self.d_net
        cond, real = self._batch(batch)
        fake = self.g_net(cond) * (real + self._mask("pm", real, batch))
        real_logits, fake_logits = d_net(real, cond), d_net(fake, cond)
        gan = self.gan_objective()
        loss = gan.d_loss(real_logits, fake_logits)
        if gan.uses_penalty:
            loss = loss + gan.penalty(lambda x: d_net(x, cond), real, fake, generator)
        return DOut(loss, real_logits, fake_logits)

    def g_loss(self, batch: torch.Tensor, generator: torch.Generator) -> GOut:
        cond, real = self._batch(batch)
        out = self.g_net(cond)
        mask = real + self._mask("pm", real, batch)
        parts = {"g_recon": ((out - real).square() * mask).sum(1).mean(),
                 "g_zr": self.config.alpha * (out.square() * self._mask("zr", real, batch)).sum(1).mean()}
        if self.d_net is not None:
            parts["g_adv"] = self.gan_objective().g_loss(self.d_net(out * mask, cond))
            loss = parts["g_recon"] + parts["g_zr"] + self.config.adv_weight * parts["g_adv"]
        else:
            loss = parts["g_recon"] + parts["g_zr"]
        return GOut(loss, len(batch), parts)

    def diagnostics(self, epoch: int) -> dict[str, float]:
        """Mode-collapse signals of vectors generated for a fixed sample of training users, each
        revealing ``reveal[j % len(reveal)]`` items (the same every epoch)."""
        users = self._diag_users
        r = np.asarray(self.config.reveal, np.int64)[np.arange(len(users)) % len(self.config.reveal)]
        r = np.minimum(r, np.maximum(self._arrival.counts[users] - 1, 0))
        gen = self.generate(self._feat[users], self._arrival.first(users, r))
        return profile_diagnostics(self._diag_real, gen, self.config.diag_k, real_pairwise=self._diag_real_pairwise)

    # -------------------------------------------------------------- scoring
    def generate(self, features: torch.Tensor, known: sp.csr_matrix) -> torch.Tensor:
        """Generated interaction vectors ``(n, n_items)`` from encoded features ``(n, d)`` and the
        known items (``(n, n_items)`` rows, non-zero = interacted), in memory-bounded chunks."""
        self.g_net.eval()
        rows = binary_rows(sp.csr_matrix(known))
        feats = torch.as_tensor(features, dtype=torch.float32)
        parts = [self.g_net(torch.cat([feats[s], densify(rows, np.arange(s.start, s.stop))], dim=1)
                            .to(self.device)).float()
                 for s in row_chunks(rows.shape[0], self.n_items)]
        return torch.cat(parts) if parts else torch.zeros((0, self.n_items))

    def _score(self, users: np.ndarray) -> torch.Tensor:
        assert self._seen is not None
        return self.generate(user_feature_matrix(self)[users], self._seen[users])

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        return self.generate(new_user_features(self, user_features, history.shape[0]), history)

    def _state(self) -> dict[str, torch.Tensor]:
        out = {f"g.{k}": v.detach() for k, v in self.g_net.state_dict().items()}
        if self.d_net is not None:
            out.update({f"d.{k}": v.detach() for k, v in self.d_net.state_dict().items()})
        return out

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self._networks(user_feature_matrix(self).shape[1])
        self.g_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("g.")}, strict=True)
        if self.d_net is not None:
            self.d_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("d.")}, strict=True)
        self.g_net.eval()
