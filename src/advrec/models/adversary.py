"""Adversarial removal of private attributes from user representations.

In the spirit of Beigi et al. (WSDM 2020) and FairGo's adversarial filters: heads (one small MLP
per private attribute) learn to predict the attribute from a user's representation, and the
recommender is trained to rank well while making the heads fail. The min-max alternates per
mini-batch: the heads take ``adv_steps`` steps on the detached representations of the batch's
users, then the recommender's loss gains ``adv_weight`` times a *confusion* term, the
cross-entropy between each head's prediction and the class prior (equivalently, up to a
constant, KL(prior || prediction)). Confusion rather than a reversed gradient (maximising the
heads' loss) because a representation that makes the head wrong on purpose still carries the
attribute, flipped, and a fresh attacker finds it; one that makes the head answer the prior
for everyone does not.

Models with the fields of :class:`AttributeAdversaryFields` (BPR-MF, LightGCN, Mult-VAE) build
an :class:`AttributeAdversary` when ``adv_attributes`` is set. The heads are a training device
only: they are not saved, and the audits (:mod:`advrec.privacy.inference`) attack a trained
model with fresh attackers, never with these heads.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from pydantic import BaseModel, Field, field_validator
from torch import nn
from torch.nn import functional as F

from advrec.data.interactions import Interactions

#: the private attributes the adversary can hide (:data:`advrec.privacy.attributes.PRIVATE_ATTRIBUTES`)
ATTRIBUTES = ("gender", "age", "occupation")


class AttributeAdversaryFields(BaseModel):
    """Hyper-parameters of adversarial attribute removal, shared by the models that offer it."""

    adv_attributes: list[str] = Field(default_factory=list)
    """Private attributes to remove from the user representations (``gender``, ``age``,
    ``occupation``; ``"gender,age"`` is read as a list). Empty: plain training."""
    adv_weight: float = Field(1.0, ge=0)
    """Weight of the confusion term in the recommender's loss: the privacy / accuracy trade-off."""
    adv_epochs: int = Field(20, ge=1)
    """Epochs against the adversary, after the ``epochs`` of the plain model (early stopping waits
    for the plain ones to end). Measured on ML-100K, BPR-MF: an adversary active from the first
    epoch equalises the classes over the training users so exactly that a fresh cross-validated
    attacker reads the attribute back inverted (AUC 0.25-0.30, 0.70-0.75 for an attacker who
    flips), and one that starts after 45 of 65 epochs costs more NDCG@20 than one that fine-tunes
    the converged model."""
    adv_hidden: int = Field(0, ge=0)
    """Hidden units of each adversary head (one ReLU layer; 0: a linear head)."""
    adv_steps: int = Field(5, ge=1)
    """Updates of the heads per recommender step."""
    adv_head_lr: float = Field(1e-2, gt=0)
    """Adam learning rate of the heads."""
    adv_head_l2: float = Field(1.0, ge=0)
    """L2 penalty (weight decay) of the heads: a head that overfits the training users learns
    directions a fresh attacker would not use, and hiding those hides nothing."""

    def inert_fields(self) -> tuple[str, ...]:
        """The adversary's options when there is no adversary (they change nothing then)."""
        return () if self.adv_attributes else tuple(f for f in AttributeAdversaryFields.model_fields
                                                    if f != "adv_attributes")

    @field_validator("adv_attributes", mode="before")
    @classmethod
    def _split(cls, v: object) -> object:
        if isinstance(v, str):
            v = [s.strip() for s in v.split(",") if s.strip()]
        if isinstance(v, (list, tuple)):
            unknown = [a for a in v if a not in ATTRIBUTES]
            if unknown:
                raise ValueError(f"unknown attribute {unknown[0]!r}; choose from {list(ATTRIBUTES)}")
            if len(set(v)) != len(v):
                raise ValueError(f"{list(v)} names an attribute twice")
        return v


class AttributeAdversary:
    """The heads of :class:`AttributeAdversaryFields` for one fit.

    Parameters
    ----------
    train
        Training data; its user side table gives the labels (users without a value are skipped).
    names
        The attributes to remove.
    dim
        Size of the user representation the heads read.
    config
        The model's config (``adv_*`` fields).
    device
        Where the heads live.

    Raises
    ------
    DataError
        If the data has no user side table or lacks an attribute (see
        :func:`advrec.privacy.attributes.attribute_labels`).
    """

    def __init__(self, train: Interactions, names: Sequence[str], dim: int, config: AttributeAdversaryFields,
                 device: torch.device) -> None:
        from advrec.privacy.attributes import attribute_labels

        self.names = tuple(names)
        self.weight = config.adv_weight
        self.steps = config.adv_steps
        self.labels: dict[str, torch.Tensor] = {}
        self.priors: dict[str, torch.Tensor] = {}
        heads = {}
        for name in self.names:
            lab = attribute_labels(train, name)
            labels = torch.from_numpy(lab.labels)
            counts = torch.bincount(labels[labels >= 0], minlength=lab.n_classes).double()
            self.labels[name] = labels.to(device)
            self.priors[name] = (counts / counts.sum().clamp(min=1)).float().to(device)
            h = config.adv_hidden
            heads[name] = (nn.Linear(dim, lab.n_classes) if h == 0 else
                           nn.Sequential(nn.Linear(dim, h), nn.ReLU(), nn.Linear(h, lab.n_classes)))
        self.heads = nn.ModuleDict(heads).to(device)
        self.optimizer = torch.optim.AdamW(self.heads.parameters(), lr=config.adv_head_lr, weight_decay=config.adv_head_l2)
        known = torch.stack([lab >= 0 for lab in self.labels.values()]).any(0)
        self.users = torch.nonzero(known).flatten()
        """Users with at least one known attribute (the adversary's training set)."""

    def _known(self, name: str, users: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        lab = self.labels[name][users]
        keep = lab >= 0
        return keep, lab[keep]

    def update(self, reps: torch.Tensor, users: torch.Tensor) -> float:
        """Train the heads on ``reps`` (detached here) of ``users``; their mean cross-entropy."""
        reps = reps.detach()
        loss_value = 0.0
        with torch.enable_grad():
            for _ in range(self.steps):
                loss = reps.new_zeros(())
                for name, head in self.heads.items():
                    keep, lab = self._known(name, users)
                    if len(lab):
                        loss = loss + F.cross_entropy(head(reps[keep]), lab)
                self.optimizer.zero_grad(set_to_none=False)
                if loss.requires_grad:
                    loss.backward()
                    self.optimizer.step()
                loss_value = float(loss.detach()) / len(self.names)
        return loss_value

    def confusion(self, reps: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
        """``adv_weight`` x the mean over attributes of CE(prior, head(reps)): zero gradient when
        every head answers the class prior. The heads' own gradients from it are never applied."""
        total = reps.new_zeros(())
        for name, head in self.heads.items():
            keep, _ = self._known(name, users)
            if keep.any():
                logp = F.log_softmax(head(reps[keep]), dim=1)
                total = total - (logp * self.priors[name]).sum(1).mean()
        return self.weight * total / len(self.names)

    def user_gradient(self, reps: torch.Tensor, users: torch.Tensor) -> tuple[torch.Tensor, float]:
        """For closed-form models: update the heads, then ``(d confusion / d reps, head loss)``."""
        head_loss = self.update(reps, users)
        with torch.enable_grad():
            r = reps.detach().clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(self.confusion(r, users), r)
        return grad, head_loss


def plain_epochs(config: AttributeAdversaryFields) -> int:
    """Epochs before the adversary starts (0 without ``adv_attributes``): early stopping waits for them."""
    return config.epochs if config.adv_attributes else 0  # type: ignore[attr-defined]


def total_epochs(config: AttributeAdversaryFields) -> int:
    """Epochs of a fit: ``epochs``, plus ``adv_epochs`` with ``adv_attributes``."""
    return config.epochs + (config.adv_epochs if config.adv_attributes else 0)  # type: ignore[attr-defined]


def adversary_active(adversary: AttributeAdversary | None, config: AttributeAdversaryFields, epoch: int) -> bool:
    """Whether 1-based ``epoch`` trains against the adversary."""
    return adversary is not None and epoch > plain_epochs(config)


class AdversarySchedule:
    """The fit schedule of models with :class:`AttributeAdversaryFields` and DP fields: ``epochs``
    plain epochs, then ``adv_epochs`` against the adversary (early stopping and the best-epoch
    choice wait for the plain ones); private fits (``dp_epsilon``) ignore validation data."""

    config: Any

    def _total_epochs(self) -> int:
        return total_epochs(self.config)

    def _min_epochs(self) -> int:
        return plain_epochs(self.config)

    def _best_after(self) -> int:
        """With an adversary, the plain epochs: the model returned was trained against it."""
        return plain_epochs(self.config)

    def _uses_validation(self) -> bool:
        return getattr(self.config, "dp_epsilon", None) is None


def restart_optimizers(model: object, epoch: int) -> None:
    """At the first adversarial epoch, give ``model`` fresh optimisers. Measured on ML-100K, BPR-MF
    (seed 0, adv_weight 1): with Adam's moments carried over from the plain epochs NDCG@20 fell to
    0.381 and the gender AUC stayed at 0.58; with fresh ones 0.393 and 0.50."""
    cfg = model.config  # type: ignore[attr-defined]
    if adversary_active(model._adversary, cfg, epoch) and epoch == plain_epochs(cfg) + 1:  # type: ignore[attr-defined]
        model._optimizers.update(model._make_optimizers())  # type: ignore[attr-defined]


def make_adversary(model: object, train: Interactions, dim: int) -> AttributeAdversary | None:
    """The adversary of ``model``'s config for this fit, or None when ``adv_attributes`` is empty."""
    cfg = model.config  # type: ignore[attr-defined]
    if not cfg.adv_attributes:
        return None
    return AttributeAdversary(train, cfg.adv_attributes, dim, cfg, model.device)  # type: ignore[attr-defined]
