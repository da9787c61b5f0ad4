"""RP3beta: the random-walk weights by hand, blockwise = one block, top-k, fold-in, contract, tuning."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
import scipy.sparse as sp
from contract import check_contract

from advrec.data import Interactions
from advrec.errors import CapabilityError
from advrec.experiments.tuning import search_space, tune
from advrec.models import create
from advrec.models.rp3beta import RP3beta, rp3beta_weights

# 4 users x 3 items; item popularity 3, 3, 2.
X = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]], dtype=np.float32)


def _inter(x: np.ndarray) -> Interactions:
    u, i = np.nonzero(x)
    return Interactions.from_records(u, i, x[u, i], user_ids=np.arange(x.shape[0]), item_ids=np.arange(x.shape[1]))


def _dense_reference(x: np.ndarray, alpha: float, beta: float) -> np.ndarray:
    """The definition written out densely: P_iu^a P_ui^a diag(pop^-beta), no diagonal."""
    p_ui = x / x.sum(axis=1, keepdims=True)
    p_iu = x.T / x.T.sum(axis=1, keepdims=True)
    w = (p_iu**alpha) @ (p_ui**alpha) / x.sum(axis=0) ** beta
    np.fill_diagonal(w, 0.0)
    return w


def test_weights_by_hand():
    w = rp3beta_weights(sp.csr_matrix(X), alpha=1.0, beta=0.0, k=3, normalize=False).toarray()
    # item 2 -> users 1, 2 (1/2 each); user 1 -> items 0, 1, 2 (1/3 each), user 2 -> items 1, 2 (1/2 each)
    np.testing.assert_allclose(w[2], [0.5 / 3, 0.5 / 3 + 0.5 / 2, 0.0], rtol=1e-6)
    for alpha, beta in ((1.0, 0.0), (0.5, 0.7), (1.7, 1.0)):
        got = rp3beta_weights(sp.csr_matrix(X), alpha=alpha, beta=beta, k=3, normalize=False).toarray()
        np.testing.assert_allclose(got, _dense_reference(X, alpha, beta), rtol=1e-5)


def test_beta_penalises_popular_destinations():
    w0 = rp3beta_weights(sp.csr_matrix(X), alpha=1.0, beta=0.0, k=3, normalize=False).toarray()
    w1 = rp3beta_weights(sp.csr_matrix(X), alpha=1.0, beta=1.0, k=3, normalize=False).toarray()
    np.testing.assert_allclose(w1, w0 / X.sum(axis=0), rtol=1e-6)


def test_blocks_topk_and_normalisation(synthetic):
    x = synthetic.binary_csr
    one = rp3beta_weights(x, 0.8, 0.4, k=7, normalize=False).toarray()
    small = rp3beta_weights(x, 0.8, 0.4, k=7, normalize=False, block_cells=3 * x.shape[1]).toarray()
    np.testing.assert_allclose(small, one, rtol=1e-6)
    assert ((one > 0).sum(axis=1) <= 7).all()
    full = _dense_reference(x.toarray(), 0.8, 0.4)
    for i in range(x.shape[1]):  # every kept weight is among the row's 7 largest
        kept = one[i][one[i] > 0]
        assert kept.min() >= np.sort(full[i])[-7] - 1e-6
    normed = rp3beta_weights(x, 0.8, 0.4, k=7, normalize=True).toarray()
    sums = normed.sum(axis=1)
    np.testing.assert_allclose(sums[sums > 0], 1.0, rtol=1e-5)


def test_scores_and_fold_in(synthetic):
    model = create("rp3beta", k=20, alpha=0.9, beta=0.3)
    model.fit(synthetic)
    users = np.arange(5)
    expected = synthetic.binary_csr[users] @ model.weights_
    np.testing.assert_allclose(model.score(users).numpy(), expected.toarray(), rtol=1e-5)
    folded = model.fold_in(synthetic.csr[users])  # ratings as history: binarised like training
    np.testing.assert_allclose(folded.numpy(), model.score(users).numpy(), rtol=1e-6)
    with pytest.raises(CapabilityError, match="embeddings"):
        model.embeddings()


def test_contract(synthetic, tmp_path):
    check_contract("rp3beta", synthetic, tmp_path, k=10)
    check_contract("rp3beta", synthetic, tmp_path, k=10, binary=False, normalize=False)


def test_search_space_on_class_and_in_tuning(synthetic_split):
    from advrec.data.splits import carve_validation

    assert search_space("rp3beta") == RP3beta.search_space
    params = RP3beta.search_space(optuna.trial.FixedTrial({"alpha": 0.5, "beta": 0.2, "k": 30,
                                                          "normalize": False}))
    assert params == {"alpha": 0.5, "beta": 0.2, "k": 30, "normalize": False}
    best, trials = tune("rp3beta", carve_validation(synthetic_split, 0.2, seed=0), 3, seed=0)
    assert len(trials) == 3
    assert best["alpha"] in [t["params"]["alpha"] for t in trials]
    assert 0.0 <= best["beta"] <= 1.0 and 5 <= best["k"] <= 1000
