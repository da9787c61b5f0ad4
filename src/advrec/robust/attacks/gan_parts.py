"""The pieces of the GAN attack (:mod:`advrec.robust.attacks.gan`): the template-based
profile generator, the profile discriminator and the differentiable ridge surrogate.

Everything here is plain torch on dense ``users x items`` matrices; the attack stage glues
them into a training loop.
"""

from __future__ import annotations

import torch
from torch import nn

from advrec.errors import ConfigError


def straight_through_topk(logits: torch.Tensor, k: int, temperature: float) -> torch.Tensor:
    """Exactly ``k`` ones per row (the row's ``k`` largest logits) in the forward pass, with the
    gradient of the relaxation ``sigmoid((logits - t) / temperature)`` where ``t`` is the midpoint
    between each row's ``k``-th and ``(k+1)``-th logit (a straight-through estimator).

    Parameters
    ----------
    logits
        ``(rows, items)`` selection logits; ``-inf`` marks items that may not be chosen.
    k
        Items per row (at most the number of finite logits of every row).
    temperature
        Softness of the relaxation.

    Returns
    -------
    torch.Tensor
        ``(rows, items)`` float tensor whose values are exactly 0 or 1.
    """
    if k == 0:
        return torch.zeros_like(logits)
    top = torch.topk(logits, min(k + 1, logits.shape[1]), dim=1)
    hard = torch.zeros_like(logits).scatter_(1, top.indices[:, :k], 1.0)
    kth = top.values[:, k - 1]
    nxt = top.values[:, k] if top.values.shape[1] > k else kth - 1.0
    nxt = torch.where(torch.isfinite(nxt), nxt, kth - 1.0)
    thr = (0.5 * (kth + nxt)).detach()
    soft = torch.sigmoid((logits - thr[:, None]) / temperature)
    soft = torch.nan_to_num(soft, nan=0.0)
    return hard + (soft - soft.detach())  # exactly ``hard`` forward


def round_to_levels(x: torch.Tensor, levels: torch.Tensor) -> torch.Tensor:
    """``x`` rounded to the nearest of the sorted ``levels`` in the forward pass, identity gradient."""
    idx = torch.bucketize(x.detach(), levels).clamp(1, len(levels) - 1)
    lo, hi = levels[idx - 1], levels[idx]
    nearest = torch.where((x.detach() - lo) <= (hi - x.detach()), lo, hi)
    return x + (nearest - x).detach()


class ProfileGenerator(nn.Module):
    """Template-conditioned generator of filler selections and filler ratings (AUSH-style).

    Each fake user starts from a real template profile ``t`` (values scaled to ``(0, 1]``, 0 for
    items the template has not rated). An MLP of ``t`` outputs a selection logit per item, added
    to ``template_weight * [t > 0]`` so that, untrained, a fake user picks its fillers among its
    template's items (as AUSH does), and a rating logit added to the logit of a base rating
    (the template's own rating on the scale's ``[0, 1]``, the data's mean elsewhere).

    Parameters
    ----------
    n_items
        Catalogue size.
    hidden
        Width of the hidden layer.
    allowed
        Boolean ``(n_items,)`` mask of the items that may be fillers.
    """

    def __init__(self, n_items: int, hidden: int, allowed: torch.Tensor) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_items, hidden), nn.Tanh())
        self.select = nn.Linear(hidden, n_items)
        self.rate = nn.Linear(hidden, n_items)
        for head in (self.select, self.rate):  # untrained: the template decides
            nn.init.normal_(head.weight, std=0.01)
            nn.init.zeros_(head.bias)
        self.template_weight = nn.Parameter(torch.tensor(1.0))
        self.register_buffer("blocked", ~allowed)

    def forward(self, template: torch.Tensor, base: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Selection logits (``-inf`` on blocked items) and ratings in ``(0, 1)`` of the scale."""
        h = self.body(template)
        rated = (template > 0).to(template.dtype)
        logits = self.select(h) + self.template_weight * rated
        logits = logits.masked_fill(self.blocked, float("-inf"))
        ratings = torch.sigmoid(torch.logit(base.clamp(0.05, 0.95)) + self.rate(h))
        return logits, ratings


class ProfileDiscriminator(nn.Module):
    """MLP that gives a real-vs-fake logit for each profile vector."""

    def __init__(self, n_items: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(n_items, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, profiles: torch.Tensor) -> torch.Tensor:
        """One logit per row."""
        return self.net(profiles).squeeze(1)


class RidgeSurrogate:
    """Closed-form ridge item-item recommender refit on real + fake profiles, differentiable
    in the fake profiles.

    With ``G = X^T X`` over the real and fake rows and ``A = X_r^T X_r + l2 I`` (real rows only),
    the weights are ``W = (G + l2 I)^-1 G = I - l2 M`` with ``M = (A + F^T F)^-1``. By the
    Woodbury identity ``M = A^-1 - A^-1 F^T (I + F A^-1 F^T)^-1 F A^-1``, so after one inverse of
    ``A`` every refit costs products with the ``n_fake`` fake rows ``F`` and a small
    ``n_fake x n_fake`` solve. A user's scores are ``x_u W``; on the items the user has not
    interacted with they equal ``-l2 x_u M`` (seen items are masked anyway).

    Parameters
    ----------
    real
        ``(n_real, n_items)`` binary matrix of all real users (fits ``A``).
    users
        Indices of the real users whose top-``k`` lists the attack objective looks at.
    targets
        Target item indices.
    l2
        Ridge penalty.
    k
        List length of the objective.
    """

    def __init__(self, real: torch.Tensor, users: torch.Tensor, targets: torch.Tensor, l2: float, k: int) -> None:
        n_items = real.shape[1]
        gram = (real.T.double() @ real.double()) + l2 * torch.eye(n_items, dtype=torch.float64)
        self.a_inv = torch.cholesky_inverse(torch.linalg.cholesky(gram)).float()
        masked = real[users] > 0
        masked[:, targets] = True  # competitors of the targets: unseen non-target items
        keep = (~masked).sum(1) >= k  # users with at least k competitors
        if not bool(keep.any()):
            raise ConfigError(f"top_k={k}: no real user has that many unseen non-target items")
        users, masked = users[keep], masked[keep]
        xu = real[users]
        self.p = xu @ self.a_inv
        self.users, self.l2, self.k, self.targets, self.masked = users, l2, k, targets, masked
        self.open = ~(xu[:, targets] > 0)  # (user, target) pairs the objective counts

    def scores(self, fake: torch.Tensor) -> torch.Tensor:
        """``(n_users, n_items)`` surrogate scores of the objective's users (unseen items)."""
        q = fake @ self.a_inv
        small = torch.eye(fake.shape[0], dtype=fake.dtype) + q @ fake.T
        correction = (self.p @ fake.T) @ torch.linalg.solve(small, q)
        return -self.l2 * (self.p - correction)

    def loss(self, fake: torch.Tensor) -> tuple[torch.Tensor, float]:
        """CW-style margin loss and the surrogate hit rate of the targets.

        The loss is the mean over open (user, target) pairs of ``max(0, s_K - s_t)``, where
        ``s_K`` is the user's ``K``-th highest score among unseen non-target items and ``s_t``
        the target's score, divided by the mean ``|s_K|`` (no gradient) so that it is scale-free.
        The hit rate is the fraction of open pairs with ``s_t > s_K`` (target in the top-``K``).
        """
        s = self.scores(fake)
        kth = torch.topk(s.masked_fill(self.masked, float("-inf")), self.k, dim=1).values[:, -1]
        margin = kth[:, None] - s[:, self.targets]
        scale = kth.abs().mean().detach().clamp_min(1e-12)
        weight = self.open.to(s.dtype)
        n_open = weight.sum().clamp_min(1.0)
        loss = (torch.relu(margin) * weight).sum() / n_open / scale
        hit = float(((margin < 0).to(s.dtype) * weight).sum() / n_open)
        return loss, hit
