"""APR: BPR-MF trained against adversarial perturbations of its embeddings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch
import torch.nn.functional as F
from pydantic import BaseModel, Field

from advrec.data.interactions import Interactions
from advrec.models.bpr import BPRMF, BPRConfig

if TYPE_CHECKING:
    import optuna


class AdversarialFields(BaseModel):
    """APR's hyper-parameters, shared by every model trained against embedding perturbations."""

    eps: float = Field(0.5, ge=0)
    """L2 size of the perturbation of each embedding row (paper: 0.5)."""
    reg_adv: float = Field(1.0, ge=0)
    """Weight of the BPR loss at the perturbed embeddings (paper: 1.0)."""
    adversarial: bool = True
    """False: the ablation, the same schedule without the adversarial term (the plain model)."""
    pretrain_epochs: int = Field(50, ge=0)
    """Plain epochs before the adversarial ones, counted in ``epochs``, when the fit does not
    start from a fitted model (``init``); early stopping never stops during them."""


class APRConfig(BPRConfig, AdversarialFields):
    """Hyper-parameters of :class:`APR` (BPR-MF's plus :class:`AdversarialFields`)."""

    adv_lr: float | None = Field(None, gt=0)
    """Learning rate of the adversarial epochs (None: ``lr``), so one fit can run the protocol of
    a BPR-MF pre-training at ``lr`` followed by adversarial fine-tuning at a smaller rate."""


class APR(BPRMF):
    """APR (He et al., "Adversarial Personalized Ranking for Recommendation", SIGIR 2018) on BPR-MF.

    Each training triple ``(u, i, j)`` (or mini-batch) adds to BPR-MF's loss
    ``reg_adv * softplus(-x_adv)``, where ``x_adv`` is the score difference at the
    embeddings moved by ``Delta = eps * G / |G|``, ``G`` the gradient of the BPR
    loss with respect to each embedding row involved, normalised row by row as in
    the authors' code (item biases are not perturbed). ``Delta`` is held constant
    in the update, so the gradient stays in closed form: with ``optimizer="sgd"``
    and ``batch_size=1`` it runs in BPR-MF's compiled kernel, one perturbation per
    triple; with mini-batches ``G`` is the batch gradient, as in the paper.

    A fit without ``init`` runs ``pretrain_epochs`` plain BPR epochs first; a fit
    with ``init`` (a fitted ``bpr`` or ``apr`` model of the same size) is all
    adversarial. ``adversarial=False`` is the ablation (exactly BPR-MF).

    TOML::

        [[models]]
        name = "apr"
        optimizer = "sgd"
        batch_size = 1
        lr = 0.05
        eps = 0.5
        reg_adv = 1.0
    """

    name = "apr"
    config_class = APRConfig
    config: APRConfig
    warm_start_from: ClassVar[tuple[str, ...]] = ("bpr", "apr")

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """BPR-MF's search space plus ``eps`` and ``reg_adv``."""
        return {
            **BPRMF.search_space(t),
            "eps": t.suggest_float("eps", 0.05, 2.0, log=True),
            "reg_adv": t.suggest_float("reg_adv", 0.1, 10.0, log=True),
        }

    def _build(self, train: Interactions) -> None:
        super()._build(train)
        self._warm = self._init is not None

    def _adversarial_epoch(self, epoch: int) -> bool:
        c = self.config
        return c.adversarial and (self._warm or epoch > c.pretrain_epochs)

    def _perturbation(self, epoch: int) -> tuple[float, float]:
        c = self.config
        return (c.eps, c.reg_adv) if self._adversarial_epoch(epoch) else (0.0, 0.0)

    def _epoch_lr(self, epoch: int) -> float:
        c = self.config
        return c.adv_lr if c.adv_lr is not None and self._adversarial_epoch(epoch) else c.lr

    def _min_epochs(self) -> int:
        c = self.config
        return c.pretrain_epochs if c.adversarial and self._init is None else 0

    def _best_after(self) -> int:
        """The plain pre-training epochs: the model returned was trained adversarially."""
        return self._min_epochs()

    def _adversarial_gradients(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor, eps: float,
                               reg_adv: float) -> torch.Tensor:
        """Add ``reg_adv`` times the batch-mean gradient of the adversarial loss to ``.grad``.

        Returns
        -------
        torch.Tensor
            ``reg_adv`` times the batch-mean adversarial loss.
        """
        n = len(u)
        emb_u, emb_i = self.user_emb.detach(), self.item_emb.detach()
        pu, qi, qj = emb_u[u], emb_i[i], emb_i[j]
        bias = 0.0 if self.item_bias is None else self.item_bias.detach()[i] - self.item_bias.detach()[j]
        diff = qi - qj
        g = -torch.sigmoid(-((pu * diff).sum(1) + bias)).unsqueeze(1)  # d softplus(-x) / dx
        # row gradients of the batch's BPR loss (the scale does not matter once normalised)
        gu = torch.zeros_like(emb_u).index_add_(0, u, g * diff)
        gi = torch.zeros_like(emb_i).index_add_(0, i, g * pu).index_add_(0, j, -g * pu)
        du = eps * F.normalize(gu, dim=1)[u]
        dq = eps * F.normalize(gi, dim=1)
        pa, da = pu + du, diff + dq[i] - dq[j]
        xa = (pa * da).sum(1) + bias
        ga = (-reg_adv / n) * torch.sigmoid(-xa).unsqueeze(1)
        grad_u, grad_i = self.user_emb.grad, self.item_emb.grad
        assert grad_u is not None and grad_i is not None
        grad_u.index_add_(0, u, ga * da)
        grad_i.index_add_(0, i, ga * pa).index_add_(0, j, -ga * pa)
        if self.item_bias is not None:
            grad_b = self.item_bias.grad
            assert grad_b is not None
            grad_b.index_add_(0, i, ga.view(-1)).index_add_(0, j, -ga.view(-1))
        return reg_adv * F.softplus(-xa).mean().to(torch.float64)
