"""Measurements of a synthetic data release: utility, privacy, mode collapse (docs/privacy.md).

Protocol (one seed fixes every draw):

1. The users with training records are split by the seed into **members** (80%: the GAN learns
   from their training records) and **holdout** (20%: never seen by the GAN).
2. **Utility**: EASE^R fitted on the synthetic profiles scores every real user with test records
   through ``fold_in`` of the user's real training records; NDCG@20 on the real test records with
   the project's evaluator (training items excluded). The same with EASE^R fitted on the
   members' real training records; ``ratio`` = synthetic / real.
3. **Privacy**: for each real user (members and holdout) the Jaccard distance of the training
   profile to the closest synthetic profile (DCR). A generator that memorises its members puts
   them closer than the holdout: the membership AUC is the ROC AUC of ``-distance`` with members
   positive (0.5: no signal), with a stratified bootstrap CI. Also the median DCR of both groups
   and the share of synthetic profiles identical to a real training profile.
4. **Mode collapse** of the synthetic set against the members' real profiles: item coverage,
   popularity JS divergence, mean pairwise distance, profile lengths, distinct profiles.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.gan.diagnostics import catalogue_coverage, js_divergence, mean_pairwise_distance, sample_rows

#: users x synthetic profiles per chunk of the closest-distance search (float64 cells)
DCR_CHUNK_CELLS = 1 << 23


def split_members(train: Interactions, seed: int, share: float = 0.8) -> tuple[np.ndarray, np.ndarray]:
    """Sorted indices of the member and holdout users among the users with training records.

    Raises
    ------
    ConfigError
        When fewer than 2 users would be members or none holdout.
    """
    users = np.flatnonzero(train.user_counts() > 0)
    perm = np.random.default_rng([seed, 0x5E7]).permutation(users)
    cut = round(share * len(users))
    if cut < 2 or cut >= len(users):
        raise ConfigError(f"{train.name}: {len(users)} users with training records are too few to split "
                          f"into members ({share:.0%}) and holdout")
    return np.sort(perm[:cut]), np.sort(perm[cut:])


def binary(x: sp.spmatrix) -> sp.csr_matrix:
    """``x`` as a float64 CSR matrix of 0/1 with sorted, merged indices."""
    out = sp.csr_matrix(x, dtype=np.float64, copy=True)
    out.sum_duplicates()
    out.data[:] = 1.0
    out.eliminate_zeros()
    return out


def closest_jaccard(a: sp.spmatrix, b: sp.spmatrix, *, chunk_cells: int = DCR_CHUNK_CELLS) -> np.ndarray:
    """Jaccard distance of each row of ``a`` to its closest row of ``b`` (binary rows).

    ``1 - |x & y| / |x | y|``; two empty rows are at distance 0, an empty and a non-empty row at 1.
    Intersections come from sparse matrix products over chunks of ``a``'s rows, so memory is about
    ``chunk_cells`` floats whatever the sizes.

    Returns
    -------
    numpy.ndarray
        float64 ``(a.shape[0],)``.
    """
    a, b = binary(a), binary(b)
    if a.shape[1] != b.shape[1]:
        raise ConfigError(f"closest_jaccard: {a.shape[1]} and {b.shape[1]} columns differ")
    if b.shape[0] == 0:
        raise ConfigError("closest_jaccard: no rows to compare against")
    la, lb = np.diff(a.indptr).astype(np.float64), np.diff(b.indptr).astype(np.float64)
    bt = b.T.tocsc()
    step = max(1, chunk_cells // b.shape[0])
    out = np.empty(a.shape[0], np.float64)
    for start in range(0, a.shape[0], step):
        stop = min(start + step, a.shape[0])
        inter = (a[start:stop] @ bt).toarray()
        union = la[start:stop, None] + lb[None, :] - inter
        sim = np.divide(inter, union, out=np.ones_like(inter), where=union > 0)
        out[start:stop] = 1.0 - sim.max(1)
    return out


def membership_auc(members: np.ndarray, holdout: np.ndarray, *, n_boot: int = 1000,
                   seed: int = 0) -> tuple[float, list[float]]:
    """Membership AUC of ``-distance`` (members positive) with its 95% bootstrap interval over the
    users (:func:`advrec.privacy.auc.auc_ci`, the intervals of the other audits).

    Parameters
    ----------
    members, holdout
        Closest distances of member and holdout users.
    n_boot, seed
        Bootstrap resamples and their seed.
    """
    from advrec.privacy.auc import auc_ci

    scores = -np.concatenate([members, holdout]).astype(np.float64)
    labels = np.r_[np.ones(len(members), np.int64), np.zeros(len(holdout), np.int64)]
    return auc_ci(scores, labels, bootstrap=n_boot, seed=seed)


def privacy_report(train: Interactions, members: np.ndarray, holdout: np.ndarray, synthetic: sp.spmatrix,
                   seed: int) -> dict[str, Any]:
    """DCR and membership inference of ``synthetic`` against the real training profiles.

    Returns
    -------
    dict
        ``membership_auc``, ``ci`` (95% bootstrap), ``dcr_members`` / ``dcr_holdout`` (median
        closest Jaccard distance), ``identical_share`` (synthetic profiles equal to a real training
        profile of a member or holdout user), ``dcr_mean_members`` / ``dcr_mean_holdout``,
        ``n_members``, ``n_holdout``.
    """
    x = train.binary_csr
    d_mem, d_hold = closest_jaccard(x[members], synthetic), closest_jaccard(x[holdout], synthetic)
    point, ci = membership_auc(d_mem, d_hold, seed=seed)
    real = x[np.concatenate([members, holdout])]
    return {"membership_auc": point, "ci": list(ci), "dcr_members": float(np.median(d_mem)),
            "dcr_holdout": float(np.median(d_hold)),
            "identical_share": float(np.mean(closest_jaccard(synthetic, real) == 0.0)),
            "dcr_mean_members": float(d_mem.mean()), "dcr_mean_holdout": float(d_hold.mean()),
            "n_members": len(members), "n_holdout": len(holdout)}


def synthetic_interactions(profiles: sp.spmatrix, item_ids: np.ndarray, name: str = "synthetic") -> Interactions:
    """The rows of ``profiles`` as records of new users ``1..n`` over the real item ids."""
    coo = binary(profiles).tocoo()
    order = np.lexsort((coo.col, coo.row))
    return Interactions(coo.row[order].astype(np.int64), coo.col[order].astype(np.int64),
                        np.ones(len(order), np.float32), np.arange(1, profiles.shape[0] + 1), item_ids, name=name)


def utility_report(train: Interactions, test: Interactions, members: np.ndarray, synthetic: Interactions,
                   ease_params: dict[str, Any] | None = None) -> dict[str, Any]:
    """NDCG@20 on the real test records of EASE^R fitted on synthetic vs members' real records.

    Every real user with test records is scored through ``fold_in`` of the real training row.
    """
    from advrec.eval.evaluator import Evaluator
    from advrec.eval.foldin import FoldInView
    from advrec.models.registry import create

    member_mask = np.zeros(train.n_users, bool)
    member_mask[members] = True
    real_fit = create("ease", **(ease_params or {})).fit(train.subset(member_mask[train.users], name="members"))
    synth_fit = create("ease", **(ease_params or {})).fit(synthetic)
    evaluator = Evaluator((20,), metrics=("ndcg",), beyond=False)
    scores = {key: float(evaluator.evaluate(FoldInView(model, train), train, test).summary["ndcg@20"])  # type: ignore[arg-type]
              for key, model in (("synthetic", synth_fit), ("real", real_fit))}
    return {"ndcg@20_synthetic": scores["synthetic"], "ndcg@20_real": scores["real"],
            "ratio": scores["synthetic"] / scores["real"] if scores["real"] > 0 else float("nan"),
            "model": "ease", "users_evaluated": len(np.unique(test.users))}


def synthetic_diagnostics(real: sp.spmatrix, synthetic: sp.spmatrix, probabilities: torch.Tensor | None = None,
                          *, max_rows: int = 2000, seed: int = 0) -> dict[str, float]:
    """Mode-collapse signals of the synthetic profiles against the real ones they imitate.

    ``coverage`` / ``real_coverage``: share of the catalogue in at least one synthetic / real
    profile; ``pop_js``: JS divergence (bits) of the item-popularity histograms; ``gen_pairwise``
    / ``real_pairwise``: mean pairwise Euclidean distance of (up to ``max_rows`` sampled) 0/1
    profiles; ``mean_length`` / ``real_mean_length``; ``distinct_share``: distinct synthetic
    profiles over all; ``gen_coverage@20``: items in the top-20 of at least one row of the
    generator's probabilities.
    """
    r, s = binary(real), binary(synthetic)
    gen = torch.Generator().manual_seed(seed)
    rows_r, rows_s = sample_rows(r.shape[0], max_rows, gen).numpy(), sample_rows(s.shape[0], max_rows, gen).numpy()
    dense_r = torch.from_numpy(r[rows_r].toarray()).to(torch.bool)
    dense_s = torch.from_numpy(s[rows_s].toarray()).to(torch.bool)
    out = {"coverage": float(np.mean(s.getnnz(0) > 0)), "real_coverage": float(np.mean(r.getnnz(0) > 0)),
           "pop_js": js_divergence(torch.from_numpy(np.asarray(r.sum(0)).ravel()),
                                   torch.from_numpy(np.asarray(s.sum(0)).ravel())),
           "gen_pairwise": mean_pairwise_distance(dense_s), "real_pairwise": mean_pairwise_distance(dense_r),
           "mean_length": float(s.getnnz(1).mean()), "real_mean_length": float(r.getnnz(1).mean()),
           "distinct_share": distinct_rows(s) / max(s.shape[0], 1)}
    if probabilities is not None:
        out["gen_coverage@20"] = catalogue_coverage(probabilities, 20)
    return out


def distinct_rows(x: sp.spmatrix) -> int:
    """Number of distinct rows of a binary matrix.

    Rows are keyed by two random projections (float64 sums of uniform weights of their items):
    equal rows share the keys, distinct rows collide with probability practically zero.
    """
    x = binary(x)
    if x.shape[0] == 0:
        return 0
    w = np.random.default_rng(0x0D15).random((x.shape[1], 2))
    return len(np.unique(np.column_stack([x @ w, x.getnnz(1)]), axis=0))
