"""BPR-MF: matrix factorisation trained with Bayesian Personalised Ranking."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field, model_validator

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError
from advrec.models.adversary import (
    AdversarySchedule,
    AttributeAdversary,
    AttributeAdversaryFields,
    adversary_active,
    make_adversary,
    restart_optimizers,
    total_epochs,
)
from advrec.models.base import Recommender
from advrec.models.bpr_dp import build_dp, dp_epoch
from advrec.models.bpr_kernel import seen_bitmap, sgd_epoch
from advrec.models.foldin import fold_in_scores
from advrec.models.sampling import NegativeSampler
from advrec.models.torch_base import EARLY_STOPPING, TorchConfig, TorchRecommender, batch_weight
from advrec.train.dp import DPFields

if TYPE_CHECKING:
    import optuna


class BPRConfig(TorchConfig, AttributeAdversaryFields, DPFields):
    """Hyper-parameters of :class:`BPRMF` (with adversarial attribute removal,
    :class:`~advrec.models.adversary.AttributeAdversaryFields`, and DP-SGD,
    :class:`~advrec.train.dp.DPFields`)."""

    renamed: ClassVar[dict[str, Any]] = {"reg": "l2"}

    factors: int = Field(64, ge=1)
    """Embedding size."""
    l2: float = Field(1e-4, ge=0)
    """L2 weight on the embeddings (and biases) of each sampled triple."""
    use_bias: bool = True
    """Learn an item bias added to every score."""
    init_std: float = Field(0.1, gt=0)
    """Standard deviation of the normal initialisation of the embeddings."""
    threads: int = Field(1, ge=1)
    """Threads of the compiled per-triple kernel (``optimizer="sgd"``, ``batch_size=1``). 1 is
    deterministic (same seed, same model); more run lock-free Hogwild updates, as Cornac does,
    which are faster but not bit-reproducible."""

    @model_validator(mode="after")
    def _threads_need_kernel(self) -> BPRConfig:
        if self.threads > 1 and not self.per_triple:
            raise ValueError(f"threads={self.threads} needs the per-triple kernel: optimizer='sgd' and "
                             f"batch_size=1 (got optimizer={self.optimizer!r}, batch_size={self.batch_size})")
        if self.adv_attributes and self.per_triple:
            raise ValueError("adv_attributes needs mini-batch training (the per-triple kernel has no adversary): "
                             "use batch_size > 1 or optimizer='adam'")
        if self.dp_epsilon is not None and (self.per_triple or self.adv_attributes):
            raise ValueError("dp_epsilon trains the autograd network in mini-batches, without an attribute "
                             "adversary: use batch_size > 1 and no adv_attributes (multvae offers both together)")
        return self

    @property
    def per_triple(self) -> bool:
        """Whether training runs the compiled per-triple SGD kernel (:mod:`advrec.models.bpr_kernel`)."""
        return self.optimizer == "sgd" and self.batch_size == 1


class BPRMF(AdversarySchedule, TorchRecommender):
    """BPR-MF (Rendle et al., "BPR: Bayesian Personalized Ranking from Implicit Feedback", UAI 2009).

    Scores ``s(u, i) = p_u . q_i + b_i`` and maximises, over triples of a user
    ``u``, one of their items ``i`` and a uniformly sampled item ``j`` they have
    not interacted with, the mean of::

        ln sigmoid(s(u, i) - s(u, j)) - l2 * (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2)

    Each epoch visits every training pair once, in random order. Gradients are
    computed in closed form (no autograd). ``optimizer="sgd"`` with ``batch_size=1``
    (one SGD step per triple, as Cornac's BPR) runs a compiled kernel that samples
    the negatives itself (:mod:`advrec.models.bpr_kernel`), on ``threads`` threads;
    other settings apply the mean gradient of each mini-batch by Adam or SGD.

    TOML::

        [[models]]
        name = "bpr"
        factors = 64
        lr = 0.001
        l2 = 0.0001
        batch_size = 4096
        epochs = 100
    """

    name = "bpr"
    config_class = BPRConfig
    capabilities = frozenset({"embeddings", "differentiable", "warm_start", "fold_in"})
    config: BPRConfig

    #: fixed early-stopping settings of tuning (the tuned epochs is where it stops)
    tuning_settings: ClassVar[dict[str, Any]] = {**EARLY_STOPPING, "batch_size": 4096}

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning (the keys are config fields)."""
        return {
            "factors": t.suggest_categorical("factors", [64, 128, 256]),
            "lr": t.suggest_float("lr", 1e-3, 2e-2, log=True),
            "l2": t.suggest_float("l2", 1e-3, 5e-2, log=True),
        }

    # ------------------------------------------------------------- training
    def _build(self, train: Interactions) -> None:
        c = self.config
        self.user_emb = torch.nn.Parameter(torch.randn(self.n_users, c.factors) * c.init_std)
        self.item_emb = torch.nn.Parameter(torch.randn(self.n_items, c.factors) * c.init_std)
        self.item_bias = torch.nn.Parameter(torch.zeros(self.n_items)) if c.use_bias else None
        for p in self._params():
            p.grad = torch.zeros_like(p)
        self._sampler = NegativeSampler(train.binary_csr)
        s = self._sampler
        ok = (s.n_negatives[s.pair_users] > 0).numpy()  # users with every item have no triple
        pairs = (s.pair_users.numpy()[ok].astype(np.int32), s.pair_items.numpy()[ok].astype(np.int32))
        self._pairs = pairs
        self._work = (np.empty_like(pairs[0]), np.empty_like(pairs[1]))  # the kernel shuffles into these
        self._bits: np.ndarray | None = None  # the kernel's bitmap of seen pairs, built at its first epoch
        self._adversary: AttributeAdversary | None = make_adversary(self, train, c.factors)
        self._dp = None  # DP-SGD engine, built at the first epoch (after a warm start copied its values)

    def _params(self) -> list[torch.nn.Parameter]:
        ps = [self.user_emb, self.item_emb]
        return ps + ([self.item_bias] if self.item_bias is not None else [])

    def train_tensors(self) -> dict[str, torch.Tensor]:
        out = {"user_emb": self.user_emb, "item_emb": self.item_emb}
        if self.item_bias is not None:
            out["item_bias"] = self.item_bias
        return out

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        eps, reg_adv = self._perturbation(epoch)
        adversarial, lr = reg_adv > 0, self._epoch_lr(epoch)
        if self.config.per_triple:
            return {"loss": self._kernel_epoch(generator, eps, reg_adv, lr)}
        if self.config.dp_epsilon is not None:
            if self._dp is None:
                self._dp = build_dp(self, total_epochs(self.config))
            return dp_epoch(self, generator)
        users, pos, neg = self._sampler.epoch_triples(generator)
        restart_optimizers(self, epoch)
        opt = self._optimizers["main"]
        for group in opt.param_groups:
            group["lr"] = lr
        bs = self.config.batch_size
        total = torch.zeros((), dtype=torch.float64)
        head_loss = 0.0
        hide = adversary_active(self._adversary, self.config, epoch)
        with torch.no_grad():
            for start in range(0, len(users), bs):
                u, i, j = users[start:start + bs], pos[start:start + bs], neg[start:start + bs]
                total += self.batch_gradients(u, i, j) * len(u)
                if adversarial:
                    total += self._adversarial_gradients(u, i, j, eps, reg_adv) * len(u)
                if hide:
                    head_loss += self._attribute_gradients(u) * len(u)
                if len(u) < bs:  # the partial last batch
                    for p in self._params():
                        p.grad.mul_(batch_weight(len(u), bs))  # type: ignore[union-attr]
                opt.step()
        out = {"loss": float(total) / max(len(users), 1)}
        return {**out, "adv_head_loss": head_loss / max(len(users), 1)} if hide else out

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {} if self.config.dp_epsilon is not None else super()._make_optimizers()  # DP-SGD has its own

    def _attribute_gradients(self, u: torch.Tensor) -> float:
        """Train the attribute heads on every user with a known attribute (the table is small) and
        add the confusion term's gradient to their embeddings' ``.grad``; the heads' cross-entropy."""
        assert self._adversary is not None and self.user_emb.grad is not None
        users = self._adversary.users
        grad, head_loss = self._adversary.user_gradient(self.user_emb.detach()[users], users)
        self.user_emb.grad.index_add_(0, users, grad)
        return head_loss

    def _kernel_epoch(self, generator: torch.Generator, eps: float, reg_adv: float, lr: float) -> float:
        """One epoch of the compiled per-triple SGD kernel, in place on the parameters."""
        users, items = self._pairs
        seed = int(torch.randint(0, 2**62, (1,), generator=generator))
        s, c = self._sampler, self.config
        bias = None if self.item_bias is None else self.item_bias.detach().numpy()
        if self._bits is None:
            self._bits = seen_bitmap(s.indptr.numpy(), s.pair_items.numpy(), self.n_items)
        return sgd_epoch(self.user_emb.detach().numpy(), self.item_emb.detach().numpy(), bias,
                         s.indptr.numpy(), s.pair_items.numpy(), users, items, seed,
                         lr, c.l2, eps, reg_adv, c.threads, work=self._work, bits=self._bits)

    def _epoch_lr(self, epoch: int) -> float:
        """Learning rate of 1-based ``epoch`` (APR may lower it for its adversarial epochs)."""
        return self.config.lr

    def _perturbation(self, epoch: int) -> tuple[float, float]:
        """``(eps, reg_adv)`` of the adversarial (APR) term in 1-based ``epoch``; BPR has none."""
        return 0.0, 0.0

    def _adversarial_gradients(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor, eps: float,
                               reg_adv: float) -> torch.Tensor:
        """Add the adversarial term's gradient of a mini-batch to ``.grad`` (models with one)."""
        raise NotImplementedError

    def batch_gradients(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Write the gradient of the batch loss into ``.grad`` of every parameter.

        Works in place in reused buffers: on CPU, allocating fresh ``batch x
        factors`` tensors for every step costs more than the arithmetic.

        Returns
        -------
        torch.Tensor
            The batch loss (mean over triples, regularisation included).
        """
        n = len(u)
        lam = self.config.l2
        ws = self._workspace(n)
        pu, qi, qj, diff = ws["pu"], ws["qi"], ws["qj"], ws["diff"]
        emb_u, emb_i = self.user_emb.detach(), self.item_emb.detach()
        torch.index_select(emb_u, 0, u, out=pu)
        torch.index_select(emb_i, 0, i, out=qi)
        torch.index_select(emb_i, 0, j, out=qj)
        torch.sub(qi, qj, out=diff)
        x = torch.bmm(pu.unsqueeze(1), diff.unsqueeze(2)).view(n)
        sq = sum(torch.dot(t.view(-1), t.view(-1)) for t in (pu, qi, qj))
        if self.item_bias is not None:
            bi = self.item_bias.detach().index_select(0, i)
            bj = self.item_bias.detach().index_select(0, j)
            x = x + bi - bj
            sq = sq + torch.dot(bi, bi) + torch.dot(bj, bj)
        loss = torch.nn.functional.softplus(-x).mean() + lam * sq / n
        # d/dx of -ln sigmoid(x), averaged over the batch
        g = torch.sigmoid(-x).neg_().div_(n)
        r = 2.0 * lam / n
        gcol = g.unsqueeze(1)
        gu, gi = self.user_emb.grad, self.item_emb.grad
        assert gu is not None and gi is not None
        gu.zero_()
        gi.zero_()
        gi.index_add_(0, i, qi.mul_(r).addcmul_(gcol, pu))
        gi.index_add_(0, j, qj.mul_(r).addcmul_(gcol, pu, value=-1.0))
        gu.index_add_(0, u, diff.mul_(gcol).add_(pu, alpha=r))
        if self.item_bias is not None:
            gb = self.item_bias.grad
            assert gb is not None
            gb.zero_()
            gb.index_add_(0, i, g + r * bi)
            gb.index_add_(0, j, r * bj - g)
        return loss.to(torch.float64)

    def _workspace(self, n: int) -> dict[str, torch.Tensor]:
        ws = getattr(self, "_ws", None)
        if ws is None or len(ws["pu"]) != n:
            d = self.config.factors
            ws = {k: torch.empty(n, d) for k in ("pu", "qi", "qj", "diff")}
            self._ws = ws
        return ws

    # -------------------------------------------------------------- scoring
    def _score(self, users: np.ndarray) -> torch.Tensor:
        u = torch.from_numpy(users)
        s = self.user_emb.detach().index_select(0, u) @ self.item_emb.detach().T
        if self.item_bias is not None:
            s += self.item_bias.detach()
        return s

    def _score_grad(self, users: np.ndarray) -> torch.Tensor:
        s = self.user_emb[torch.from_numpy(users)] @ self.item_emb.T
        return s + self.item_bias if self.item_bias is not None else s

    def _embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb, self.item_emb

    def _score_embeddings(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        s = user_vectors @ item_vectors.T
        if self.item_bias is None:
            return s
        if len(item_vectors) != self.n_items:
            raise DataError(f"bpr: score_embeddings needs all {self.n_items} item vectors (the item bias is "
                            f"per item), got {len(item_vectors)}")
        return s + self.item_bias.detach()

    def _warm_start(self, init: Recommender) -> None:
        assert isinstance(init, BPRMF)
        c = self.config
        if init.config.factors != c.factors or (init.item_bias is None) != (self.item_bias is None):
            raise ConfigError(f"bpr: cannot start from a model with factors={init.config.factors}, "
                              f"use_bias={init.config.use_bias} (this one: factors={c.factors}, "
                              f"use_bias={c.use_bias})")
        with torch.no_grad():  # rows of the init's id space; appended users / items keep their fresh values
            self.user_emb[: init.n_users] = init.user_emb.detach()
            self.item_emb[: init.n_items] = init.item_emb.detach()
            if self.item_bias is not None and init.item_bias is not None:
                self.item_bias[: init.n_items] = init.item_bias.detach()

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        """Scores of user vectors solved with the items fixed (:func:`~advrec.models.foldin.fold_in_scores`)."""
        bias = None if self.item_bias is None else self.item_bias.detach()
        return fold_in_scores(history, self.item_emb.detach(), bias, self.config.l2)

    def _state(self) -> dict[str, torch.Tensor]:
        return {k: v.detach() for k, v in self.train_tensors().items()}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        c = self.config
        u, i = state["user_emb"], state["item_emb"]
        if u.shape != (self.n_users, c.factors) or i.shape != (self.n_items, c.factors):
            raise ValueError(f"embedding shapes {tuple(u.shape)}, {tuple(i.shape)} do not match the config")
        # trainable, as after a fit: gradient attacks and warm starts use a loaded model
        self.user_emb = torch.nn.Parameter(u)
        self.item_emb = torch.nn.Parameter(i)
        self.item_bias = torch.nn.Parameter(state["item_bias"]) if c.use_bias else None
