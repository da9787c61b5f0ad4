"""Augmentation: a data stage that adds generated interactions for sparse users before the fit.

In the spirit of AugCF (Wang et al., KDD 2019): a generator (``usergan``, its ablation, or any
model, e.g. EASE^R for the simple "add each user's top items" augmentation) is fit on the
training part; for the chosen users it proposes the ``per_user`` best items they do not have,
keeping those scored at least ``threshold``; the proposals are added to the training part as
:attr:`Split.generated <advrec.data.splits.Split.generated>` records, so every downstream model
fits on real + generated data while evaluation still treats the generated items as candidates
and groups users by their real activity. The record gives what was added and the mode-collapse
diagnostics of the generated interactions against the real ones.

TOML::

    [[data]]
    name = "aug-usergan"
    kind = "augment"
    generator = "usergan"
    params = {epochs = 60}
    per_user = 10
    users = "sparsest:0.25"
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import Field, field_validator

from advrec.data.splits import Split
from advrec.eval.groups import sparsest_users
from advrec.experiments.stage_base import DataStage, StageParams, records_like
from advrec.gan.diagnostics import mean_pairwise_distance, popularity_js
from advrec.models.foldin import row_chunks


class AugmentParams(StageParams):
    """Parameters of :class:`Augment`."""

    generator: str = "usergan"
    """Registered model that proposes the items (fit on the training part with ``params``)."""
    params: dict[str, Any] = Field(default_factory=dict)
    """The generator's hyper-parameters (its class defaults for the rest; its seed is the run's)."""
    per_user: int = Field(10, ge=1)
    """Items added per chosen user (fewer where fewer pass ``threshold``)."""
    users: str = "sparsest:0.25"
    """Who gets generated items: ``"all"`` training users, or ``"sparsest:F"``, the fraction F of
    them with the fewest training interactions."""
    threshold: float | None = None
    """Smallest generator score of an added item (on the generator's own scale, e.g. usergan's
    probability); None adds the ``per_user`` best whatever their score."""

    @field_validator("users")
    @classmethod
    def _users_ok(cls, v: str) -> str:
        parse_users(v)
        return v


def parse_users(rule: str) -> float:
    """The fraction of users a ``users`` rule selects: ``"all"`` -> 1.0, ``"sparsest:F"`` -> F."""
    if rule == "all":
        return 1.0
    head, _, frac = rule.partition(":")
    try:
        f = float(frac)
    except ValueError:
        f = -1.0
    if head != "sparsest" or not 0.0 < f <= 1.0:
        raise ValueError(f"users must be 'all' or 'sparsest:F' with F in (0, 1], got {rule!r}")
    return f


class Augment(DataStage):
    """Generated interactions for the sparsest (or all) training users, added to the training part."""

    kind = "augment"
    params_class = AugmentParams
    params: AugmentParams

    def apply(self, split: Split, seed: int) -> tuple[Split, dict[str, Any]]:
        from advrec.models.registry import create

        p, train = self.params, split.train
        t0 = time.perf_counter()
        generator = create(p.generator, **{**p.params, "seed": seed}).fit(train)
        counts = train.user_counts()
        users = sparsest_users(counts, np.flatnonzero(counts > 0), parse_users(p.users))
        rows, cols = self.propose(generator, users)
        value = float(np.median(train.values)) if len(train) else 1.0
        added = records_like(train, rows, cols, np.full(len(rows), value, np.float32))
        added = replace(added, name=f"{train.name}/generated")
        out = split.with_generated(added, note=f"{self.name}: {p.generator} added {len(rows)} records "
                                                f"for {len(users)} users")
        record = {
            "kind": self.kind, "generator": p.generator, "params": p.model_dump(mode="json"),
            "n_users_augmented": len(users), "records_added": len(rows),
            "generate_seconds": round(time.perf_counter() - t0, 3),
            "diagnostics": diagnostics(train.binary_csr, rows, cols, users),
        }
        return out, record

    def propose(self, generator: Any, users: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The (user, item) indices of the proposals: each user's ``per_user`` best unseen items."""
        p = self.params
        k = min(p.per_user, generator.n_items)
        out_u, out_i = [], []
        for s in row_chunks(len(users), generator.n_items):
            chunk = users[s]
            scores = generator.score(chunk).masked_fill(generator.seen_mask(chunk), float("-inf"))
            top = torch.topk(scores, k, dim=1)
            keep = torch.isfinite(top.values)
            if p.threshold is not None:
                keep &= top.values >= p.threshold
            r, c = torch.nonzero(keep, as_tuple=True)
            out_u.append(chunk[r.numpy()])
            out_i.append(top.indices[r, c].numpy())
        if not out_u:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        return np.concatenate(out_u).astype(np.int64), np.concatenate(out_i).astype(np.int64)


def diagnostics(real: sp.csr_matrix, rows: np.ndarray, cols: np.ndarray, users: np.ndarray) -> dict[str, float]:
    """Mode-collapse signals of the generated interactions of ``users`` (sorted indices) against
    their real ones.

    ``coverage``: share of the catalogue among the generated items (``real_coverage``: among the
    real items of the same users); ``pop_js``: JS divergence of the item-popularity histograms of
    the generated and the real interactions; ``gen_pairwise`` / ``real_pairwise``: mean pairwise
    distance of the users' generated and real 0/1 profiles (low generated distance: every user
    gets the same items).
    """
    n_items = real.shape[1]
    if len(rows) == 0:
        return {"coverage": 0.0, "real_coverage": 0.0, "pop_js": 0.0, "gen_pairwise": 0.0, "real_pairwise": 0.0}
    local = np.searchsorted(users, rows)  # users are sorted
    gen = torch.zeros((len(users), n_items))
    gen[torch.as_tensor(local), torch.as_tensor(np.array(cols))] = 1.0
    mine = torch.from_numpy(real[users].toarray().astype(np.float32))
    sample = slice(0, min(len(users), 2000))
    return {
        "coverage": float(len(np.unique(cols)) / n_items),
        "real_coverage": float(len(np.unique(real[users].indices)) / n_items),
        "pop_js": popularity_js(mine, gen),
        "gen_pairwise": mean_pairwise_distance(gen[sample]),
        "real_pairwise": mean_pairwise_distance(mine[sample]),
    }


AUGMENTATIONS: dict[str, type[DataStage]] = {"augment": Augment}
