"""EASE, PureSVD and SLIM against closed forms and optimality conditions; all four beat MostPop."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_synthetic
from contract import check_contract

from advrec.data import Interactions
from advrec.errors import ConfigError, ModelFileError
from advrec.models import Recommender, create
from advrec.models.ease import ease_weights
from advrec.models.slim import slim_weights


def _dense(inter: Interactions, binary: bool = True) -> np.ndarray:
    return (inter.binary_csr if binary else inter.csr).toarray().astype(np.float64)


# ------------------------------------------------------------------- contract
@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("ease", {}), ("ease", {"binary": False, "l2": 5.0}),
        ("puresvd", {"factors": 5}), ("puresvd", {"factors": 3, "binary": False}),
        ("slim", {}), ("slim", {"binary": False, "topk": 4, "alpha": 1e-3}),
    ],
)
def test_contract(synthetic, tmp_path, name, params):
    check_contract(name, synthetic, tmp_path, **params)


# ----------------------------------------------------------------------- EASE
@pytest.mark.parametrize("binary", [True, False])
def test_ease_matches_closed_form(synthetic, binary):
    l2 = 7.0
    x = _dense(synthetic, binary)
    p = np.linalg.inv(x.T @ x + l2 * np.eye(x.shape[1]))
    b = np.eye(x.shape[1]) - p / np.diag(p)[None, :]
    model = create("ease", l2=l2, binary=binary).fit(synthetic)
    np.testing.assert_allclose(model.weights_.numpy(), b, atol=1e-6)
    assert np.all(np.diag(model.weights_.numpy()) == 0)
    users = np.arange(synthetic.n_users)
    np.testing.assert_allclose(model.score(users).numpy(), x @ b, atol=1e-5)


@pytest.mark.parametrize("binary", [True, False])
def test_ease_float32_in_place_matches_float64(synthetic, binary):
    ref = create("ease", l2=7.0, binary=binary).fit(synthetic).weights_.numpy()
    single = create("ease", l2=7.0, binary=binary, precision="float32").fit(synthetic).weights_.numpy()
    assert single.dtype == np.float32 and single.flags.c_contiguous
    assert np.all(np.diag(single) == 0)
    np.testing.assert_allclose(single, ref, atol=2e-5)


def test_ease_float32_needs_a_third_of_the_memory():
    inter = Interactions.from_records([0, 1], [0, 1], user_ids=np.arange(2), item_ids=np.arange(100_000))
    with pytest.raises(ConfigError, match=r"40\.0 GB \(dense 100000x100000 float32 matrix\)"):
        create("ease", precision="float32").fit(inter)
    with pytest.raises(ConfigError, match="try precision='float32'"):
        create("ease").fit(inter)


def test_ease_refuses_matrices_beyond_32_bit_lapack():
    # 57,289 items (Amazon-Beauty): LAPACK's 32-bit indexing would crash; refuse before allocating
    inter = Interactions.from_records([0, 1], [0, 1], user_ids=np.arange(2), item_ids=np.arange(57_289))
    with pytest.raises(ConfigError, match=r"more than 2\^31 entries.*at most 46340 items"):
        create("ease", precision="float32", max_memory_gb=1e6).fit(inter)


def test_ease_refuses_too_much_memory():
    # 100k items would need ~120 GB: the check must fire before any allocation.
    inter = Interactions.from_records([0, 1], [0, 1], user_ids=np.arange(2), item_ids=np.arange(100_000))
    with pytest.raises(ConfigError, match=r"max_memory_gb=16.*120\.0 GB|120\.0 GB.*max_memory_gb=16"):
        create("ease").fit(inter)
    with pytest.raises(ConfigError, match="max_memory_gb"):
        ease_weights(make_synthetic().binary_csr, 1.0, max_memory_gb=1e-6)


def test_bad_state_is_model_file_error(synthetic, tmp_path):
    d = create("ease").fit(synthetic).save(tmp_path / "m")
    meta = json.loads((d / "meta.json").read_text())
    meta["n_items"] += 1
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="weights"):
        Recommender.load(d)


# -------------------------------------------------------------------- PureSVD
def test_puresvd_equals_dense_svd_reconstruction(synthetic):
    f = 6
    x = _dense(synthetic)
    u, s, vt = np.linalg.svd(x, full_matrices=False)
    recon = (u[:, :f] * s[:f]) @ vt[:f]
    model = create("puresvd", factors=f).fit(synthetic)
    np.testing.assert_allclose(model.singular_values_.numpy(), s[:f], rtol=1e-5)
    np.testing.assert_allclose(model.score(np.arange(synthetic.n_users)).numpy(), recon, atol=1e-5)


def test_puresvd_rank_must_fit(synthetic):
    with pytest.raises(ConfigError, match=r"factors=40 must be below min\(n_users, n_items\) = 40"):
        create("puresvd", factors=40).fit(synthetic)
    with pytest.raises(ConfigError, match="factors"):
        create("puresvd", factors=0)


# ----------------------------------------------------------------------- SLIM
def test_slim_weights_satisfy_kkt(synthetic):
    alpha, rho = 0.02, 0.3
    x = _dense(synthetic)
    w = slim_weights(synthetic.binary_csr, alpha, rho, max_iter=5000, tol=1e-10).toarray()
    w = w.astype(np.float64)
    assert np.all(w >= 0) and np.all(np.diag(w) == 0)
    assert 0 < np.count_nonzero(w) < w.size - w.shape[0]  # the L1 term makes it sparse
    n = x.shape[0]
    for j in range(x.shape[1]):
        xj = x.copy()
        xj[:, j] = 0.0
        # gradient of the smooth part, plus the L1 subgradient on the active set
        g = -xj.T @ (x[:, j] - xj @ w[:, j]) / n + alpha * (1 - rho) * w[:, j] + alpha * rho
        active = w[:, j] > 0
        np.testing.assert_allclose(g[active], 0.0, atol=1e-6)
        others = ~active
        others[j] = False
        assert np.all(g[others] >= -1e-6)


def test_slim_topk_and_progress(synthetic, capsys):
    model = create("slim", alpha=1e-3, topk=3).fit(synthetic, show_progress=True)
    w = model.weights_.tocsc()
    assert np.diff(w.indptr).max() <= 3 and np.diff(w.indptr).max() == 3
    assert "slim" in capsys.readouterr().err
    full = slim_weights(synthetic.binary_csr, 1e-3, 0.1).tocsc()
    j = int(np.argmax(np.diff(full.indptr)))
    col = full[:, j].toarray().ravel()
    np.testing.assert_array_equal(np.sort(np.argsort(-col, kind="stable")[:3]), w[:, j].indices)


def test_slim_bad_params():
    with pytest.raises(ConfigError, match="l1_ratio"):
        create("slim", l1_ratio=1.5)
    with pytest.raises(ConfigError, match="alpha"):
        create("slim", alpha=0.0)


# ---------------------------------------------------------- beats popularity
def _hit_rate(model: Recommender, test: Interactions, k: int = 10) -> float:
    t = test.binary_csr
    users = np.flatnonzero(np.diff(t.indptr))
    items, _ = model.recommend(users, k=k)
    hits = [np.isin(items[n], t.indices[t.indptr[u]:t.indptr[u + 1]]).any() for n, u in enumerate(users)]
    return float(np.mean(hits))


@pytest.mark.parametrize(
    ("name", "params"),
    [("itemknn", {}), ("puresvd", {"factors": 5}), ("ease", {}), ("slim", {})],
)
def test_beats_most_popular_on_clustered_data(name, params):
    data = make_synthetic(n_users=200, n_items=60)
    test_mask = np.random.default_rng(1).random(len(data)) < 0.2
    train, test = data.subset(~test_mask), data.subset(test_mask)
    pop = _hit_rate(create("pop").fit(train), test)
    hr = _hit_rate(create(name, **params).fit(train), test)
    assert hr >= pop + 0.2, (name, hr, pop)
