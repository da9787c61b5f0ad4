"""PyTorch baselines (BPR-MF, LightGCN, Mult-VAE) and the negative sampler."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from conftest import make_synthetic
from contract import check_contract
from hypothesis import given, settings
from hypothesis import strategies as st

from advrec.errors import ConfigError, DataError
from advrec.models import Recommender, create
from advrec.models.lightgcn import SymmetricOperator, normalized_adjacency, propagate
from advrec.models.sampling import NegativeSampler

FAST = {
    "bpr": {"epochs": 4, "batch_size": 64},
    "lightgcn": {"epochs": 4, "batch_size": 64},
    "multvae": {"epochs": 4, "batch_size": 16, "dims": [32, 8]},
}
LEARN = {
    "bpr": {"epochs": 20, "batch_size": 64, "lr": 0.01},
    "lightgcn": {"epochs": 20, "batch_size": 64, "lr": 0.01},
    "multvae": {"epochs": 20, "batch_size": 32, "dims": [32, 8], "lr": 0.01, "total_anneal_steps": 100},
}


def random_split(data, frac=0.2, seed=1):
    mask = np.random.default_rng(seed).random(len(data)) < frac
    return data.subset(~mask, name="train"), data.subset(mask, name="test")


def hit_rate(model, train, test, k=5):
    users = test.active_users()
    items, _ = model.recommend(users, k=k)
    t = test.binary_csr
    return float(np.mean([bool(set(items[n]) & set(t[u].indices)) for n, u in enumerate(users)]))


# ---------------------------------------------------------------- contract
@pytest.mark.parametrize("name", sorted(FAST))
def test_contract(name, synthetic, tmp_path):
    model = check_contract(name, synthetic, tmp_path, **FAST[name])
    assert len(model.history) == FAST[name]["epochs"]


@pytest.mark.parametrize("params", [{"use_bias": False}, {"optimizer": "sgd", "lr": 0.5}])
def test_bpr_variants_contract(params, synthetic, tmp_path):
    check_contract("bpr", synthetic, tmp_path, **FAST["bpr"], **params)


@pytest.mark.parametrize("name", sorted(FAST))
def test_loss_decreases(name, synthetic):
    model = create(name, **LEARN[name]).fit(synthetic)
    losses = [h["loss"] for h in model.history]
    assert np.mean(losses[-3:]) < 0.95 * np.mean(losses[:3])


@pytest.mark.parametrize("name", sorted(FAST))
def test_beats_mostpop(name):
    train, test = random_split(make_synthetic(n_users=200, n_items=50, seed=3))
    pop = hit_rate(create("pop").fit(train), train, test)
    ours = hit_rate(create(name, **LEARN[name]).fit(train), train, test)
    assert ours > pop + 0.1, (ours, pop)


@pytest.mark.parametrize("name", sorted(FAST))
def test_resume_equals_uninterrupted(name, synthetic, tmp_path):
    full = create(name, **{**FAST[name], "epochs": 4}).fit(synthetic)
    create(name, **{**FAST[name], "epochs": 2}).fit(synthetic, checkpoint_dir=tmp_path)
    resumed = create(name, **{**FAST[name], "epochs": 4}).fit(synthetic, checkpoint_dir=tmp_path)
    assert resumed.loop_result_ is not None and resumed.loop_result_.resumed_from == 2
    users = np.arange(synthetic.n_users)
    torch.testing.assert_close(resumed.score(users), full.score(users), rtol=0, atol=0)
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]


def test_checkpoint_of_other_config_is_refused(synthetic, tmp_path):
    create("bpr", **FAST["bpr"], checkpoint_dir=str(tmp_path)).fit(synthetic)
    with pytest.raises(ConfigError, match="another run"):
        create("bpr", **{**FAST["bpr"], "lr": 0.5}).fit(synthetic, checkpoint_dir=tmp_path)


def test_checkpoint_from_before_an_added_option_resumes(synthetic, tmp_path):
    import json

    create("bpr", **{**FAST["bpr"], "epochs": 2}).fit(synthetic, checkpoint_dir=tmp_path)
    meta = tmp_path / "checkpoint.json"
    data = json.loads(meta.read_text())
    del data["state"]["fingerprint"]["config"]["min_delta"]  # as if written before min_delta existed
    meta.write_text(json.dumps(data))
    resumed = create("bpr", **{**FAST["bpr"], "epochs": 3}).fit(synthetic, checkpoint_dir=tmp_path)
    assert resumed.loop_result_ is not None and resumed.loop_result_.resumed_from == 2
    # but not when the new option is set away from its default
    with pytest.raises(ConfigError, match="another run"):
        create("bpr", **{**FAST["bpr"], "epochs": 4, "min_delta": 0.1}).fit(synthetic, checkpoint_dir=tmp_path)


def test_early_stopping_with_evaluator(synthetic_split):
    pytest.importorskip("advrec.eval")
    from advrec.eval import evaluate

    train, valid = synthetic_split.train, synthetic_split.test
    model = create("bpr", epochs=12, batch_size=32, lr=0.05, patience=2).fit(train, valid)
    vals = [h["valid_ndcg@20"] for h in model.history]
    res = model.loop_result_
    assert res is not None and len(vals) == res.last_epoch
    assert res.best_score == max(vals) and vals[res.best_epoch - 1] == max(vals)
    assert res.stopped_early and res.last_epoch - res.best_epoch == 2  # patience 2, seeded run
    # the weights in the model are those of the best epoch
    assert evaluate(model, train, valid, ks=(20,)).summary["ndcg@20"] == pytest.approx(max(vals), abs=1e-12)


def test_config_errors():
    with pytest.raises(ConfigError, match="factor"):
        create("bpr", factor=8)
    with pytest.raises(ConfigError, match="valid_metric"):
        create("lightgcn", valid_metric="ndcg")
    with pytest.raises(ConfigError, match="optimizer"):
        create("bpr", optimizer="rmsprop")
    with pytest.raises(ConfigError, match="dims"):
        create("multvae", dims=[])


# --------------------------------------------------------------------- BPR
@pytest.mark.parametrize("use_bias", [True, False])
def test_bpr_closed_form_gradient_matches_autograd(use_bias, synthetic):
    m = create("bpr", epochs=1, batch_size=64, use_bias=use_bias, l2=0.01).fit(synthetic)
    u, i, j = torch.tensor([0, 1, 1, 5]), torch.tensor([2, 3, 3, 0]), torch.tensor([7, 9, 9, 3])
    with torch.no_grad():
        loss = m.batch_gradients(u, i, j)
    grads = {k: v.grad.clone() for k, v in m.train_tensors().items()}
    params = {k: v.detach().clone().requires_grad_(True) for k, v in m.train_tensors().items()}
    pu, qi, qj = params["user_emb"][u], params["item_emb"][i], params["item_emb"][j]
    x = (pu * (qi - qj)).sum(1)
    sq = (pu**2).sum(1) + (qi**2).sum(1) + (qj**2).sum(1)
    if use_bias:
        bi, bj = params["item_bias"][i], params["item_bias"][j]
        x, sq = x + bi - bj, sq + bi**2 + bj**2
    ref = -F.logsigmoid(x).mean() + 0.01 * sq.mean()
    ref.backward()
    assert float(loss) == pytest.approx(ref.item(), rel=1e-6)
    for k, p in params.items():
        torch.testing.assert_close(grads[k], p.grad, rtol=1e-5, atol=1e-8)


# ---------------------------------------------------------------- LightGCN
def test_normalized_adjacency_by_hand():
    r = sp.csr_matrix(np.array([[1, 1], [0, 1], [0, 0]], dtype=np.float32))
    a = normalized_adjacency(r, 3, 2).to_dense().numpy()
    # degrees: users 2, 1, 0; items 1, 2
    exp = np.zeros((5, 5), np.float32)
    exp[0, 3], exp[0, 4], exp[1, 4] = 1 / np.sqrt(2), 1 / 2, 1 / np.sqrt(2)
    exp = exp + exp.T
    np.testing.assert_allclose(a, exp, rtol=1e-6)


def test_propagation_and_its_gradient_match_dense():
    r = sp.random(6, 5, density=0.5, random_state=0, format="csr")
    adj = normalized_adjacency(r, 6, 5)
    dense = adj.to_dense()
    ego = torch.randn(11, 4, requires_grad=True)
    out = propagate(SymmetricOperator(adj), ego, 2)
    e2 = ego.detach().clone().requires_grad_(True)
    ref = (e2 + dense @ e2 + dense @ (dense @ e2)) / 3
    torch.testing.assert_close(out, ref)
    w = torch.randn(11, 4)
    (out * w).sum().backward()
    (ref * w).sum().backward()
    torch.testing.assert_close(ego.grad, e2.grad)


def test_lightgcn_without_layers_scores_ego_dot(synthetic, tmp_path):
    m = create("lightgcn", layers=0, epochs=2, batch_size=64).fit(synthetic)
    ego = m.ego.detach()
    exp = ego[:3] @ ego[m.n_users:].T
    torch.testing.assert_close(m.score([0, 1, 2]), exp)
    loaded = Recommender.load(m.save(tmp_path / "m"))
    assert not hasattr(loaded, "_adj")  # no graph needed to score
    torch.testing.assert_close(loaded.ego.detach(), ego, rtol=0, atol=0)  # saved, to train on
    torch.testing.assert_close(loaded.score([0, 1, 2]), exp, rtol=0, atol=0)


# ----------------------------------------------------------------- MultVAE
def test_multvae_kl_annealing(synthetic):
    m = create("multvae", epochs=3, batch_size=16, dims=[16, 4], total_anneal_steps=10, anneal_cap=0.3)
    m.fit(synthetic)
    steps_per_epoch = -(-len(synthetic.active_users()) // 16)
    assert float(m.updates) == 3 * steps_per_epoch
    assert [h["beta"] for h in m.history] == [min(0.3, e * steps_per_epoch / 10) for e in (1, 2, 3)]


def test_multvae_scores_decode_the_train_row(synthetic, tmp_path):
    m = Recommender.load(create("multvae", **FAST["multvae"]).fit(synthetic).save(tmp_path / "m"))
    rows = torch.from_numpy(synthetic.binary_csr[[4, 7]].toarray().astype(np.float32))
    h = torch.tanh(F.normalize(rows, dim=1) @ m.net.item_in + m.net.bias_in)  # dense reference
    mu = m.net.encoder(h)[:, :8]
    torch.testing.assert_close(m.score([4, 7]), m.net.decoder(mu).detach())


# ------------------------------------------------------------------ sampler
def test_sampler_exact_small_case():
    s = NegativeSampler(sp.csr_matrix(np.array([[1, 1, 0, 1, 0, 0], [0, 0, 0, 0, 0, 1]])))
    g = torch.Generator().manual_seed(0)
    u = torch.tensor([0] * 3000 + [1] * 5000)
    j = s.sample(u, g).numpy()
    counts0 = np.bincount(j[:3000], minlength=6)
    assert set(np.flatnonzero(counts0)) == {2, 4, 5} and counts0.min() == 0
    assert np.all(np.abs(counts0[[2, 4, 5]] - 1000) < 120)  # uniform over the 3 negatives
    counts1 = np.bincount(j[3000:], minlength=6)
    assert counts1[5] == 0 and np.all(np.abs(counts1[:5] - 1000) < 120)
    assert s.contains(torch.tensor([0, 0, 1]), torch.tensor([3, 2, 5])).tolist() == [True, False, True]


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 12), st.integers(2, 15), st.floats(0.0, 0.9), st.integers(0, 10**6))
def test_sampler_never_returns_a_positive(n_users, n_items, density, seed):
    rng = np.random.default_rng(seed)
    dense = rng.random((n_users, n_items)) < density
    dense[:, 0] = False  # every user keeps a negative
    s = NegativeSampler(sp.csr_matrix(dense))
    users = torch.from_numpy(rng.integers(0, n_users, 500))
    j = s.sample(users, torch.Generator().manual_seed(seed))
    assert ((j >= 0) & (j < n_items)).all()
    assert not dense[users.numpy(), j.numpy()].any()
    again = s.sample(users, torch.Generator().manual_seed(seed))
    assert torch.equal(j, again)


def test_epoch_triples_cover_every_pair_once(synthetic):
    s = NegativeSampler(synthetic.binary_csr)
    u, i, j = s.epoch_triples(torch.Generator().manual_seed(1))
    keys = np.sort(u.numpy() * synthetic.n_items + i.numpy())
    np.testing.assert_array_equal(keys, np.sort(synthetic.pair_keys()))
    assert not s.contains(u, j).any()
    u2, _, j2 = s.epoch_triples(torch.Generator().manual_seed(1))
    assert torch.equal(u, u2) and torch.equal(j, j2)
    u3, _, _ = s.epoch_triples(torch.Generator().manual_seed(2))
    assert not torch.equal(u, u3)


def test_sampler_user_with_every_item():
    s = NegativeSampler(sp.csr_matrix(np.array([[1, 1], [1, 0]])))
    with pytest.raises(DataError, match="user index 0"):
        s.sample(torch.tensor([1, 0]), torch.Generator())
    u, i, j = s.epoch_triples(torch.Generator().manual_seed(0))
    assert u.tolist() == [1] and i.tolist() == [0] and j.tolist() == [1]
