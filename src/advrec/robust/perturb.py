"""Perturbation attacks on learned embeddings: FGSM, PGD and a random control.

A fitted model with the ``embeddings`` capability scores users with vectors ``U`` (users x d)
and ``I`` (items x d) through its own rule ``model.score_embeddings(U, I)``. The attacks add
``Delta`` to the attacked side(s) under an L2 budget ``eps`` **per row** (each user's and each
item's vector moves by at most ``eps``), the normalisation of APR (He et al., "Adversarial
Personalized Ranking for Recommendation", SIGIR 2018, whose code normalises the gradient of each
embedding row): ``eps`` here means what it means in APR's training, so a model trained with APR
is measured against its own threat.

``fgsm``
    ``Delta = eps * G / ||G||`` row by row, ``G`` the gradient of the BPR loss with respect to
    the embedding matrices. The BPR loss is taken over every training pair ``(u, i)`` once, each
    with one uniformly sampled non-interacted item ``j`` (seeded):
    ``mean[-ln sigmoid(s(u, i) - s(u, j))]``. Rows with a zero gradient (no training pair
    reaches them) are not moved.
``pgd``
    ``steps`` signed-gradient steps of size ``alpha`` (default ``2.5 * eps / steps``, the choice
    of Madry et al. 2018, so the walk can reach the boundary from any direction), each followed
    by a projection of every row back onto the ``eps``-ball; it starts at zero and uses the same
    sampled triples at every step (one fixed objective).
``random``
    Gaussian noise rescaled to norm ``eps`` in every row: the control of the APR paper.

For LightGCN the propagated final embeddings (what ``embeddings()`` returns and the model
scores with) are perturbed, not the ego (layer-0) embeddings. Item biases, where a model has
them, are not perturbed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.eval.evaluator import Evaluator
from advrec.eval.result import EvalResult
from advrec.models.base import Recommender
from advrec.models.sampling import NegativeSampler

__all__ = ["ATTACKS", "TARGETS", "PerturbResult", "bpr_triples", "embedding_perturbation", "perturb_evaluate",
           "relative_drop", "row_normalize"]

#: the perturbation attacks
ATTACKS: tuple[str, ...] = ("fgsm", "pgd", "random")
#: which embeddings an attack moves
TARGETS: tuple[str, ...] = ("both", "users", "items")
#: ranking metrics of a perturbation evaluation (beyond-accuracy ones do not measure a loss)
PERTURB_METRICS: tuple[str, ...] = ("precision", "recall", "ndcg", "mrr", "hitrate")
#: cells (users x items) of one score matrix while computing the BPR gradient
_CHUNK_CELLS = 1 << 23

Attack = Literal["fgsm", "pgd", "random"]
Target = Literal["both", "users", "items"]


@dataclass
class PerturbResult:
    """Clean and perturbed evaluation of one model under one attack."""

    attack: str
    eps: float
    steps: int
    target: str
    clean: EvalResult = field(repr=False)
    perturbed: EvalResult = field(repr=False)

    @property
    def relative_drop(self) -> dict[str, float | None]:
        """``(clean - perturbed) / clean`` per metric (positive for a loss; None where clean is 0)."""
        return relative_drop(self.clean.summary, self.perturbed.summary)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly: attack settings, ``clean``, ``perturbed`` and ``relative_drop`` by metric."""
        from advrec.experiments.evaluations import clean_summary

        return {"attack": self.attack, "eps": self.eps, "steps": self.steps, "target": self.target,
                "clean": clean_summary(self.clean.summary), "perturbed": clean_summary(self.perturbed.summary),
                "relative_drop": self.relative_drop, "n_users": self.clean.n_evaluated}


def relative_drop(clean: dict[str, float], perturbed: dict[str, float]) -> dict[str, float | None]:
    """``(clean[m] - perturbed[m]) / clean[m]`` for every metric of both (None where undefined)."""
    out: dict[str, float | None] = {}
    for key, before in clean.items():
        after = perturbed.get(key)
        ok = after is not None and np.isfinite(before) and np.isfinite(after) and before != 0
        out[key.lower()] = float((before - after) / before) if ok else None  # type: ignore[operator]
    return out


def row_normalize(g: torch.Tensor, eps: float) -> torch.Tensor:
    """Every row of ``g`` rescaled to L2 norm ``eps`` (zero rows stay zero)."""
    norms = g.norm(dim=1, keepdim=True)
    return torch.where(norms > 0, g * (eps / norms.clamp_min(torch.finfo(g.dtype).tiny)), torch.zeros_like(g))


def _project(delta: torch.Tensor, eps: float) -> torch.Tensor:
    """Rows of ``delta`` longer than ``eps`` shortened to ``eps`` (the per-row L2 ball)."""
    norms = delta.norm(dim=1, keepdim=True)
    return delta * torch.clamp(eps / norms.clamp_min(torch.finfo(delta.dtype).tiny), max=1.0)


def bpr_triples(seen: sp.spmatrix, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every training pair once, user-major, each with one seeded uniform negative item.

    Users who have every item (no negative exists) are left out.
    """
    sampler = NegativeSampler(seen)
    users, items = sampler.pair_users, sampler.pair_items
    ok = sampler.n_negatives[users] > 0
    users, items = users[ok], items[ok]
    gen = torch.Generator().manual_seed(int(seed))
    return users, items, sampler.sample(users, gen)


def _user_chunks(users: torch.Tensor, n_items: int) -> Iterator[tuple[int, int, int, int]]:
    """``(first user, end user, first triple, end triple)`` of user-major triples, bounded in cells."""
    n_users = int(users.max()) + 1 if len(users) else 0
    step = max(1, _CHUNK_CELLS // max(n_items, 1))
    bounds = torch.searchsorted(users, torch.arange(0, n_users + step, step)).tolist()
    for k in range(len(bounds) - 1):
        if bounds[k] < bounds[k + 1]:
            yield k * step, min((k + 1) * step, n_users), bounds[k], bounds[k + 1]


def bpr_gradient(model: Recommender, user_vectors: torch.Tensor, item_vectors: torch.Tensor,
                 triples: tuple[torch.Tensor, torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Gradient of the mean BPR loss over ``triples`` with respect to the user and item vectors.

    Scores come from ``model.score_embeddings`` (the model's own rule), a chunk of users at a time.
    """
    u_all, i_all, j_all = (t.to(user_vectors.device) for t in triples)
    uv = user_vectors.detach().clone().requires_grad_(True)
    iv = item_vectors.detach().clone().requires_grad_(True)
    n = max(len(u_all), 1)
    with torch.enable_grad():
        for lo, hi, a, b in _user_chunks(triples[0], len(iv)):
            scores = model.score_embeddings(uv[lo:hi], iv)
            rows = u_all[a:b] - lo
            x = scores[rows, i_all[a:b]] - scores[rows, j_all[a:b]]
            (torch.nn.functional.softplus(-x).sum() / n).backward()
    zero = torch.zeros_like
    return (uv.grad if uv.grad is not None else zero(uv)), (iv.grad if iv.grad is not None else zero(iv))


def embedding_perturbation(
    model: Recommender,
    train: Interactions | sp.spmatrix,
    attack: Attack,
    eps: float,
    *,
    steps: int = 10,
    alpha: float | None = None,
    target: Target = "both",
    seed: int = 0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(Delta_users, Delta_items)`` of an attack on ``model.embeddings()``; see the module docs.

    Parameters
    ----------
    model
        A fitted model with the ``embeddings`` capability.
    train
        What the model was fit on (the BPR triples of ``fgsm`` / ``pgd`` come from it).
    attack, eps
        ``"fgsm"``, ``"pgd"`` or ``"random"``; the L2 budget of every embedding row (>= 0).
    steps, alpha
        PGD: number of steps and step size (default ``2.5 * eps / steps``).
    target
        ``"both"``, ``"users"`` or ``"items"``: the side(s) moved; the other gets zeros.
    seed
        Seed of the sampled negatives (``fgsm``, ``pgd``) or of the noise (``random``).

    Raises
    ------
    CapabilityError
        If the model has no ``embeddings``.
    ConfigError
        For an unknown attack or target, ``eps < 0``, ``steps < 1`` or ``alpha <= 0``.
    """
    model.require("embeddings")
    _check_settings(attack, eps, steps, alpha, target)
    uv, iv = model.embeddings()
    if attack == "random":
        gen = torch.Generator().manual_seed(int(seed))
        du = row_normalize(torch.randn(uv.shape, generator=gen).to(uv), eps)
        di = row_normalize(torch.randn(iv.shape, generator=gen).to(iv), eps)
        return _keep(du, di, target)
    seen = train.binary_csr if isinstance(train, Interactions) else sp.csr_matrix(train)
    triples = bpr_triples(seen, seed)
    if attack == "fgsm":
        gu, gi = bpr_gradient(model, uv, iv, triples)
        return _keep(row_normalize(gu, eps), row_normalize(gi, eps), target)
    step = alpha if alpha is not None else 2.5 * eps / steps
    du, di = _keep(torch.zeros_like(uv), torch.zeros_like(iv), target)
    for _ in range(steps):
        gu, gi = bpr_gradient(model, uv + du, iv + di, triples)
        du, di = _keep(_project(du + row_normalize(gu, step), eps), _project(di + row_normalize(gi, step), eps),
                       target)
    return du, di


def _keep(du: torch.Tensor, di: torch.Tensor, target: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the side(s) an attack on ``target`` does not move."""
    return (du if target != "items" else torch.zeros_like(du)), (di if target != "users" else torch.zeros_like(di))


def _check_settings(attack: str, eps: float, steps: int, alpha: float | None, target: str) -> None:
    if attack not in ATTACKS:
        raise ConfigError(f"attack must be one of {list(ATTACKS)}, got {attack!r}")
    if target not in TARGETS:
        raise ConfigError(f"target must be one of {list(TARGETS)}, got {target!r}")
    if not np.isfinite(eps) or eps < 0:
        raise ConfigError(f"eps must be a finite number >= 0, got {eps!r}")
    if int(steps) != steps or steps < 1:
        raise ConfigError(f"steps must be a positive integer, got {steps!r}")
    if alpha is not None and not (np.isfinite(alpha) and alpha > 0):
        raise ConfigError(f"alpha must be a positive number, got {alpha!r}")


def perturb_evaluate(
    model: Recommender,
    train: Interactions,
    test: Interactions,
    *,
    attack: Attack = "fgsm",
    eps: float = 0.5,
    steps: int = 10,
    alpha: float | None = None,
    target: Target = "both",
    ks: Iterable[int] = (20,),
    seed: int = 0,
    metrics: Iterable[str] = PERTURB_METRICS,
    show_progress: bool = False,
    clean: EvalResult | None = None,
) -> PerturbResult:
    """Full-ranking metrics on ``test`` before and after an embedding attack (training items excluded).

    Clean scores are ``model.score``; perturbed ones ``model.score_embeddings(U + dU, I + dI)``;
    both go through one :class:`~advrec.eval.evaluator.Evaluator` pass over the users.

    Parameters
    ----------
    model, train, test
        A fitted model with ``embeddings``, what it was fit on, and the held-out interactions.
    attack, eps, steps, alpha, target, seed
        As :func:`embedding_perturbation`.
    ks, metrics, show_progress
        Cutoffs, ranking metrics and a progress bar of the evaluation.
    clean
        The clean result of an earlier call on the same model, data, ``ks`` and ``metrics``:
        only the perturbed scores are then ranked (several attacks cost one clean ranking).

    Returns
    -------
    PerturbResult
        ``clean`` and ``perturbed`` results and their ``relative_drop``.
    """
    du, di = embedding_perturbation(model, train, attack, eps, steps=steps, alpha=alpha, target=target, seed=seed)
    uv, iv = model.embeddings()
    pu, pi = uv + du, iv + di

    def variants(chunk: np.ndarray) -> Iterator[tuple[str, torch.Tensor]]:
        if clean is None:
            yield "clean", model.score(chunk)
        with torch.no_grad():
            idx = torch.from_numpy(chunk).to(pu.device)
            yield "perturbed", model.score_embeddings(pu.index_select(0, idx), pi)

    ev = Evaluator(ks, metrics, beyond=False, show_progress=show_progress)
    got = ev.evaluate_variants(model, train, test, variants)
    return PerturbResult(attack, float(eps), int(steps) if attack == "pgd" else 1, target,
                         got["clean"] if clean is None else clean, got["perturbed"])
