"""DP-SGD training of Mult-VAE (:mod:`advrec.train.dp`): one example per user, a per-user guarantee.

The encoder's first layer reads sparse rows through ``embedding_bag`` in non-private training,
which Opacus cannot clip per example; a private fit runs the same network with that layer as a
dense ``nn.Linear`` over the user's (L2-normalised, dropped-out) row, whose per-user gradient
norms Opacus' ghost clipping computes without materialising them. The other layers are the
model's own modules. After each epoch the dense layer's weights are copied back, so scoring and
saving are those of the non-private model. The KL weight anneals per step as in non-private
training (a schedule fixed in advance, data-independent).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

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

    def forward(self, rows: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        h = self.first(rows)
        out = self.encoder(torch.tanh(h)) if self.hidden_act else h
        mu, logvar = out[:, : self.latent], out[:, self.latent:]
        z = mu + noise * torch.exp(0.5 * logvar)
        return F.log_softmax(self.decoder(z), dim=1), mu, logvar


def build_dp(model: MultVAE, epochs: int) -> DPSGD:
    """The DP-SGD engine of a Mult-VAE fit whose network was just initialised."""
    c = model.config
    net = DenseVAE(model)
    opt = (torch.optim.Adam(net.parameters(), lr=c.lr, weight_decay=c.l2) if c.optimizer == "adam"
           else torch.optim.SGD(net.parameters(), lr=c.lr, weight_decay=c.l2))
    return DPSGD(net, opt, len(model._train_users), c.batch_size, epochs, c, unit="user")


def dp_epoch(model: MultVAE, generator: torch.Generator) -> dict[str, float]:
    """One private epoch over Poisson-sampled users; copies the dense layer back into the model."""
    dp, c = model._dp, model.config
    assert dp is not None and model._seen is not None
    users_all = model._train_users

    def losses(net: nn.Module, ids: torch.Tensor) -> torch.Tensor:
        users = users_all[ids].numpy()
        sub = model._seen[users]
        deg = np.diff(sub.indptr)
        dense = torch.zeros(len(users), model.n_items)
        row_of = torch.from_numpy(np.repeat(np.arange(len(users)), deg))
        cols = torch.from_numpy(sub.indices.astype(np.int64))
        dense[row_of, cols] = 1.0
        target = dense.clone()
        if c.dropout > 0:
            dense = dense * (torch.rand(dense.shape, generator=generator) >= c.dropout) / (1.0 - c.dropout)
        dense = dense / torch.from_numpy(np.sqrt(np.maximum(deg, 1)).astype(np.float32)).unsqueeze(1)
        noise = torch.randn(len(users), model.net.latent, generator=generator)
        logp, mu, logvar = net(dense, noise)
        nll = -(logp * target).sum(1)
        kl = (0.5 * (logvar.exp() + mu.square() - 1.0 - logvar)).sum(1)
        beta = model.beta()
        model.updates += 1
        return nll + beta * kl

    loss = dp.epoch(losses)
    inner = dp.module._module
    with torch.no_grad():
        model.net.item_in.copy_(inner.first.weight.T)
        model.net.bias_in.copy_(inner.first.bias)
    model.privacy_ = dp.record()
    return {"loss": loss, "beta": model.beta(), "epsilon": model.privacy_["epsilon"]}
