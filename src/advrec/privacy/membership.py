"""User-level membership inference: can an attacker tell whether a user's records trained a model?

Protocol of :func:`membership_audit`
------------------------------------
1. The users of the data with at least two records are shuffled by ``seed`` and cut into four
   equal parts: target members ``A``, target non-members ``B`` and a shadow pool ``C + D``
   (users left over by the division are not used).
2. The *target* is a fresh model of the audited model's class and saved hyper-parameters,
   fitted on the records of ``A`` only (the id space is kept: other users simply have no
   records). The saved model itself cannot be audited this way, since every user trained it.
3. Each of ``shadows`` shadow models is the same configuration (seed ``config.seed + 1 + s``)
   fitted on a seeded random half of the pool; the other half of the pool is its non-members.
4. A user ``u`` with records ``H_u`` meets a model ``m`` as a service would meet them: a member
   is scored by the model's own representation (``m.score``), a non-member through
   ``m.fold_in(H_u)``, as a new user. From the score vector ``s`` the signal is
   (a) the mean percentile rank of ``H_u``'s items in ``s``,
   (b) the fraction of ``H_u`` in the top ``|H_u|`` items,
   (c) the mean score of ``H_u``, standardised by the mean and standard deviation of ``s``.
5. Threshold attack: the AUC of feature (a) alone, members positive, on ``A`` against ``B``.
   Shadow attack: a logistic regression on the three features (standardised), trained on the
   in / out users of every shadow model and applied to ``A`` and ``B`` of the target.

Both AUCs carry a 95% percentile-bootstrap interval over the users of ``A + B``
(:mod:`advrec.privacy.auc`); the audit reports the stronger attack. An AUC below 0.5 for the
threshold attack means members look *less* fitted than folded-in non-members (e.g. a fold-in
that fits the new user's history more tightly than training did); the shadow attack learns
the direction from its shadows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.errors import CapabilityError, ConfigError, DataError
from advrec.models.base import Recommender
from advrec.privacy.auc import auc_ci, bootstrap_counts

__all__ = ["FEATURES", "membership_audit", "membership_features", "require_fold_in"]

#: the signal features, in column order
FEATURES = ("percentile", "top_fraction", "standardized_score")
#: users scored per chunk
CHUNK_USERS = 1024
#: the fewest users each of the four parts needs
MIN_PART_USERS = 4


def membership_audit(model: Recommender, data: Interactions, *, seed: int = 0, shadows: int = 2,
                     bootstrap: int = 1000) -> dict[str, Any]:
    """User-level membership-inference audit of a model's class and hyper-parameters (see the module).

    Parameters
    ----------
    model
        A fitted model with the ``fold_in`` capability; its class and ``config`` are refitted.
    data
        Its training data.
    seed
        Seed of the user partition, the shadows' halves and the bootstrap.
    shadows
        Number of shadow models (at least 1).
    bootstrap
        Resamples of the users for the 95% intervals (0: none).

    Returns
    -------
    dict
        ``{"auc", "ci", "attack", "threshold": {"auc", "ci"}, "shadow": {"auc", "ci"}, "level",
        "n_members", "n_non_members", "shadows", "features", "target"}``.

    Raises
    ------
    ConfigError
        If the model lacks the ``fold_in`` capability (non-members could not be scored).
    DataError
        With too few users of at least two records.
    """
    require_fold_in(model)
    if shadows < 1:
        raise ConfigError(f"membership audit: shadows must be at least 1, got {shadows}")
    users = np.flatnonzero(data.user_counts() >= 2)
    part = len(users) // 4
    if part < MIN_PART_USERS:
        raise DataError(f"membership audit: {data.name!r} has {len(users)} users with two or more records; "
                        f"four parts of at least {MIN_PART_USERS} are needed")
    rng = np.random.default_rng(seed)
    perm = rng.permutation(users)
    a, b, pool = np.sort(perm[:part]), np.sort(perm[part:2 * part]), perm[2 * part:4 * part]

    x_shadow, y_shadow = [], []
    for s in range(shadows):
        half = rng.permutation(pool)
        ins, outs = np.sort(half[:part]), np.sort(half[part:])
        shadow = _refit(model, data, ins, model.config.seed + 1 + s)
        x_shadow += [membership_features(shadow, data, ins, member=True),
                     membership_features(shadow, data, outs, member=False)]
        y_shadow += [np.ones(len(ins), np.int64), np.zeros(len(outs), np.int64)]
    target = _refit(model, data, a, model.config.seed)
    x = np.concatenate([membership_features(target, data, a, member=True),
                        membership_features(target, data, b, member=False)])
    y = np.r_[np.ones(len(a), np.int64), np.zeros(len(b), np.int64)]

    counts = bootstrap_counts(len(y), bootstrap, seed)
    t_auc, t_ci = auc_ci(x[:, 0], y, bootstrap=bootstrap, seed=seed, counts=counts)
    attacker = _shadow_attacker(np.concatenate(x_shadow), np.concatenate(y_shadow), seed)
    s_auc, s_ci = auc_ci(attacker.predict_proba(x)[:, 1], y, bootstrap=bootstrap, seed=seed, counts=counts)
    best = "shadow" if _finite(s_auc) > _finite(t_auc) else "threshold"
    auc, ci = (s_auc, s_ci) if best == "shadow" else (t_auc, t_ci)
    return {"auc": auc, "ci": ci, "attack": best, "threshold": {"auc": t_auc, "ci": t_ci},
            "shadow": {"auc": s_auc, "ci": s_ci}, "level": "user", "n_members": len(a),
            "n_non_members": len(b), "shadows": int(shadows), "features": list(FEATURES),
            "target": f"{model.name} refit on a quarter of the users with the saved hyper-parameters"}


def require_fold_in(model: Recommender) -> None:
    """Raise :class:`ConfigError` naming the missing ``fold_in`` capability (non-members are folded in)."""
    try:
        model.require("fold_in")
    except CapabilityError as exc:
        raise ConfigError(f"the membership audit needs the fold_in capability to score non-members as new "
                          f"users: {exc}") from None


def _finite(v: float) -> float:
    return v if np.isfinite(v) else -np.inf


def _refit(model: Recommender, data: Interactions, users: np.ndarray, seed: int) -> Recommender:
    """A fresh model of ``model``'s class and hyper-parameters (seed ``seed``) fit on ``users``' records."""
    keep = np.zeros(data.n_users, bool)
    keep[users] = True
    update: dict[str, Any] = {"seed": seed}
    if "checkpoint_dir" in type(model.config).model_fields:  # never resume from / write over the saved run's
        update["checkpoint_dir"] = None
    config = model.config.model_copy(update=update)
    return type(model)(config).fit(data.subset(keep[data.users]))


def membership_features(model: Recommender, data: Interactions, users: np.ndarray, *, member: bool) -> np.ndarray:
    """``(len(users), 3)`` float64 signal of ``users`` (columns :data:`FEATURES`) for ``model``.

    Members are scored with ``model.score``, non-members by ``model.fold_in`` of their rows of
    ``data``; ties in the ranking are broken by item index (lower first).
    """
    history = data.binary_csr
    out = []
    for start in range(0, len(users), CHUNK_USERS):
        chunk = users[start:start + CHUNK_USERS]
        rows = history[chunk]
        scores = model.score(chunk) if member else model.fold_in(rows)
        out.append(_signal(scores.detach().cpu().to(torch.float64), rows))
    return np.concatenate(out) if out else np.zeros((0, len(FEATURES)))


def _signal(scores: torch.Tensor, rows: sp.csr_matrix) -> np.ndarray:
    """The three features of each row of ``scores`` for the items of the matching row of ``rows``."""
    n, n_items = scores.shape
    scores = torch.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)
    order = torch.argsort(scores, dim=1, stable=True)  # ascending; ties: lower item index first
    rank = torch.empty_like(order)
    rank.scatter_(1, order, torch.arange(n_items).expand(n, n_items).contiguous())
    size = np.diff(rows.indptr)
    r = torch.from_numpy(np.repeat(np.arange(n), size))
    c = torch.from_numpy(rows.indices.astype(np.int64))
    pct = rank[r, c].to(torch.float64) / max(n_items - 1, 1)  # 1.0: the best-scored item
    top = (rank[r, c] >= n_items - torch.from_numpy(size)[r]).to(torch.float64)
    z = (scores - scores.mean(dim=1, keepdim=True)) / scores.std(dim=1, keepdim=True).clamp_min(1e-12)
    zs = z[r, c]
    denom = torch.from_numpy(np.maximum(size, 1)).to(torch.float64)

    def mean(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(n, dtype=torch.float64).index_add_(0, r, v) / denom

    return torch.stack([mean(pct), mean(top), mean(zs)], dim=1).numpy()


def _shadow_attacker(x: np.ndarray, y: np.ndarray, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if len(np.unique(y)) < 2:
        raise DataError("membership audit: the shadow models gave only one class of users")
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed)).fit(x, y)
