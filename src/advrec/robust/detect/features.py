"""Per-profile features of shilling detection, vectorised over the users x items matrix.

Definitions (``r_ui`` user u's value of item i, ``rbar_i`` the item's mean value, ``l_i`` its
number of records, ``n_u`` the user's number of records, ``nbar`` the mean ``n_u``):

``length``
    ``n_u``.
``rdma``
    Rating Deviation from Mean Agreement (Chirita, Nejdl & Zamfir, WIDM 2005):
    ``sum_i |r_ui - rbar_i| / l_i / n_u``.
``wdma``
    Weighted Deviation from Mean Agreement (Burke, Mobasher, Williams & Bhaumik, KDD 2006;
    Williams, Mobasher & Burke, UMUAI 2007): ``sum_i |r_ui - rbar_i| / l_i**2 / n_u`` (rare
    items weigh more).
``wda``
    Weighted Degree of Agreement (same papers): ``sum_i |r_ui - rbar_i| / l_i`` (not averaged).
``length_var``
    Length Variance (same papers): ``|n_u - nbar| / sum_v (n_v - nbar)**2``.
``degsim``
    Degree of Similarity with top neighbours (Chirita et al. 2005): mean similarity to the ``k``
    most similar other users. Ratings: Pearson correlation approximated by the cosine of the
    mean-centred rows (missing values count as the user's mean); implicit data: cosine of the
    0/1 rows.
``pop_mean``, ``pop_var``
    Mean and variance of the popularity ``l_i`` of the items in the profile.

Only ``rdma``, ``wdma`` and ``wda`` need ratings (:data:`RATING_FEATURES`); on implicit data
(every value equal) they are constant zero and left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.sparse as sp

from advrec.data.interactions import Interactions

#: features that need explicit values (rating deviations)
RATING_FEATURES: tuple[str, ...] = ("rdma", "wdma", "wda")
#: features defined on any data
PROFILE_FEATURES: tuple[str, ...] = ("length", "length_var", "degsim", "pop_mean", "pop_var")
#: float64 cells of one block of the user-user similarity matrix (DegSim)
_BLOCK_CELLS = 1 << 23


def is_implicit(train: Interactions) -> bool:
    """True when every value of ``train`` is the same (a profile is a set of items)."""
    return not len(train) or bool(np.all(train.values == train.values[0]))


def profile_features(train: Interactions, neighbours: int = 10, implicit: bool | None = None) -> pd.DataFrame:
    """The detection features of every user of ``train`` (rows: user indices).

    Parameters
    ----------
    train
        Training data, fake profiles included.
    neighbours
        ``k`` of DegSim (at most the number of other users with data).
    implicit
        Leave out :data:`RATING_FEATURES` (default: when every value is equal).

    Returns
    -------
    pandas.DataFrame
        One row per user index (``n_users`` rows; users without data get zeros), the columns
        of :data:`PROFILE_FEATURES`, preceded by :data:`RATING_FEATURES` on explicit data.
    """
    implicit = is_implicit(train) if implicit is None else implicit
    x = train.csr.astype(np.float64)
    n_u = np.diff(x.indptr).astype(np.float64)
    l_i = np.bincount(x.indices, minlength=x.shape[1]).astype(np.float64)
    rows = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))
    safe_n = np.maximum(n_u, 1.0)
    out: dict[str, np.ndarray] = {}
    if not implicit:
        item_mean = np.bincount(x.indices, weights=x.data, minlength=x.shape[1]) / np.maximum(l_i, 1.0)
        dev = np.abs(x.data - item_mean[x.indices])
        li = l_i[x.indices]
        wda = np.bincount(rows, weights=dev / li, minlength=x.shape[0])
        out["rdma"] = wda / safe_n
        out["wdma"] = np.bincount(rows, weights=dev / li**2, minlength=x.shape[0]) / safe_n
        out["wda"] = wda
    active = n_u > 0
    nbar = n_u[active].mean() if active.any() else 0.0
    spread = float(((n_u[active] - nbar) ** 2).sum())
    out["length"] = n_u
    out["length_var"] = np.where(active, np.abs(n_u - nbar) / spread if spread > 0 else 0.0, 0.0)
    out["degsim"] = degsim(x, neighbours, centred=not implicit)
    pop = l_i[x.indices]
    pop_mean = np.bincount(rows, weights=pop, minlength=x.shape[0]) / safe_n
    out["pop_mean"] = pop_mean
    out["pop_var"] = np.maximum(np.bincount(rows, weights=pop**2, minlength=x.shape[0]) / safe_n - pop_mean**2, 0.0)
    return pd.DataFrame(out)


def degsim(x: sp.csr_matrix, neighbours: int, centred: bool = True) -> np.ndarray:
    """Mean cosine similarity of each user's row to its ``neighbours`` most similar other rows
    (rows mean-centred over their stored values when ``centred``, else 0/1); 0 for empty rows.

    Computed in blocks of rows of the dense user-user similarity (memory ``_BLOCK_CELLS``)."""
    x = sp.csr_matrix(x, dtype=np.float64, copy=True)
    counts = np.diff(x.indptr)
    if centred:
        means = np.add.reduceat(x.data, x.indptr[:-1][counts > 0]) / counts[counts > 0] if x.nnz else []
        full = np.zeros(x.shape[0])
        full[counts > 0] = means
        x.data = x.data - np.repeat(full, counts)
    else:
        x.data = np.ones_like(x.data)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    x = sp.csr_matrix(sp.diags(np.where(norms > 0, 1.0 / np.maximum(norms, 1e-300), 0.0)) @ x)
    n = x.shape[0]
    others = int((counts > 0).sum()) - 1
    k = min(neighbours, others)
    out = np.zeros(n)
    if k < 1:
        return out
    xt = x.T.tocsc()
    step = max(1, _BLOCK_CELLS // max(n, 1))
    for start in range(0, n, step):  # blocks of users, not a loop over users
        stop = min(n, start + step)
        sims = np.asarray((x[start:stop] @ xt).todense())
        sims[np.arange(stop - start), np.arange(start, stop)] = -np.inf
        sims[:, counts == 0] = -np.inf
        top = -np.partition(-sims, k - 1, axis=1)[:, :k]
        out[start:stop] = top.mean(axis=1)
    out[counts == 0] = 0.0
    return out
