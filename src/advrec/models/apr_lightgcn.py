"""APR for LightGCN: adversarial perturbations of the ego embeddings during training."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from pydantic import Field

from advrec.models.apr import AdversarialFields
from advrec.models.lightgcn import LightGCN, LightGCNConfig, propagate

if TYPE_CHECKING:
    import optuna


class APRLightGCNConfig(LightGCNConfig, AdversarialFields):
    """Hyper-parameters of :class:`APRLightGCN` (LightGCN's plus APR's, perturbing the ego embeddings)."""

    pretrain_epochs: int = Field(0, ge=0)
    """Epochs of plain LightGCN before the adversarial term starts (within ``epochs``); early
    stopping never stops before they are over. Or start from a fitted ``lightgcn`` (``init``)."""


class APRLightGCN(LightGCN):
    """APR (He et al., "Adversarial Personalized Ranking for Recommendation", SIGIR 2018) on LightGCN.

    Each batch minimises LightGCN's BPR loss plus ``reg_adv`` times the BPR loss of the same
    triples scored with perturbed ego (layer-0) embeddings::

        L(E) + reg_adv * L(E + Delta),   Delta = eps * G / ||G|| row by row,  G = dL/dE

    where ``L`` is the BPR loss on the *propagated* embeddings (the perturbation travels through
    the graph like the embeddings do), ``G`` its gradient with respect to every ego row (rows
    that the batch does not reach get no perturbation), and ``Delta`` is held constant (the
    inner maximisation is one FGSM step, as in APR). The per-row normalisation is the one of
    APR's code and of :mod:`advrec.robust.perturb`, so ``eps`` means the same in both. The L2
    term is LightGCN's, on the clean ego embeddings of the batch.

    ``adversarial = false`` trains exactly LightGCN (same random draws, same result at the same
    seed), the ablation. APR's recipe pre-trains the model first: ``pretrain_epochs`` of plain
    LightGCN, or ``fit(train, init=fitted_lightgcn)``.

    TOML::

        [[models]]
        name = "apr-lightgcn"
        init = "lightgcn"        # a fitted lightgcn of the experiment: every epoch is adversarial
        layers = 1               # the init's architecture (factors, layers) must match
        epochs = 45
        eps = 0.5
        reg_adv = 1.0
    """

    name = "apr-lightgcn"
    config_class = APRLightGCNConfig
    config: APRLightGCNConfig
    warm_start_from = ("lightgcn", "apr-lightgcn")

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """LightGCN's search space plus APR's ``eps`` and ``reg_adv``."""
        return {
            **super().search_space(t),
            "eps": t.suggest_float("eps", 0.01, 1.0, log=True),
            "reg_adv": t.suggest_float("reg_adv", 0.01, 10.0, log=True),
        }

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        self._adv_on = c.adversarial and epoch > c.pretrain_epochs and c.eps > 0 and c.reg_adv > 0
        return super().train_epoch(epoch, generator)

    def _min_epochs(self) -> int:
        return self.config.pretrain_epochs if self.config.adversarial else 0

    def _best_after(self) -> int:
        """The plain pre-training epochs: the model returned was trained adversarially."""
        return self._min_epochs()

    def _batch_loss(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if not getattr(self, "_adv_on", False):
            return super()._batch_loss(u, i, j)
        c = self.config
        final = propagate(self._adj, self.ego, c.layers)
        bpr = self._bpr(final, u, i, j)
        (grad,) = torch.autograd.grad(bpr, self.ego, retain_graph=True)
        norms = grad.norm(dim=1, keepdim=True)
        delta = torch.where(norms > 0, grad * (c.eps / norms.clamp_min(torch.finfo(grad.dtype).tiny)), 0.0)
        adv = self._bpr(propagate(self._adj, self.ego + delta.detach(), c.layers), u, i, j)
        ego = self.ego.index_select(0, torch.cat([u, i, j]))
        return bpr + c.reg_adv * adv + c.l2 * ego.square().sum() / len(u), final

    @staticmethod
    def _bpr(final: torch.Tensor, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        """Mean BPR loss of the triples under the propagated embeddings ``final``."""
        eu, ei, ej = final.index_select(0, u), final.index_select(0, i), final.index_select(0, j)
        return F.softplus(-(eu * (ei - ej)).sum(1)).mean()
