"""DP-SGD training of Mult-VAE (:mod:`advrec.train.dp`): one example per user, a per-user guarantee.

The encoder's first layer reads sparse rows through ``embedding_bag`` in non-private training,
which Opacus cannot clip per example; a private fit runs the same network with that layer as a
dense ``nn.Linear`` over the user's (L2-normalised, dropped-out) row, whose per-user gradient
norms Opacus' ghost clipping computes without materialising them. The other layers are the
model's own modules. After each epoch the dense layer's weights are copied back, so scoring and
saving are those of the non-private model. The KL weight anneals per step as in non-private
training (a schedule fixed in advance, data-independent).

An obfuscated private fit (``adv_attributes`` with ``dp_epsilon``) keeps the guarantee per user,
the attributes being part of a user's record: the adversary heads train by DP-SGD too, on their
own Poisson batches of users, with the recommender's noise multiplier; the noise is calibrated to
all steps of both (``adv_steps`` head steps per recommender step in the adversarial epochs) and
the accountant composes them. The confusion term is per user (the user's own encoder mean, the
heads fixed), so clipping bounds it with the rest of the user's loss, and its target is the heads'
answer for the zero representation (the prior mean of the latent), which costs no privacy where
the class prior of the non-private adversary would read every user's attribute.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from advrec.models.adversary import adversary_active
from advrec.train.dp import DPSGD

if TYPE_CHECKING:
    from advrec.models.multvae import MultVAE


class DenseVAE(nn.Module):
    """Mult-VAE's encoder and decoder with a dense first layer; ``forward(rows, noise)`` gives
    ``(log-softmax over items, mu, logvar)``."""

    def __init__(self, model: MultVAE) -> None:
        super().__init__()
        net = model.net
        self.first = nn.Linear(model.n_items, net.item_in.shape[1])
        with torch.no_grad():
            self.first.weight.copy_(net.item_in.detach().T)
            self.first.bias.copy_(net.bias_in.detach())
        self.encoder, self.decoder = net.encoder, net.decoder
        self.hidden_act, self.latent = net.hidden_act, net.latent

    def encode(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mu, logvar)`` of dense input rows."""
        h = self.first(rows)
        out = self.encoder(torch.tanh(h)) if self.hidden_act else h
        return out[:, : self.latent], out[:, self.latent:]

    def forward(self, rows: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        mu, logvar = self.encode(rows)
        z = mu + noise * torch.exp(0.5 * logvar)
        return F.log_softmax(self.decoder(z), dim=1), mu, logvar


class Heads(nn.Module):
    """The adversary's heads as one module for Opacus: ``forward(reps)`` gives each head's logits."""

    def __init__(self, heads: nn.ModuleDict) -> None:
        super().__init__()
        self.heads = heads

    def forward(self, reps: torch.Tensor) -> list[torch.Tensor]:
        return [head(reps) for head in self.heads.values()]


def build_dp(model: MultVAE, epochs: int) -> DPSGD:
    """The DP-SGD engine of a Mult-VAE fit whose network was just initialised (with a partner
    engine for the adversary heads of an obfuscated fit, sharing the budget)."""
    c = model.config
    net = DenseVAE(model)
    opt = (torch.optim.Adam(net.parameters(), lr=c.lr, weight_decay=c.l2) if c.optimizer == "adam"
           else torch.optim.SGD(net.parameters(), lr=c.lr, weight_decay=c.l2))
    n = len(model._train_users)
    adv = model._adversary
    if adv is None:
        return DPSGD(net, opt, n, c.batch_size, epochs, c, unit="user")
    per_epoch = -(-n // min(c.batch_size, n))
    dp = DPSGD(net, opt, n, c.batch_size, epochs, c, unit="user",
               shared_steps=c.adv_epochs * c.adv_steps * per_epoch)
    heads = copy.deepcopy(adv.heads)  # trained privately; copied into the adversary after each step
    head_opt = torch.optim.AdamW(heads.parameters(), lr=c.adv_head_lr, weight_decay=c.adv_head_l2)
    model._dp_heads = DPSGD(Heads(heads), head_opt, n, c.batch_size, epochs, c, unit="user",
                            noise_multiplier=float(dp.optimizer.noise_multiplier))
    dp.partners.append(model._dp_heads)
    adv.heads.requires_grad_(False)  # a mirror read by the confusion term, never stepped itself
    return dp


def _dense(model: MultVAE, users: np.ndarray, dropout: float, generator: torch.Generator
           ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(input rows, binary target rows)`` of ``users``: dropped out and L2-normalised inputs."""
    assert model._seen is not None
    sub = model._seen[users]
    deg = np.diff(sub.indptr)
    dense = torch.zeros(len(users), model.n_items)
    row_of = torch.from_numpy(np.repeat(np.arange(len(users)), deg))
    dense[row_of, torch.from_numpy(sub.indices.astype(np.int64))] = 1.0
    target = dense.clone()
    if dropout > 0:
        dense = dense * (torch.rand(dense.shape, generator=generator) >= dropout) / (1.0 - dropout)
    dense = dense / torch.from_numpy(np.sqrt(np.maximum(deg, 1)).astype(np.float32)).unsqueeze(1)
    return dense, target


def _head_step(model: MultVAE, generator: torch.Generator) -> float:
    """One private step of the heads on a Poisson batch of users' (detached) encoder means."""
    adv, engine, vae = model._adversary, model._dp_heads, model._dp.module._module  # type: ignore[union-attr]
    assert adv is not None and engine is not None
    users_all = model._train_users

    def losses(net: nn.Module, ids: torch.Tensor) -> torch.Tensor:
        users = users_all[ids]
        with torch.no_grad():  # no gradient, so the recommender engine's hooks record nothing
            dense, _ = _dense(model, users.numpy(), 0.0, generator)
            means = vae.encode(dense)[0]  # no decoder pass: the heads read the means only
        per = means.new_zeros(len(users))
        for name, logits in zip(adv.names, net(means)):
            lab = adv.labels[name][users]
            per = per + F.cross_entropy(logits, lab.clamp(min=0), reduction="none") * (lab >= 0)
        return per / len(adv.names)

    loss = engine.step(losses)
    with torch.no_grad():
        for mirror, trained in zip(adv.heads.parameters(), engine.module._module.heads.parameters()):
            mirror.copy_(trained)
    return loss


def _confusion(model: MultVAE, mu: torch.Tensor, users: torch.Tensor) -> torch.Tensor:
    """Per-user confusion: ``adv_weight`` x the mean over attributes of CE(target, head(mu)) for
    users with a value, the target being the heads' answer for the zero representation."""
    adv = model._adversary
    assert adv is not None
    per = mu.new_zeros(len(users))
    for name, head in adv.heads.items():
        target = F.softmax(head(mu.new_zeros(1, mu.shape[1])), dim=1).detach()
        known = (adv.labels[name][users] >= 0).to(mu.dtype)
        per = per - (F.log_softmax(head(mu), dim=1) * target).sum(1) * known
    return adv.weight * per / len(adv.names)


def dp_epoch(model: MultVAE, epoch: int, generator: torch.Generator) -> dict[str, float]:
    """One private epoch over Poisson-sampled users (against the heads in adversarial epochs);
    copies the dense layer back into the model."""
    dp, c = model._dp, model.config
    assert dp is not None
    users_all = model._train_users
    hide = adversary_active(model._adversary, c, epoch)
    head_losses: list[float] = []

    def losses(net: nn.Module, ids: torch.Tensor) -> torch.Tensor:
        users = users_all[ids]
        dense, target = _dense(model, users.numpy(), c.dropout, generator)
        noise = torch.randn(len(users), model.net.latent, generator=generator)
        logp, mu, logvar = net(dense, noise)
        nll = -(logp * target).sum(1)
        kl = (0.5 * (logvar.exp() + mu.square() - 1.0 - logvar)).sum(1)
        beta = model.beta()
        model.updates += 1
        per = nll + beta * kl
        return per + _confusion(model, mu, users) if hide else per

    if hide:  # adv_steps private head steps before each recommender step
        steps = len(dp.loader)
        loss = 0.0
        for _ in range(steps):
            head_losses.extend(_head_step(model, generator) for _ in range(c.adv_steps))
            loss += dp.step(losses) / steps
    else:
        loss = dp.epoch(losses)
    inner = dp.module._module
    with torch.no_grad():
        model.net.item_in.copy_(inner.first.weight.T)
        model.net.bias_in.copy_(inner.first.bias)
    model.privacy_ = dp.record()
    out = {"loss": loss, "beta": model.beta(), "epsilon": model.privacy_["epsilon"]}
    return {**out, "adv_head_loss": float(np.mean(head_losses))} if head_losses else out
