"""Contract of ``Recommender.fold_in`` for every registered model (scores of users outside training)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from conftest import make_synthetic
from contract import TableModel
from scipy.stats import spearmanr

from advrec.data import Interactions
from advrec.errors import CapabilityError, DataError
from advrec.models import Recommender, available, create, get_model_class

#: small, quick settings (cfgan in user mode: item mode cannot fold in)
FAST: dict[str, dict] = {
    "puresvd": {"factors": 5},
    "multvae": {"epochs": 4, "batch_size": 16, "dims": [32, 8]},
    "bpr": {"epochs": 4, "batch_size": 64},
    "apr": {"epochs": 4, "pretrain_epochs": 2, "optimizer": "sgd", "batch_size": 1, "lr": 0.05},
    "lightgcn": {"epochs": 4, "batch_size": 64},
    "apr-lightgcn": {"epochs": 4, "batch_size": 64, "pretrain_epochs": 2},
    "irgan": {"epochs": 4, "pretrain_epochs": 2, "factors": 8, "batch_size": 16, "batch_size_d": 64},
    "cfgan": {"mode": "user", "epochs": 3, "g_hidden": [16], "d_hidden": [8], "batch_size": 16, "batch_size_d": 16},
    "usergan": {"epochs": 2, "g_hidden": [16], "d_hidden": [8]},
    "dropoutnet": {"epochs": 2, "hidden": [8], "dim": 4, "warm_params": {"factors": 4, "epochs": 2}},
}
#: settings that learn the synthetic taste groups (the ranking tests)
LEARN: dict[str, dict] = {
    "bpr": {"epochs": 40, "batch_size": 64, "lr": 0.02, "factors": 16},
    "apr": {"epochs": 40, "pretrain_epochs": 20, "optimizer": "sgd", "batch_size": 1, "lr": 0.05, "factors": 16},
    "lightgcn": {"epochs": 40, "batch_size": 64, "lr": 0.02, "factors": 16},
    "apr-lightgcn": {"epochs": 40, "batch_size": 64, "lr": 0.02, "factors": 16, "pretrain_epochs": 20, "eps": 0.1},
    "irgan": {"epochs": 25, "pretrain_epochs": 25, "factors": 16, "batch_size_d": 64, "lr_pretrain": 0.02},
    "multvae": {"epochs": 20, "batch_size": 32, "dims": [32, 8], "lr": 0.01, "total_anneal_steps": 100},
}
#: models whose fold-in runs a training row through the same computation as ``score``
EXACT = ("pop", "ease", "itemknn", "puresvd", "slim", "rp3beta", "multvae", "cfgan", "contentknn", "genrepop")
#: models whose fold-in solves for a user vector with the item side fixed
SOLVED = ("bpr", "apr", "lightgcn", "apr-lightgcn", "irgan")
#: models whose fold-in reads the new users' side features instead of their history
BY_FEATURES = ("grouppop",)
#: models trained to score new users from what they reveal and their features (their own tests:
#: tests/test_models_cold_users.py); usergan's fold-in of a training row with the user's features is its score
NEW_USER_MODELS = ("usergan", "dropoutnet")
FOLDS = [n for n in available() if "fold_in" in get_model_class(n).capabilities]

_FITTED: dict[tuple, Recommender] = {}


def fitted(name: str, data: Interactions | None = None, **params) -> Recommender:
    """A model fit once per test module on ``data`` (default: the synthetic data)."""
    data = make_synthetic() if data is None else data
    key = (name, data.name, data.n_users, tuple(sorted((k, repr(v)) for k, v in params.items())))
    if key not in _FITTED:
        _FITTED[key] = create(name, **{**FAST.get(name, {}), **params}).fit(data)
    return _FITTED[key]


def test_every_model_is_covered():
    assert set(FOLDS) <= set(EXACT) | set(SOLVED) | set(BY_FEATURES) | set(NEW_USER_MODELS)


def test_usergan_fold_in_of_a_training_row_with_its_features_is_its_score():
    data = make_synthetic()
    model = fitted("usergan", epochs=2, g_hidden=[16], d_hidden=[8])
    users = np.arange(data.n_users)
    got = model.fold_in(data.binary_csr[users], model.user_features_[users])
    torch.testing.assert_close(got, model.score(users), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", BY_FEATURES)
def test_feature_models_fold_in_by_features(name):
    data = make_synthetic()
    model = fitted(name)
    users = np.arange(data.n_users)
    expected = model.score(users)
    got = model.fold_in(data.binary_csr[users], model.user_features_[users])
    torch.testing.assert_close(got, expected, rtol=1e-6, atol=1e-6)
    # without features every new user gets the same (global) ranking
    plain = model.fold_in(data.binary_csr[:4])
    assert all(torch.equal(plain[0], row) for row in plain)
    assert any(not torch.equal(row, plain[0]) for row in got)  # the groups rank differently


@pytest.mark.parametrize("name", FOLDS)
def test_shape_dtype_finite_and_empty_rows(name):
    model = fitted(name)
    rows = sp.vstack([make_synthetic().binary_csr[:5], sp.csr_matrix((2, model.n_items))]).tocsr()
    out = model.fold_in(rows)
    assert out.shape == (7, model.n_items) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    assert model.fold_in(sp.csr_matrix((0, model.n_items))).shape == (0, model.n_items)
    dense = model.fold_in(rows.toarray())  # a dense array is read as the same rows
    torch.testing.assert_close(dense, out, rtol=0, atol=0)


@pytest.mark.parametrize("name", FOLDS)
def test_wrong_column_count_is_data_error(name):
    model = fitted(name)
    with pytest.raises(DataError, match=f"{name}.*columns"):
        model.fold_in(sp.csr_matrix((2, model.n_items + 1)))


@pytest.mark.parametrize("name", FOLDS)
def test_deterministic_and_row_independent(name):
    model = fitted(name)
    rows = make_synthetic().binary_csr[:12]
    out = model.fold_in(rows)
    torch.testing.assert_close(model.fold_in(rows), out, rtol=0, atol=0)
    # a user's scores do not depend on who else is folded in with them
    torch.testing.assert_close(model.fold_in(rows[3:7]), out[3:7], rtol=1e-5, atol=1e-5)


def test_capability_error_names_the_model():
    """A model without fold_in (every registered model has it today) refuses, naming itself."""
    data = make_synthetic()
    model = TableModel(np.zeros((data.n_users, data.n_items))).fit(data)
    with pytest.raises(CapabilityError, match="'table'.*fold_in"):
        model.fold_in(sp.csr_matrix((1, data.n_items)))


CFGAN_VARIANTS = [
    {},
    {"adversarial": False, "scheme": "ZR"},
    {"prior": "ease", "prior_l2": 50.0, "prior_weight": 0.4},  # blend of standardised scores, dense prior
    {"prior": "ease", "prior_l2": 50.0, "prior_weight": 1.0},  # the prior alone
    {"prior": "ease", "prior_l2": 50.0, "prior_mode": "residual", "prior_weight": 0.7},
    {"prior": "ease", "prior_l2": 50.0, "prior_topk": 8, "prior_weight": 0.3},  # a sparse prior
    {"prior": "itemknn", "prior_params": {"k": 10}, "prior_weight": 0.6},
    {"negatives": 8, "prior": "ease", "prior_l2": 50.0, "prior_weight": 0.5},  # the sampled game
]


@pytest.mark.parametrize("name,params", [(n, {}) for n in EXACT if n != "cfgan"]
                         + [("cfgan", p) for p in CFGAN_VARIANTS])
def test_fold_in_of_training_rows_equals_score(name, params, tmp_path):
    data = make_synthetic()
    model = fitted(name, **params)
    users = np.arange(data.n_users)
    expected = model.score(users)
    torch.testing.assert_close(model.fold_in(data.binary_csr[users]), expected, rtol=1e-5, atol=1e-5)
    # binarised input: the ratings of the same pairs give the same scores
    torch.testing.assert_close(model.fold_in(data.csr[users]), expected, rtol=1e-5, atol=1e-5)
    loaded = Recommender.load(model.save(tmp_path / name))
    torch.testing.assert_close(loaded.fold_in(data.binary_csr[users]), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["ease", "itemknn", "puresvd", "slim"])
def test_raw_valued_row_models_fold_in_raw_values(name):
    data = make_synthetic()
    model = fitted(name, binary=False)
    users = np.arange(data.n_users)
    torch.testing.assert_close(model.fold_in(data.csr[users]), model.score(users), rtol=1e-5, atol=1e-5)


def test_cfgan_item_mode_explains_and_refuses():
    model = create("cfgan", **{**FAST["cfgan"], "mode": "item"}).fit(make_synthetic())
    with pytest.raises(CapabilityError, match="mode='user'.*input dimension|input dimension.*mode='user'"):
        model.fold_in(make_synthetic().binary_csr[:2])


@pytest.mark.parametrize("name", SOLVED)
def test_empty_history_scores_the_item_bias(name):
    model = fitted(name)
    out = model.fold_in(sp.csr_matrix((1, model.n_items)))[0]
    bias = {"bpr": lambda m: m.item_bias, "apr": lambda m: m.item_bias, "lightgcn": lambda m: torch.zeros(m.n_items),
            "apr-lightgcn": lambda m: torch.zeros(m.n_items),
            "irgan": lambda m: m.g_net.bias}[name](model)
    torch.testing.assert_close(out, bias.detach().float(), rtol=0, atol=0)


@pytest.mark.parametrize("name", SOLVED)
def test_folded_in_training_user_ranks_like_the_trained_one(name):
    """The fold-in solves the loss the model was trained with, so its ranking of all items should
    agree with the trained user vector's: a per-user Spearman correlation far above 0 (chance) and
    above how much the user's fold-in agrees with the trained vectors of users of other taste groups
    (the synthetic data have 3 groups, so other groups' rankings are the natural baseline)."""
    data = make_synthetic()
    model = fitted(name, **LEARN[name])
    users = np.arange(data.n_users)
    folded, trained = model.fold_in(data.binary_csr[users]).numpy(), model.score(users).numpy()
    own = np.array([spearmanr(folded[u], trained[u])[0] for u in users])
    group = _taste_groups(data)
    other = np.array([np.mean([spearmanr(folded[u], trained[v])[0] for v in users[group != group[u]][:10]])
                      for u in users])
    assert np.median(own) > 0.7, np.median(own)
    assert np.mean(own > other) > 0.9, np.mean(own > other)


@pytest.mark.parametrize("name", SOLVED + ("ease", "itemknn", "puresvd", "slim", "multvae"))
def test_new_user_gets_the_rest_of_their_cluster(name):
    """Planted structure: 4 disjoint item clusters, every user interacts within one. A new user
    revealing 3 items of a cluster must rank the cluster's other items above the other clusters'
    items: AUC (the share of such pairs ordered right) well above chance (0.5) for every cluster.
    Not 1: the BPR fold-in treats the cluster's unrevealed items as negatives too, and with 3
    positives a weakly regularised optimum separates a few of them from the revealed ones."""
    data, clusters = _planted()
    model = fitted(name, data, **LEARN.get(name, {}))
    aucs = []
    for items in clusters:
        revealed, rest = items[:3], items[3:]
        history = sp.csr_matrix((np.ones(3), (np.zeros(3, int), revealed)), shape=(1, data.n_items))
        scores = model.fold_in(history)[0].numpy()
        others = np.setdiff1d(np.arange(data.n_items), items)
        aucs.append((scores[rest, None] > scores[None, others]).mean())
    assert min(aucs) >= 0.85 and np.mean(aucs) >= 0.9, aucs


def _taste_groups(data: Interactions) -> np.ndarray:
    """The taste group of every synthetic user: the group of most of their items (as generated)."""
    rng = np.random.default_rng(0)  # make_synthetic's draws, in order
    rng.integers(0, 3, data.n_users)
    item_group = rng.integers(0, 3, data.n_items)
    counts = np.stack([np.asarray(data.binary_csr[:, item_group == g].sum(1)).ravel() for g in range(3)], 1)
    return counts.argmax(1)


def _planted(n_users: int = 80, sizes: tuple[int, ...] = (10, 10, 10, 10), density: float = 0.5,
             seed: int = 3) -> tuple[Interactions, list[np.ndarray]]:
    rng = np.random.default_rng(seed)
    n_items = sum(sizes)
    cluster_of = np.repeat(np.arange(len(sizes)), sizes)
    user_cluster = np.arange(n_users) % len(sizes)
    mask = (rng.random((n_users, n_items)) < density) & (user_cluster[:, None] == cluster_of[None, :])
    u, i = np.nonzero(mask)
    data = Interactions.from_records(u, i, np.ones(len(u), np.float32), np.arange(len(u)), name="planted",
                                     user_ids=np.arange(n_users), item_ids=np.arange(n_items))
    return data, [np.flatnonzero(cluster_of == c) for c in range(len(sizes))]
