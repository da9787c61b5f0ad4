"""PCA-VarSelect (Mehta & Nejdl, "Unsupervised strategies for shilling detection and robust
collaborative filtering", UMUAI 19, 2009).

Users are the variables and items the observations: each user's column is z-scored, the
principal components of the users' covariance are computed, and a user's contribution is the
sum of its squared coefficients in the first few components. Shilling profiles are highly
correlated with each other and add little to the directions of largest variance of the real
users, so the users with the *smallest* contributions are flagged (as many as the expected
number of attackers).

z-scores: on explicit data over the user's stored ratings (``(r_ui - mean_u) / std_u``) with
missing values at 0, the user's mean (as in the paper); on implicit data over all items of the
0/1 row (the row is dense after centring, so it is never materialised: the SVD runs on a linear
operator). The components are the leading left singular vectors of the users x items z-score
matrix, i.e. the eigenvectors of the users' covariance.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import LinearOperator, svds

from advrec.data.interactions import Interactions
from advrec.robust.detect.features import is_implicit


def zscore_operator(train: Interactions, implicit: bool | None = None) -> LinearOperator:
    """The users x items matrix of per-user z-scores (see the module docstring) as an operator."""
    implicit = is_implicit(train) if implicit is None else implicit
    x = sp.csr_matrix(train.csr, dtype=np.float64, copy=True)
    n_u, n_i = x.shape
    counts = np.diff(x.indptr).astype(np.float64)
    if implicit:
        x.data = np.ones_like(x.data)
        mean = counts / n_i  # over all items: the row is a 0/1 vector
        std = np.sqrt(mean * (1.0 - mean))
    else:
        rows = np.repeat(np.arange(n_u), np.diff(x.indptr))
        safe = np.maximum(counts, 1.0)
        m = np.bincount(rows, weights=x.data, minlength=n_u) / safe
        s = np.sqrt(np.maximum(np.bincount(rows, weights=x.data**2, minlength=n_u) / safe - m**2, 0.0))
        x.data = np.where(s[rows] > 0, (x.data - m[rows]) / np.where(s[rows] > 0, s[rows], 1.0), 0.0)
        mean, std = np.zeros(n_u), np.ones(n_u)
    inv = np.where(std > 0, 1.0 / np.where(std > 0, std, 1.0), 0.0)
    xt = x.T.tocsr()

    def matvec(v: np.ndarray) -> np.ndarray:  # Z v, Z = diag(inv) (X - mean 1^T)
        v = np.ravel(v)
        return inv * (x @ v - mean * v.sum())

    def rmatvec(w: np.ndarray) -> np.ndarray:  # Z^T w
        w = inv * np.ravel(w)
        return xt @ w - float(mean @ w)

    return LinearOperator((n_u, n_i), matvec=matvec, rmatvec=rmatvec, dtype=np.float64)


def pca_varselect_scores(train: Interactions, components: int = 3, implicit: bool | None = None,
                         seed: int = 0) -> np.ndarray:
    """Each user's contribution to the first ``components`` principal components (sum of squared
    coefficients, length ``n_users``); the smallest are the suspected shilling profiles. Users
    without data get ``+inf`` (never flagged)."""
    op = zscore_operator(train, implicit)
    k = max(1, min(components, min(op.shape) - 1))
    v0 = np.random.default_rng(seed).standard_normal(min(op.shape))
    u, _, _ = svds(op, k=k, v0=v0, solver="arpack")
    contrib = (u**2).sum(axis=1)
    contrib[train.user_counts() == 0] = np.inf
    return contrib
