"""DP-SGD training of BPR-MF (:mod:`advrec.train.dp`): the autograd network Opacus clips.

The closed-form gradients of :class:`~advrec.models.bpr.BPRMF` stay for non-private training;
a private fit runs this ``nn.Module`` instead, one example per training interaction (a
per-interaction guarantee). Two things differ from the non-private loss, both so that the
guarantee holds as stated: the negative item of each example is drawn uniformly from all items
(sampling it among the user's non-items would make one example depend on the user's other
records), and ``l2`` acts as the optimiser's weight decay (a data-independent step after the
noise) instead of a per-triple penalty, which would enter the clipped gradients. The decay is
scaled to the per-triple penalty's mean strength, so that ``l2`` means what it means without
privacy: a triple penalises its user row and two item rows, so a row's expected penalty gradient in
the mean loss of a batch is ``2 * l2 * p`` times its expected share of the batch, ``1 / n_users``
for a user row and ``2 / n_items`` for an item row (and bias); the full ``l2`` as weight decay on
every row at every step would be hundreds of times stronger and shrink the embeddings to zero,
leaving the item bias (popularity) alone to rank.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
from torch import nn
from torch.nn import functional as F

from advrec.train.dp import DPSGD

if TYPE_CHECKING:
    from advrec.models.bpr import BPRMF


class BPRNet(nn.Module):
    """``s(u, i) - s(u, j)`` of BPR-MF over embedding tables (what Opacus' ghost clipping reads)."""

    def __init__(self, user_emb: torch.Tensor, item_emb: torch.Tensor, item_bias: torch.Tensor | None) -> None:
        super().__init__()
        self.user = nn.Embedding.from_pretrained(user_emb.detach().clone(), freeze=False)
        self.item = nn.Embedding.from_pretrained(item_emb.detach().clone(), freeze=False)
        self.bias = (None if item_bias is None else
                     nn.Embedding.from_pretrained(item_bias.detach().clone().unsqueeze(1), freeze=False))

    def forward(self, u: torch.Tensor, i: torch.Tensor, j: torch.Tensor) -> torch.Tensor:
        items = torch.stack([i, j], 1).contiguous()
        s = (self.user(u.contiguous()).unsqueeze(1) * self.item(items)).sum(-1)
        if self.bias is not None:
            s = s + self.bias(items).squeeze(-1)
        return s[:, 0] - s[:, 1]


def build_dp(model: BPRMF, epochs: int) -> DPSGD:
    """The DP-SGD engine of a BPR-MF fit whose parameters were just initialised."""
    c = model.config
    net = BPRNet(model.user_emb, model.item_emb, model.item_bias)
    items = [net.item.weight] + ([] if net.bias is None else [net.bias.weight])
    groups = [{"params": [net.user.weight], "weight_decay": 2.0 * c.l2 / model.n_users},
              {"params": items, "weight_decay": 4.0 * c.l2 / model.n_items}]  # the per-triple penalty's mean
    opt = (torch.optim.Adam(groups, lr=c.lr) if c.optimizer == "adam" else torch.optim.SGD(groups, lr=c.lr))
    users, items = (torch.from_numpy(a.astype("int64")) for a in model._pairs)
    model._dp_pairs = (users, items)
    return DPSGD(net, opt, len(users), c.batch_size, epochs, c, unit="interaction")


def dp_epoch(model: BPRMF, generator: torch.Generator) -> dict[str, float]:
    """One private epoch; copies the trained tables back into the model's parameters."""
    dp = model._dp
    assert dp is not None
    users, items = model._dp_pairs
    n_items = model.n_items

    def losses(net: nn.Module, ids: torch.Tensor) -> torch.Tensor:
        j = torch.randint(0, n_items, (len(ids),), generator=generator)
        return F.softplus(-net(users[ids], items[ids], j))

    loss = dp.epoch(losses)
    net = dp.module._module  # the BPRNet inside Opacus' wrapper
    with torch.no_grad():
        model.user_emb.copy_(net.user.weight)
        model.item_emb.copy_(net.item.weight)
        if model.item_bias is not None and net.bias is not None:
            model.item_bias.copy_(net.bias.weight[:, 0])
    model.privacy_ = dp.record()
    return {"loss": loss, "epsilon": model.privacy_["epsilon"]}
