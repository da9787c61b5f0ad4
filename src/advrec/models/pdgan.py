"""PD-GAN-style diversity: a generator samples item sets through a personalised DPP, a discriminator
judges them against real interactions (in the spirit of Wu et al., "PD-GAN: Adversarial Learning for
Personalized Diversity-Promoting Recommendation", IJCAI 2019).

The generator is a matrix factorisation (relevance ``r_ui = p_u . q_i + b_i``, started from a warm
BPR-MF fit). For a user it samples a set of ``set_size`` items from their ``pool`` most relevant
unseen items, one at a time, each with probability proportional to its gain in the log determinant
of the kernel ``L = Diag(exp(alpha r)) S Diag(exp(alpha r))`` (``S``: item similarity, genres or the
warm embeddings; ``alpha`` from ``lam`` as in the DPP re-ranker), so sets are relevant and diverse.
The discriminator, a second factorisation, scores a (user, set) pair by the mean of its items'
logits and learns to tell sets of the user's real items from generated ones; the generator is
trained by REINFORCE on the discriminator's verdict. Recommendations are the greedy DPP MAP of the
learned relevance (the re-ranker of :mod:`advrec.diversity.rerank`, same ``lam``).

``adversarial=false`` (the ablation): no discriminator; the generator's factorisation continues
BPR training for the same epochs, and recommendations are the same DPP over it: i.e. DPP re-ranking
of a BPR-MF.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field

from advrec.data.features import genre_matrix
from advrec.data.interactions import Interactions
from advrec.diversity.rerank import lift, rerank
from advrec.errors import ConfigError, DataError
from advrec.gan.trainer import DOut, GOut
from advrec.models.base import Recommender
from advrec.models.content import warm_embeddings
from advrec.models.gan_base import GANConfig, GANRecommender
from advrec.train.callbacks import Callback

if TYPE_CHECKING:
    import optuna


class PDGANConfig(GANConfig):
    """Hyper-parameters of :class:`PDGAN`."""

    warm: str = "bpr"
    """The warm model that starts both factorisations (a model with ``embeddings``)."""
    warm_params: dict[str, Any] = Field(default_factory=dict)
    """Its hyper-parameters (its class defaults for the rest; its seed is this model's)."""
    lam: float = Field(0.7, ge=0, lt=1)
    """Weight of relevance in the DPP kernel of sampling and recommendation (as the re-ranker's
    lambda; below 1: some diversity)."""
    set_size: int = Field(5, ge=2)
    """Items per sampled (and per real) set."""
    pool: int = Field(50, ge=2)
    """A user's most relevant unseen items that sets are sampled from."""
    k: int = Field(20, ge=1)
    """Length of the DPP-ranked head of each user's scores."""
    candidates: int = Field(100, ge=1)
    """Items re-ranked by the DPP at recommendation time."""
    adversarial: bool = True
    """False: no discriminator; the factorisation continues BPR training (the ablation)."""
    batch_size: int = Field(64, ge=1)
    """Users per generator step."""
    batch_size_d: int = Field(64, ge=1)
    """Users per discriminator step."""
    epochs: int = Field(10, ge=1)
    """Passes over the users with at least ``set_size`` training items."""
    diagnostics_every: int = Field(0, ge=0)
    """Not used."""


class PDGAN(GANRecommender):
    """Diverse sets from a personalised DPP, judged against real ones (see the module docstring).

    TOML::

        [[models]]
        name = "pdgan"
        lam = 0.7
        warm_params = {factors = 128, epochs = 65, lr = 0.005, l2 = 0.005}
    """

    name = "pdgan"
    config_class = PDGANConfig
    capabilities = frozenset({"side_features", "warm_start"})
    #: the warm model given as ``init`` (it must be ``warm``) is used as fitted, not trained further
    warm_start_from: ClassVar[tuple[str, ...]] = ("bpr", "lightgcn")
    config: PDGANConfig

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space: learning rates (the trade-off ``lam`` is a knob, not tuned)."""
        return {"lr": t.suggest_float("lr", 1e-4, 1e-2, log=True), "lr_d": t.suggest_float("lr_d", 1e-4, 1e-2, log=True)}

    def _fit(self, train: Interactions, valid: Interactions | None, *, show_progress: bool,
             callbacks: Sequence[Callback]) -> None:
        *self._warm_state, self.similar_ = self._start(train, show_progress)
        super()._fit(train, valid, show_progress=show_progress, callbacks=callbacks)
        del self._warm_state

    def _start(self, train: Interactions, show_progress: bool) -> tuple[torch.Tensor, ...]:
        """User vectors, item vectors, item biases and item similarity the game starts from.

        They come from ``init`` when the fit has one (a fitted pdgan: its generator; the fitted warm
        model: its vectors as they are, ``warm_params`` unused), else from a fresh warm fit.
        """
        c, init = self.config, self._init
        if init is not None and (init.n_users, init.n_items) != (train.n_users, train.n_items):
            raise DataError(f"pdgan: the init model has {init.n_users} users / {init.n_items} items; it must have "
                            f"been fit on this data ({train.n_users} / {train.n_items})")
        if isinstance(init, PDGAN):
            net = init.g_net
            return net.user.detach(), net.item.detach(), net.bias.detach(), init.similar_
        if init is not None:
            if init.name != c.warm:
                raise ConfigError(f"pdgan: the init model is a {init.name!r} model but warm = {c.warm!r}")
            warm = init
            u, v = (t.float() for t in init.embeddings())
        else:
            u, v, warm = warm_embeddings(c.warm, c.warm_params, c.seed, train, show_progress)
        with torch.no_grad():
            bias = warm.score_embeddings(torch.zeros((1, u.shape[1])), v)[0].float()
        genres = genre_matrix(train)
        similar = torch.nn.functional.normalize(torch.as_tensor(genres if genres is not None else v.numpy(),
                                                                dtype=torch.float32), dim=1)
        return u, v, bias, similar

    def _warm_start(self, init: Recommender) -> None:
        """A pdgan init also hands over its discriminator (the generator came with ``_start``)."""
        if isinstance(init, PDGAN) and init.d_net is not None and self.d_net is not None:
            self.d_net.load_state_dict(init.d_net.state_dict())

    def _networks(self, u: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> None:
        self.g_net = _MF(u, v, bias)
        self.d_net = _MF(u, v, bias) if self.config.adversarial else None

    def _build(self, train: Interactions) -> None:
        self._networks(*self._warm_state)
        counts = train.user_counts()
        self._users = torch.from_numpy(np.flatnonzero(counts >= self.config.set_size))
        assert self._seen is not None
        self._rows = self._seen
        self._pairs = torch.from_numpy(np.stack([train.users, train.items], axis=1).astype(np.int64))

    # ------------------------------------------------------------- the game
    def _batches(self, size: int, generator: torch.Generator) -> list[torch.Tensor]:
        return list(self._users[torch.randperm(len(self._users), generator=generator)].split(size))

    def d_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        return self._batches(self.config.batch_size_d, generator)

    def g_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        if self.d_net is None:  # the ablation: BPR triples over every interaction, 4,096 per step
            order = torch.randperm(len(self._pairs), generator=generator)
            neg = torch.randint(self.n_items, (len(self._pairs), 1), generator=generator)
            return list(torch.cat([self._pairs[order], neg], dim=1).split(4096))
        return self._batches(self.config.batch_size, generator)

    def _real_sets(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``set_size`` of each user's training items, drawn uniformly without replacement."""
        rows = self._rows[users.numpy()]
        keys = torch.rand(rows.nnz, generator=generator).numpy() + np.repeat(np.arange(len(users)), np.diff(rows.indptr))
        order = np.argsort(keys, kind="stable")
        starts = rows.indptr[:-1]
        take = starts[:, None] + np.arange(self.config.set_size)[None, :]
        return torch.from_numpy(rows.indices[order][take].astype(np.int64))

    def sample_sets(self, users: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Sets ``(B, set_size)`` sampled from the personalised DPP and their log-probabilities ``(B,)``."""
        c = self.config
        rel = self.g_net.scores(users).masked_fill(self.seen_mask(users.numpy()), float("-inf"))
        pool = torch.topk(rel.detach(), min(c.pool, self.n_items), dim=1).indices
        r = torch.sigmoid(torch.gather(rel, 1, pool))
        q = torch.exp(c.lam / (2.0 * (1.0 - c.lam)) * r)
        v = self.similar_[pool]
        kernel = q[:, :, None] * (v @ v.transpose(1, 2)) * q[:, None, :]
        b, n = pool.shape
        d2 = torch.diagonal(kernel, dim1=1, dim2=2)
        chol = torch.zeros((b, 0, n))
        rows = torch.arange(b)
        free = torch.ones((b, n), dtype=torch.bool)
        picks, logp = [], torch.zeros(b)
        for _ in range(c.set_size):
            gain = torch.where(free, d2.clamp_min(1e-12), torch.zeros_like(d2))
            prob = gain / gain.sum(dim=1, keepdim=True)
            j = torch.multinomial(prob.detach(), 1, generator=generator).squeeze(1)
            logp = logp + torch.log(prob[rows, j])
            picks.append(j)
            free = free.clone()
            free[rows, j] = False
            e = (kernel[rows, j] - torch.einsum("bt,btn->bn", chol[rows, :, j], chol)) / d2[rows, j].clamp_min(1e-12).sqrt()[:, None]
            chol = torch.cat([chol, e[:, None, :]], dim=1)
            d2 = d2 - e.square()
        return torch.gather(pool, 1, torch.stack(picks, dim=1)), logp

    def d_loss(self, batch: torch.Tensor, generator: torch.Generator) -> DOut:
        assert self.d_net is not None
        with torch.no_grad():
            fake_sets, _ = self.sample_sets(batch, generator)
        real = self.d_net.set_logits(batch, self._real_sets(batch, generator))
        fake = self.d_net.set_logits(batch, fake_sets)
        return DOut(self.gan_objective().d_loss(real, fake), real, fake)

    def g_loss(self, batch: torch.Tensor, generator: torch.Generator) -> GOut:
        if self.d_net is None:
            u, i, j = batch[:, 0], batch[:, 1], batch[:, 2]
            loss = F.softplus(self.g_net.pair(u, j) - self.g_net.pair(u, i)).mean()
            return GOut(loss, len(batch), {"g_bpr": loss})
        sets, logp = self.sample_sets(batch, generator)
        with torch.no_grad():
            reward = F.logsigmoid(self.d_net.set_logits(batch, sets))
        advantage = reward - reward.mean()
        loss = -(advantage * logp).mean()
        return GOut(loss, len(batch), {"g_reward": reward.mean()})

    # -------------------------------------------------------------- scoring
    def _score(self, users: np.ndarray) -> torch.Tensor:
        u = torch.from_numpy(users)
        rel = self.g_net.scores(u).detach()
        base = rel.masked_fill(self.seen_mask(users), float("-inf"))
        top = rerank(base, self.similar_, self.config.k, method="dpp", lam=self.config.lam,
                     candidates=max(self.config.candidates, self.config.k))
        return lift(rel, top)

    def _state(self) -> dict[str, torch.Tensor]:
        return {"similar": self.similar_, **{k: v.detach() for k, v in self.train_tensors().items()}}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.similar_ = state["similar"]
        g = {k[2:]: v for k, v in state.items() if k.startswith("g.")}
        self._networks(g["user"], g["item"], g["bias"])
        self.g_net.load_state_dict(g, strict=True)
        if self.d_net is not None:
            self.d_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("d.")}, strict=True)


class _MF(torch.nn.Module):
    """A matrix factorisation with item biases, started from given vectors."""

    def __init__(self, u: torch.Tensor, v: torch.Tensor, bias: torch.Tensor) -> None:
        super().__init__()
        self.user = torch.nn.Parameter(u.clone().float())
        self.item = torch.nn.Parameter(v.clone().float())
        self.bias = torch.nn.Parameter(bias.clone().float())

    def scores(self, users: torch.Tensor) -> torch.Tensor:
        return self.user[users] @ self.item.T + self.bias

    def pair(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (self.user[users] * self.item[items]).sum(1) + self.bias[items]

    def set_logits(self, users: torch.Tensor, sets: torch.Tensor) -> torch.Tensor:
        """The mean logit of a set's items for its user: ``(B,)``."""
        return ((self.user[users][:, None, :] * self.item[sets]).sum(2) + self.bias[sets]).mean(1)
