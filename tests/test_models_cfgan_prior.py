"""CFGAN's EASE^R prior: dense scores, lazy item weights, pruned weights; saved and loaded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from contract import check_contract
from test_models_cfgan import FAST

import advrec.models.cfgan.prior as prior_mod
from advrec.errors import ConfigError
from advrec.models import Recommender, create
from advrec.models.cfgan.prior import Prior, prune_columns


def test_prune_columns_keeps_the_largest_magnitudes():
    b = np.random.default_rng(0).normal(size=(30, 20)).astype(np.float32)
    pruned = prune_columns(b, 4).toarray()
    assert ((pruned != 0).sum(0) == 4).all()
    for j in range(b.shape[1]):
        kept = np.sort(np.abs(b[:, j]))[-4:]
        np.testing.assert_array_equal(np.sort(np.abs(pruned[:, j][pruned[:, j] != 0])), kept)
    np.testing.assert_array_equal(prune_columns(b, 30).toarray(), b)  # k = all: unchanged


def test_lazy_and_dense_priors_give_the_same_scores(synthetic, monkeypatch):
    seen = synthetic.binary_csr
    users = np.arange(synthetic.n_users)
    dense = Prior.fit(seen, 20.0)
    monkeypatch.setattr(prior_mod, "DENSE_LIMIT", 0)  # as if the data were large
    lazy = Prior.fit(seen, 20.0)
    assert dense.dense and not lazy.dense
    torch.testing.assert_close(lazy.user_rows(users), dense.user_rows(users), rtol=1e-5, atol=1e-5)
    ease = create("ease", l2=20.0).fit(synthetic).score(users)
    torch.testing.assert_close(dense.user_rows(users), ease, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("extra", [{"prior_topk": 5}, {"prior_precision": "float32"},
                                   {"prior_topk": 5, "negatives": 8, "mode": "user"}])
def test_sparse_and_single_precision_priors_save_and_load(extra, synthetic, tmp_path):
    model = check_contract("cfgan", synthetic, tmp_path, **FAST, prior="ease", prior_l2=20.0, **extra)
    users = np.arange(synthetic.n_users)
    loaded = Recommender.load(model.save(tmp_path / "again"))
    torch.testing.assert_close(loaded.score(users), model.score(users))


def test_pruned_prior_scores_with_the_pruned_weights(synthetic):
    model = create("cfgan", **FAST, prior="ease", prior_l2=20.0, prior_topk=3, prior_weight=1.0).fit(synthetic)
    users = np.arange(synthetic.n_users)
    b = prune_columns(create("ease", l2=20.0).fit(synthetic).weights_.numpy(), 3)
    expect = torch.from_numpy(np.asarray((synthetic.binary_csr.astype(np.float32) @ b).toarray(), np.float32))
    torch.testing.assert_close(model._prior_rows(users), expect, rtol=1e-5, atol=1e-5)


def test_residual_needs_the_dense_prior(synthetic, monkeypatch):
    with pytest.raises(ConfigError, match="prior_topk"):
        create("cfgan", prior="ease", prior_mode="residual", prior_topk=5)
    monkeypatch.setattr(prior_mod, "DENSE_LIMIT", 0)
    with pytest.raises(ConfigError, match="too large"):
        create("cfgan", **FAST, prior="ease", prior_l2=20.0, prior_mode="residual").fit(synthetic)


def test_itemknn_prior_scores_like_itemknn_and_saves(synthetic, tmp_path):
    params = {"k": 5, "shrink": 2.0}
    model = check_contract("cfgan", synthetic, tmp_path, **FAST, mode="user", prior="itemknn",
                           prior_params=params, prior_weight=1.0)
    users = np.arange(synthetic.n_users)
    knn = create("itemknn", **params).fit(synthetic).score(users)
    torch.testing.assert_close(model._prior_rows(users), knn, rtol=1e-5, atol=1e-5)
    loaded = Recommender.load(model.save(tmp_path / "again"))
    torch.testing.assert_close(loaded.score(users), model.score(users))


def test_prior_params_belong_to_the_itemknn_prior():
    with pytest.raises(ConfigError, match="prior_params"):
        create("cfgan", prior="ease", prior_params={"k": 5})
    with pytest.raises(ConfigError, match="itemknn"):
        create("cfgan", prior="itemknn", prior_mode="residual")
