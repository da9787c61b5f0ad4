"""Mult-VAE: a variational autoencoder of user rows with a multinomial likelihood."""

from __future__ import annotations

from itertools import pairwise
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field, field_validator
from torch import nn

from advrec.data.interactions import Interactions
from advrec.models.adversary import (
    AdversarySchedule,
    AttributeAdversary,
    AttributeAdversaryFields,
    adversary_active,
    make_adversary,
    restart_optimizers,
    total_epochs,
)
from advrec.models.foldin import binary_rows, map_row_chunks
from advrec.models.multvae_dp import build_dp, dp_epoch
from advrec.models.torch_base import EARLY_STOPPING, TorchConfig, TorchRecommender, batch_weight, make_optimizer
from advrec.train.dp import DPSGD, DPFields

if TYPE_CHECKING:
    import optuna


class MultVAEConfig(TorchConfig, AttributeAdversaryFields, DPFields):
    """Hyper-parameters of :class:`MultVAE` (defaults of the paper; adversarial removal of attributes
    from the encoder mean: :class:`~advrec.models.adversary.AttributeAdversaryFields`)."""

    dims: list[int] = Field(default_factory=lambda: [600, 200])
    """Hidden layer sizes of the encoder, the last one being the latent size."""
    dropout: float = Field(0.5, ge=0, lt=1)
    """Dropout rate on the normalised input row."""
    total_anneal_steps: int = Field(200_000, ge=0)
    """Updates over which the KL weight grows linearly from 0 (0: constant ``anneal_cap``)."""
    anneal_cap: float = Field(0.2, ge=0)
    """Largest KL weight (beta)."""
    l2: float = Field(0.0, ge=0)
    """L2 penalty of the optimiser on all weights."""
    batch_size: int = Field(500, ge=1)
    """Users per step."""
    epochs: int = Field(200, ge=1)
    """Maximum number of epochs."""

    @field_validator("dims")
    @classmethod
    def _dims_ok(cls, v: list[int]) -> list[int]:
        if not v or min(v) < 1:
            raise ValueError("dims must be a non-empty list of positive layer sizes")
        return v


class SparseRows(NamedTuple):
    """A batch of user rows in CSR form: ``items``, ``values`` per entry, bag ``offsets``."""

    items: torch.Tensor
    values: torch.Tensor
    offsets: torch.Tensor
    row_of: torch.Tensor


class _VAE(nn.Module):
    """Encoder and decoder; the first encoder layer reads sparse rows via ``embedding_bag``."""

    def __init__(self, n_items: int, dims: list[int]) -> None:
        super().__init__()
        self.latent = dims[-1]
        enc = [n_items, *dims[:-1], 2 * dims[-1]]
        # first layer as one row per item: a user row times it is a weighted bag of rows
        self.item_in = nn.Parameter(nn.init.xavier_uniform_(torch.empty(n_items, enc[1])))
        self.bias_in = nn.Parameter(nn.init.normal_(torch.empty(enc[1]), std=0.001))
        self.hidden_act = len(enc) > 2
        self.encoder = _mlp(enc[1:])
        self.decoder = _mlp([dims[-1], *reversed(dims[:-1]), n_items])

    def encode(self, rows: SparseRows) -> tuple[torch.Tensor, torch.Tensor]:
        h = F.embedding_bag(rows.items, self.item_in, rows.offsets, mode="sum",
                            per_sample_weights=rows.values) + self.bias_in
        out = self.encoder(torch.tanh(h)) if self.hidden_act else h
        return out[:, : self.latent], out[:, self.latent:]


def _mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for k, (a, b) in enumerate(pairwise(sizes)):
        lin = nn.Linear(a, b)
        nn.init.xavier_uniform_(lin.weight)
        nn.init.normal_(lin.bias, std=0.001)
        layers.append(lin)
        if k < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class MultVAE(AdversarySchedule, TorchRecommender):
    """Mult-VAE (Liang et al., "Variational Autoencoders for Collaborative
    Filtering", WWW 2018).

    Encodes a user's L2-normalised, dropped-out binary item row into a Gaussian
    ``q(z|x) = N(mu, diag(sigma^2))`` and decodes ``z`` into a softmax over items.
    Training maximises the annealed evidence lower bound per user::

        sum_i x_i log softmax(f(z))_i - beta * KL(q(z|x) || N(0, I))

    where ``beta = min(anneal_cap, updates / total_anneal_steps)``. A user is scored
    by decoding the encoder mean of their training row (no dropout, no sampling),
    so a loaded model needs only the weights and the saved training matrix.

    TOML::

        [[models]]
        name = "multvae"
        dims = [600, 200]
        dropout = 0.5
        total_anneal_steps = 200000
        anneal_cap = 0.2
        lr = 0.001
        batch_size = 500
        epochs = 200
    """

    name = "multvae"
    supports_device = True
    config_class = MultVAEConfig
    capabilities = frozenset({"differentiable", "fold_in", "encoder"})
    config: MultVAEConfig

    #: fixed early-stopping settings of tuning (the tuned epochs is where it stops)
    tuning_settings: ClassVar[dict[str, Any]] = dict(EARLY_STOPPING)

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning (the keys are config fields)."""
        return {
            "dropout": t.suggest_float("dropout", 0.0, 0.8),
            "anneal_cap": t.suggest_float("anneal_cap", 0.05, 1.0),
            "total_anneal_steps": t.suggest_categorical("total_anneal_steps", [2000, 20000, 200000]),
            "lr": t.suggest_float("lr", 3e-4, 1e-2, log=True),
        }

    # ------------------------------------------------------------- training
    def _build(self, train: Interactions) -> None:
        self.net = _VAE(self.n_items, self.config.dims).to(self.device)
        self.updates = torch.zeros((), dtype=torch.float64)
        self._train_users = torch.from_numpy(train.active_users())
        self._adversary: AttributeAdversary | None = make_adversary(self, train, self.config.dims[-1])
        self._dp: DPSGD | None = None  # DP-SGD engine, built at the first epoch (after a warm start copied its values)
        self._dp_heads: DPSGD | None = None  # its partner for the adversary heads of an obfuscated fit

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        if c.dp_epsilon is not None:
            return {}  # DP-SGD has its own
        return {"main": make_optimizer(self.net.parameters(), c.optimizer, c.lr, c.l2)}

    def train_tensors(self) -> dict[str, torch.Tensor]:
        out: dict[str, torch.Tensor] = dict(self.net.named_parameters())
        out["updates"] = self.updates
        return out

    def _rows(self, users: torch.Tensor) -> SparseRows:
        """The users' L2-normalised binary training rows."""
        assert self._seen is not None
        return self._csr_rows(self._seen[users.numpy()])

    def _csr_rows(self, sub: sp.csr_matrix) -> SparseRows:
        """L2-normalised 0/1 rows of a CSR matrix (the encoder's input)."""
        deg = np.diff(sub.indptr)
        row_of = np.repeat(np.arange(sub.shape[0]), deg)
        values = (1.0 / np.sqrt(np.maximum(deg, 1))).astype(np.float32)[row_of]
        dev = self.device
        return SparseRows(
            torch.from_numpy(sub.indices.astype(np.int64)).to(dev),
            torch.from_numpy(values).to(dev),
            torch.from_numpy(sub.indptr[:-1].astype(np.int64)).to(dev),
            torch.from_numpy(row_of).to(dev),
        )

    def beta(self) -> float:
        """The KL weight of the next update."""
        c = self.config
        if c.total_anneal_steps == 0:
            return c.anneal_cap
        return min(c.anneal_cap, float(self.updates) / c.total_anneal_steps)

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        if c.dp_epsilon is not None:
            if self._dp is None:
                self._dp = build_dp(self, total_epochs(c))
            self.net.train()
            return dp_epoch(self, epoch, generator)
        restart_optimizers(self, epoch)
        opt = self._optimizers["main"]
        order = self._train_users[torch.randperm(len(self._train_users), generator=generator)]
        totals = {"loss": 0.0, "nll": 0.0, "kl": 0.0, "adv_head_loss": 0.0}
        hide = adversary_active(self._adversary, c, epoch)
        self.net.train()
        for start in range(0, len(order), c.batch_size):
            batch = order[start:start + c.batch_size]
            rows = self._rows(batch)
            if c.dropout > 0:  # dropout of the zeros of a row changes nothing: drop entries only
                keep = (torch.rand(len(rows.items), generator=generator) >= c.dropout).to(self.device)
                rows = rows._replace(values=rows.values * keep / (1.0 - c.dropout))
            mu, logvar = self.net.encode(rows)
            eps = torch.randn(mu.shape, generator=generator).to(self.device)
            z = mu + eps * torch.exp(0.5 * logvar)
            logp = F.log_softmax(self.net.decoder(z), dim=1)
            n = len(batch)
            nll = -logp[rows.row_of, rows.items].sum() / n
            kl = (0.5 * (logvar.exp() + mu.square() - 1.0 - logvar)).sum(1).mean()
            beta = self.beta()
            loss = nll + beta * kl
            objective = loss
            if hide:  # heads on the encoder means of every user with a value, then the confusion term
                assert self._adversary is not None
                users = self._adversary.users
                means = self.net.encode(self._rows(users.cpu()))[0]  # no dropout: the means that score
                totals["adv_head_loss"] += self._adversary.update(means, users) * n
                objective = loss + self._adversary.confusion(means, users)
            opt.zero_grad(set_to_none=False)
            (objective * batch_weight(n, c.batch_size)).backward()
            opt.step()
            self.updates += 1
            for key, val in (("loss", loss), ("nll", nll), ("kl", kl)):
                totals[key] += val.item() * n
        seen = max(len(order), 1)
        if not hide:
            del totals["adv_head_loss"]
        return {**{k: v / seen for k, v in totals.items()}, "beta": self.beta()}

    # -------------------------------------------------------------- scoring
    def _score(self, users: np.ndarray) -> torch.Tensor:
        return self.net.decoder(self._encode_users(users))

    def _encode_users(self, users: np.ndarray) -> torch.Tensor:
        """The encoder means of the users' training rows (what :meth:`_score` decodes)."""
        self.net.eval()
        return self.net.encode(self._rows(torch.from_numpy(users)))[0]

    def _score_grad(self, users: np.ndarray) -> torch.Tensor:
        return self._score(users)  # the same decoding; the caller keeps autograd on

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        """The encoder mean of each new row decoded, as :meth:`_score` does for a training row."""
        self.net.eval()
        return map_row_chunks(binary_rows(history), lambda rows: self.net.decoder(self.net.encode(
            self._csr_rows(rows))[0]), self.n_items)

    def _state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.net.state_dict().items()}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.net = _VAE(self.n_items, self.config.dims)
        self.net.load_state_dict(state, strict=True)
        self.net.eval()
