"""IRGAN for item recommendation (Wang et al., SIGIR 2017): a policy-gradient generator
of items against a pointwise discriminator, both matrix factorisations."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from advrec.data.interactions import Interactions
from advrec.errors import DataError
from advrec.gan.diagnostics import profile_diagnostics, sample_rows
from advrec.gan.trainer import DOut, GOut
from advrec.models.config import Renamed
from advrec.models.foldin import fold_in_scores
from advrec.models.gan_base import GANConfig, GANRecommender
from advrec.models.sampling import NegativeSampler
from advrec.models.torch_base import make_optimizer

if TYPE_CHECKING:
    import optuna


class IRGANConfig(GANConfig):
    """Hyper-parameters of :class:`IRGAN`.

    Defaults follow the authors' ML-100K code (``item_recommendation/cf_gan.py``
    of github.com/geek-ai/irgan: 5 factors, uniform init +-0.05, temperature 0.2,
    importance-sampling mixture 0.2, DNS with 5 candidates) except where
    docs/models/irgan.md lists a deviation (Adam instead of SGD, mean instead of
    summed losses, pre-training on the
    training data only).
    """

    renamed: ClassVar[Renamed] = {"reg_g": "l2", "reg_d": "l2_d", "init_scale": ("init_std", lambda a: a / math.sqrt(3.0))}

    factors: int = Field(5, ge=1)
    """Embedding size of both networks. Code: EMB_DIM = 5."""
    init_std: float = Field(0.05 / math.sqrt(3.0), gt=0)
    """Standard deviation of the initial embeddings, drawn uniform on ``[-a, a]`` with
    ``a = sqrt(3) * init_std``. Code: INIT_DELTA = 0.05 (a = 0.05, the default)."""
    temperature: float = Field(0.2, gt=0)
    """tau of the generator's softmax p(i|u) = softmax(g(u, .) / tau). Code: 0.2."""
    sample_lambda: float = Field(0.2, ge=0, lt=1)
    """Mixture weight of the user's positives in the importance-sampling proposal. Code: 0.2."""
    samples_per_positive: int = Field(2, ge=1)
    """Generator samples per training positive of the user in a policy-gradient step. Code: 2."""
    lr_pretrain: float = Field(1e-2, gt=0)
    """Generator learning rate (Adam) during DNS pre-training (and all epochs without the game)."""
    pretrain_epochs: int = Field(20, ge=0)
    """First epochs: DNS-BPR training of the generator on the training data only; the
    discriminator then starts as a copy of it. Code: loads a DNS model (trained elsewhere)."""
    dns_k: int = Field(5, ge=1)
    """Candidates per dynamic negative sample (the highest-scored one is used). Code: DNS_K = 5."""
    adversarial: bool = True
    """False: every epoch is DNS training (the authors' DNS baseline; the ablation)."""
    score_with: Literal["g", "d"] = "g"
    """Network that ranks items for recommendation (the paper reports the generator)."""
    diag_rows: int = Field(500, ge=2)
    """Users (a fixed seeded sample) on which the diagnostics are computed (IRGAN's default: 500)."""
    epochs: int = Field(60, ge=1)
    """Pre-training epochs plus adversarial rounds."""
    batch_size: int = Field(64, ge=1)
    """Users per policy-gradient step."""
    batch_size_d: int = Field(256, ge=1)
    """(user, positive, negative) triples per discriminator or DNS step."""
    lr: float = Field(1e-4, gt=0)
    """Generator learning rate (Adam) in the adversarial epochs."""
    lr_d: float = Field(1e-3, gt=0)
    """Discriminator learning rate (Adam)."""
    l2: float = Field(1e-4, ge=0)
    """L2 weight on the generator rows of each batch (users, items and biases used)."""
    l2_d: float = Field(1e-4, ge=0)
    """L2 weight on the discriminator rows of each batch."""


class MF(nn.Module):
    """Dot-product matrix factorisation with item biases: ``s(u, i) = p_u . q_i + b_i``."""

    def __init__(self, n_users: int, n_items: int, factors: int, std: float) -> None:
        super().__init__()
        scale = std * math.sqrt(3.0)  # uniform on [-scale, scale] has this std
        self.user = nn.Parameter(torch.empty(n_users, factors).uniform_(-scale, scale))
        self.item = nn.Parameter(torch.empty(n_items, factors).uniform_(-scale, scale))
        self.bias = nn.Parameter(torch.zeros(n_items))

    def l2(self, u: torch.Tensor, *items: torch.Tensor) -> torch.Tensor:
        """Mean over the batch rows of the squared norms of the rows' user and item parameters."""
        out = self.user[u].square().sum(-1).mean()
        for i in items:
            out = out + (self.item[i].square().sum(-1) + self.bias[i].square()).mean()
        return out

    def pair(self, u: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
        """Scores of aligned (or broadcast ``(B, 1)`` x ``(B, m)``) user and item indices."""
        return (self.user[u] * self.item[i]).sum(-1) + self.bias[i]

    def all_items(self, u: torch.Tensor) -> torch.Tensor:
        """``(len(u), n_items)`` scores."""
        return self.user[u] @ self.item.T + self.bias


class IRGAN(GANRecommender):
    """IRGAN (Wang et al., "IRGAN: A Minimax Game for Unifying Generative and
    Discriminative Information Retrieval Models", SIGIR 2017), item recommendation.

    The generator ``G`` is a softmax policy ``p(i|u) = softmax(g(u, .) / tau)`` over all
    items; the discriminator ``D(u, i) = sigmoid(f(u, i))`` tells the user's training
    positives from items drawn from ``G``. Both ``g`` and ``f`` are :class:`MF`.

    * D step: binary cross-entropy (the configured GAN loss) of positives against one
      ``G`` sample per positive, drawn at the start of each adversarial epoch.
    * G step (REINFORCE): per user ``2 |pos_u|`` items are drawn from the proposal
      ``(1 - lambda) p(.|u) + lambda * Uniform(pos_u)`` and weighted by the reward
      ``2 sigmoid(f(u, i)) - 1`` times the importance weight ``p(i|u) / proposal(i)``;
      the loss is ``-mean(weight * reward * log p(i|u))``.
    * The first ``pretrain_epochs`` epochs pre-train ``G`` by BPR with dynamic negative
      sampling (DNS) on the training data the model is fit on, never on test data;
      ``D`` then starts as a copy of ``G``. ``adversarial=false`` keeps training DNS.

    Recommendations rank items by ``G``'s scores (``score_with="d"``: by ``D``'s).
    """

    name = "irgan"
    config_class = IRGANConfig
    capabilities = frozenset({"embeddings", "differentiable", "fold_in"})
    config: IRGANConfig

    #: fixed early-stopping settings of tuning (the tuned epochs is where it stops)
    tuning_settings: ClassVar[dict[str, Any]] = {"epochs": 150, "eval_every": 5, "patience": 4}

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning (the keys are config fields)."""
        return {
            "factors": t.suggest_categorical("factors", [5, 16, 32, 64]),
            "pretrain_epochs": t.suggest_int("pretrain_epochs", 5, 40, step=5),
            "lr_pretrain": t.suggest_float("lr_pretrain", 1e-3, 3e-2, log=True),
            "lr": t.suggest_float("lr", 1e-5, 1e-3, log=True),
            "lr_d": t.suggest_float("lr_d", 1e-4, 1e-2, log=True),
            "l2": t.suggest_float("l2", 1e-4, 1e-1, log=True),
            "l2_d": t.suggest_float("l2_d", 1e-4, 1e-1, log=True),
            "temperature": t.suggest_float("temperature", 0.1, 1.0, log=True),
        }

    # ------------------------------------------------------------- training
    def _build(self, train: Interactions) -> None:
        c = self.config
        self.g_net = MF(self.n_users, self.n_items, c.factors, c.init_std)
        self.d_net = MF(self.n_users, self.n_items, c.factors, c.init_std)
        self._sampler = NegativeSampler(train.binary_csr)
        csr = train.binary_csr
        self._deg = torch.from_numpy(np.diff(csr.indptr).astype(np.int64))
        self._users = torch.from_numpy(np.flatnonzero(np.diff(csr.indptr) > 0).astype(np.int64))
        self._d_triples: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None
        diag = sample_rows(len(self._users), c.diag_rows, torch.Generator().manual_seed(c.seed))
        self._diag_users = self._users[diag].numpy()
        self._diag_real = torch.from_numpy(csr[self._diag_users].toarray() > 0)

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        pretraining = epoch <= c.pretrain_epochs or not c.adversarial
        for group in self._optimizers["g"].param_groups:
            group["lr"] = c.lr_pretrain if pretraining else c.lr
        if pretraining:
            logs = self._dns_epoch(generator)
            if epoch == c.pretrain_epochs and c.adversarial:
                self.d_net.load_state_dict(self.g_net.state_dict())
            self.weights_changed()
            return {**logs, "adversarial": 0.0}
        return {**super().train_epoch(epoch, generator), "adversarial": 1.0}

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config  # the L2 terms are in the losses (per batch), not weight decay
        return {"g": make_optimizer(self.g_net.parameters(), c.optimizer, c.lr),
                "d": make_optimizer(self.d_net.parameters(), c.optimizer, c.lr_d)}

    def _min_epochs(self) -> int:
        c = self.config
        return c.pretrain_epochs + c.eval_every if c.adversarial else 0

    def _dns_epoch(self, generator: torch.Generator) -> dict[str, float]:
        """One pass of BPR over the training pairs with dynamic negative sampling on ``G``."""
        c = self.config
        opt = self._optimizers["g"]
        users, pos, _ = self._sampler.epoch_triples(generator)
        total = 0.0
        self.g_net.train()
        for s in range(0, len(users), c.batch_size_d):
            u, i = users[s:s + c.batch_size_d], pos[s:s + c.batch_size_d]
            cand = self._sampler.sample(u.repeat_interleave(c.dns_k), generator).view(-1, c.dns_k)
            with torch.no_grad():
                best = self.g_net.pair(u[:, None], cand).argmax(1)
            j = cand.gather(1, best[:, None]).squeeze(1)
            loss = F.softplus(self.g_net.pair(u, j) - self.g_net.pair(u, i)).mean() + c.l2 * self.g_net.l2(u, i, j)
            opt.zero_grad(set_to_none=False)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(u)
        return {"loss": total / max(len(users), 1), "dns_loss": total / max(len(users), 1)}

    def _policy(self, users: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``log p(.|u)`` of the generator (with grad)."""
        return F.log_softmax(self.g_net.all_items(users) / self.config.temperature, dim=1)

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        """Draw one generator item per training positive for this epoch's D steps."""
        users = self._sampler.pair_users
        negs = torch.empty_like(users)
        starts = self._sampler.indptr
        with torch.no_grad():
            for chunk in torch.split(self._users, 1024):
                p = self._policy(chunk).exp()
                counts = self._deg[chunk]
                draw = torch.multinomial(p, int(counts.max()), replacement=True, generator=generator)
                keep = torch.arange(draw.shape[1])[None, :] < counts[:, None]
                lo, hi = int(starts[chunk[0]]), int(starts[chunk[-1] + 1])
                negs[lo:hi] = draw[keep]  # row-major order = the sampler's user-major pair order
        order = torch.randperm(len(users), generator=generator)
        self._d_triples = (users[order], self._sampler.pair_items[order], negs[order])

    def d_batches(self, generator: torch.Generator) -> Iterator[tuple[torch.Tensor, ...]]:
        assert self._d_triples is not None
        u, i, j = self._d_triples
        bs = self.config.batch_size_d
        for s in range(0, len(u), bs):
            yield u[s:s + bs], i[s:s + bs], j[s:s + bs]

    def d_loss(self, batch: tuple[torch.Tensor, ...], generator: torch.Generator) -> DOut:
        u, i, j = batch
        real, fake = self.d_net.pair(u, i), self.d_net.pair(u, j)
        loss = self.gan_objective().d_loss(real, fake) + self.config.l2_d * self.d_net.l2(u, i, j)
        return DOut(loss, real.detach(), fake.detach())

    def g_batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        order = self._users[torch.randperm(len(self._users), generator=generator)]
        yield from torch.split(order, self.config.batch_size)

    def proposal(self, users: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
        """Importance-sampling proposal ``(1 - lambda) p + lambda * Uniform(pos_u)`` per row."""
        rows = self._seen[users.numpy()]
        positives = torch.zeros_like(p)
        r = torch.from_numpy(np.repeat(np.arange(len(users)), np.diff(rows.indptr)))
        positives[r, torch.from_numpy(rows.indices.astype(np.int64))] = 1.0
        lam = self.config.sample_lambda
        return (1 - lam) * p + lam * positives / self._deg[users, None]

    def g_loss(self, users: torch.Tensor, generator: torch.Generator) -> GOut:
        c = self.config
        logp = self._policy(users)
        counts = self._deg[users] * c.samples_per_positive
        with torch.no_grad():
            p = logp.exp()
            proposal = self.proposal(users, p)
            draw = torch.multinomial(proposal, int(counts.max()), replacement=True, generator=generator)
            keep = torch.arange(draw.shape[1])[None, :] < counts[:, None]
            reward = 2.0 * torch.sigmoid(self.d_net.pair(users[:, None], draw)) - 1.0
            weight = reward * p.gather(1, draw) / proposal.gather(1, draw)
        loss = -(weight * logp.gather(1, draw))[keep].mean() + c.l2 * self.g_net.l2(users)
        return GOut(loss, len(users), {"reward": reward[keep].mean()})

    def diagnostics(self, epoch: int) -> dict[str, float]:
        gen = self.g_net.all_items(torch.from_numpy(self._diag_users))
        return profile_diagnostics(self._diag_real, gen, self.config.diag_k)

    # -------------------------------------------------------------- scoring
    def _net(self) -> MF:
        return self.g_net if self.config.score_with == "g" else self.d_net

    def _score(self, users: np.ndarray) -> torch.Tensor:
        return self._net().all_items(torch.from_numpy(users))

    def _score_grad(self, users: np.ndarray) -> torch.Tensor:
        return self._net().all_items(torch.from_numpy(users))

    def _embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """User and item factors of the scoring network (the generator unless ``score_with="d"``)."""
        net = self._net()
        return net.user, net.item

    def _score_embeddings(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        bias = self._net().bias.detach()
        if len(item_vectors) != len(bias):
            raise DataError(f"irgan: score_embeddings needs all {len(bias)} item vectors (the item bias is "
                            f"per item), got {len(item_vectors)}")
        return user_vectors @ item_vectors.T + bias

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        """Scores of user vectors solved for the scoring network's items and biases under its
        own BPR loss and L2 (``l2``, or ``l2_d`` with ``score_with="d"``)."""
        net, c = self._net(), self.config
        l2 = c.l2 if c.score_with == "g" else c.l2_d
        return fold_in_scores(history, net.item.detach(), net.bias.detach(), l2)

    def _state(self) -> dict[str, torch.Tensor]:
        return {f"g.{k}": v.detach() for k, v in self.g_net.state_dict().items()} | {
            f"d.{k}": v.detach() for k, v in self.d_net.state_dict().items()}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        c = self.config
        self.g_net = MF(self.n_users, self.n_items, c.factors, c.init_std)
        self.d_net = MF(self.n_users, self.n_items, c.factors, c.init_std)
        self.g_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("g.")})
        self.d_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("d.")})
