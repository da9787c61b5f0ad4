"""Cold-start models of new users: usergan (arrival simulation, what it learns from demographics and
revealed items, the ablation) and DropoutNet."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from contract import check_contract

from advrec.data import Interactions
from advrec.data.splits import cold_users
from advrec.errors import ConfigError, DataError
from advrec.eval.foldin import evaluate_cold_users
from advrec.models import Recommender, create
from advrec.models.arrival import Arrival

FAST = {"epochs": 3, "g_hidden": [16], "d_hidden": [8], "diag_rows": 20}


def _two_tastes(n_users: int = 80, seed: int = 0) -> Interactions:
    """Team a likes items 0-4 and team b items 5-9 (each user 4 of their team's 5); items 10-11 are
    rare noise. The team is a user feature, so a new user's team alone tells their taste."""
    rng = np.random.default_rng(seed)
    team = np.arange(n_users) % 2
    users, items = [], []
    for u in range(n_users):
        own = rng.choice(5, 4, replace=False) + 5 * team[u]
        users += [u] * 4
        items += own.tolist()
    users += [0, 1]
    items += [10, 11]
    ts = rng.permutation(len(users)).astype(np.int64)
    inter = Interactions.from_records(np.array(users), np.array(items), np.ones(len(users), np.float32), ts,
                                      user_ids=np.arange(n_users), item_ids=np.arange(12), name="tastes")
    return replace(inter, user_features=pd.DataFrame({"team": np.where(team == 0, "a", "b")}))


def test_contract(synthetic, tmp_path):
    check_contract("usergan", synthetic, tmp_path, **FAST)


def test_contract_of_the_ablation(synthetic, tmp_path):
    model = check_contract("usergan", synthetic, tmp_path, adversarial=False, **FAST)
    assert model.d_net is None
    assert "g_adv" not in model.history[-1] and "g_recon" in model.history[-1]


def test_adversarial_fit_logs_the_game_and_saves_both_networks(synthetic, tmp_path):
    model = create("usergan", **FAST).fit(synthetic)
    last = model.history[-1]
    assert {"g_adv", "g_recon", "g_zr", "pop_js", "gen_pairwise"} <= set(last)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert loaded.d_net is not None
    for a, b in zip(model.d_net.parameters(), loaded.d_net.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_revealed_items_are_the_earliest_by_time(synthetic):
    model = create("usergan", **FAST).fit(synthetic)
    users = np.array([0, 5, 7])
    counts = np.array([0, 2, 3])
    shown = model._arrival.first(users, counts).toarray()
    order = np.lexsort((synthetic.timestamps, synthetic.users))
    for row, (u, n) in enumerate(zip(users, counts, strict=True)):
        mine = synthetic.items[order][synthetic.users[order] == u]
        assert set(np.flatnonzero(shown[row])) == set(mine[:n].tolist())


def test_without_timestamps_each_epoch_draws_a_fresh_arrival_order(synthetic):
    """``reveal_by="time"`` on data without timestamps is a random order, redrawn every epoch
    (not one order kept for the whole fit); with timestamps the order stays by time."""
    untimed = replace(synthetic, timestamps=None)
    users = np.arange(synthetic.n_users)
    for data in (untimed, synthetic):
        arrival = Arrival(data, "time", seed=0)
        assert arrival.by == ("random" if data is untimed else "time")
        before_items, before_rows = arrival.items.copy(), arrival.first(users, arrival.counts)
        arrival.next_epoch(torch.Generator().manual_seed(1))
        assert (before_items != arrival.items).any() == (data is untimed)
        assert (before_rows != arrival.first(users, arrival.counts)).nnz == 0  # each user's items kept


@pytest.mark.parametrize("name", ["usergan", "dropoutnet"])
def test_every_epoch_starts_a_new_arrival(synthetic, monkeypatch, name):
    calls = []
    original = Arrival.next_epoch
    monkeypatch.setattr(Arrival, "next_epoch", lambda self, g: calls.append(1) or original(self, g))
    create(name, **(FAST if name == "usergan" else {"epochs": 3})).fit(synthetic)
    assert len(calls) == 3


def test_an_epoch_never_reveals_a_whole_profile(synthetic):
    model = create("usergan", reveal=[50], **FAST).fit(synthetic)
    model.start_epoch(1, torch.Generator().manual_seed(0))
    counts = synthetic.user_counts()
    np.testing.assert_array_equal(model._epoch_reveal, np.maximum(counts - 1, 0))


@pytest.mark.parametrize("adversarial", [True, False])
def test_new_users_get_their_teams_items_from_demographics_alone(adversarial):
    data = _two_tastes()
    model = create("usergan", adversarial=adversarial, epochs=60, g_hidden=[32], d_hidden=[16],
                   reveal=[0], lr=3e-3, seed=1).fit(data)
    feats = model.user_features_[[0, 1]]  # a team-a and a team-b user
    scores = model.fold_in(np.zeros((2, 12)), feats).numpy()
    assert set(np.argsort(-scores[0])[:5]) == set(range(5))
    assert set(np.argsort(-scores[1])[:5]) == set(range(5, 10))


def test_revealed_items_tell_the_taste_without_demographics():
    data = replace(_two_tastes(), user_features=None)
    model = create("usergan", adversarial=True, epochs=60, g_hidden=[32], d_hidden=[16],
                   reveal=[1], lr=3e-3, seed=1).fit(data)
    history = np.zeros((2, 12))
    history[0, 2] = history[1, 7] = 1  # one item of team a, one of team b
    scores = model.fold_in(history).numpy()
    assert set(np.argsort(-scores[0])[:4]) <= set(range(5))
    assert set(np.argsort(-scores[1])[:4]) <= set(range(5, 10))


def test_fold_in_checks_the_feature_width(synthetic):
    model = create("usergan", **FAST).fit(synthetic)
    with pytest.raises(DataError, match="user_features"):
        model.fold_in(np.zeros((2, synthetic.n_items)), np.zeros((2, 1)))
    assert model.fold_in(np.zeros((2, synthetic.n_items))).shape == (2, synthetic.n_items)


def test_cold_users_are_scored_from_revealed_items_and_demographics(synthetic):
    split = cold_users(synthetic, 0.25, reveal=1, seed=0)
    model = create("usergan", **FAST).fit(split.train)
    res = evaluate_cold_users(model, split.train, split.revealed, split.test, split.cold_users, ks=(5,),
                              user_features=model.user_features_)
    assert res.n_evaluated == len(split.cold_users)
    assert 0.0 <= res.summary["ndcg@5"] <= 1.0
    rows = split.revealed.binary_csr[split.cold_users]
    with_feats = model.fold_in(rows, model.user_features_[split.cold_users])
    assert not torch.equal(with_feats, model.fold_in(rows))


# ------------------------------------------------------------------ DropoutNet (the baseline)
DROPOUTNET = {"epochs": 3, "hidden": [16], "dim": 8, "warm_params": {"factors": 8, "epochs": 3}}


def test_dropoutnet_contract(synthetic, tmp_path):
    check_contract("dropoutnet", synthetic, tmp_path, **DROPOUTNET)


def test_dropoutnet_new_users_get_their_teams_items_from_demographics_alone():
    data = _two_tastes()
    model = create("dropoutnet", epochs=150, hidden=[32], dim=8, dropout=1.0, reveal=[0], lr=3e-3, seed=1,
                   warm_params={"factors": 8, "epochs": 200, "lr": 0.01}).fit(data)
    scores = model.fold_in(np.zeros((2, 12)), model.user_features_[[0, 1]]).numpy()
    assert set(np.argsort(-scores[0])[:5]) == set(range(5))
    assert set(np.argsort(-scores[1])[:5]) == set(range(5, 10))


def test_dropoutnet_without_dropout_reproduces_the_warm_model_for_warm_users():
    data = _two_tastes()
    model = create("dropoutnet", epochs=200, hidden=[64], dim=16, dropout=0.0, lr=3e-3, seed=1,
                   warm_params={"factors": 8, "epochs": 200, "lr": 0.01}).fit(data)
    warm = create("bpr", factors=8, epochs=200, lr=0.01, seed=1).fit(data)
    users = np.arange(10)
    a, b = model.score(users).numpy(), warm.score(users).numpy()
    for u in users:
        assert np.corrcoef(a[u], b[u])[0, 1] > 0.9


def test_dropoutnet_needs_an_embedding_warm_model(synthetic):
    with pytest.raises(ConfigError, match="embeddings"):
        create("dropoutnet", warm="ease").fit(synthetic)
