"""GroupPop: popularity within the user's demographic group, and the side-feature plumbing it uses."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from contract import check_contract

from advrec.data import Interactions
from advrec.data.features import MAX_CATEGORIES, encode_frame, encode_side_features, genre_matrix
from advrec.errors import ConfigError, DataError
from advrec.models import Recommender, create
from advrec.models.content import item_content


def _tiny() -> Interactions:
    """5 users (3 in group a, 2 in b; user 4 has no interactions) x 3 items."""
    users = [0, 0, 1, 2, 3, 3]
    items = [0, 1, 0, 0, 2, 1]
    inter = Interactions(np.array(users), np.array(items), np.ones(6, np.float32), np.arange(5), np.arange(3))
    return replace(inter, user_features=pd.DataFrame({"team": ["a", "a", "a", "b", "b"], "score": [1, 1, 1, 2, 2]}))


def _expected(data: Interactions, groups: np.ndarray, shrink: float) -> np.ndarray:
    """The documented formula, written out per group with the users who have interactions."""
    x = data.binary_csr.toarray()
    active = x.sum(1) > 0
    pop = x[active].mean(0)
    out = np.zeros((data.n_users, data.n_items))
    for u in range(data.n_users):
        members = (groups == groups[u]) & active
        n_g = members.sum()
        pop_g = x[members].mean(0) if n_g else pop
        out[u] = (n_g * pop_g + shrink * pop) / (n_g + shrink)
    return out


@pytest.mark.parametrize("shrink", [0.0, 1.5, 100.0])
def test_scores_follow_the_shrunk_group_popularity(shrink):
    data = _tiny()
    model = create("grouppop", columns=["team"], shrink=shrink).fit(data)
    groups = np.array([0, 0, 0, 1, 1])
    np.testing.assert_allclose(model.score(np.arange(5)).numpy(), _expected(data, groups, shrink), rtol=1e-6)


def test_groups_rank_differently_and_large_shrink_tends_to_global():
    data = _tiny()
    model = create("grouppop", columns=["team"], shrink=0.0).fit(data)
    a, b = model.score([0, 3])
    assert int(a.argmax()) == 0 and int(b.argmax()) in (1, 2)  # group a's top item is item 0, b never had it
    assert float(b[0]) == 0.0
    near_global = create("grouppop", columns=["team"], shrink=1e6).fit(data).score([3])[0]
    pop = data.binary_csr.toarray()[[0, 1, 2, 3]].mean(0)
    np.testing.assert_allclose(near_global.numpy(), pop, atol=1e-4)


def test_user_without_interactions_gets_their_group():
    data = _tiny()
    model = create("grouppop", columns=["team"]).fit(data)
    torch.testing.assert_close(model.score([4]), model.score([3]))


def test_fold_in_by_features_and_global_without():
    data = _tiny()
    model = create("grouppop", columns=["team"], shrink=0.5).fit(data)
    history = np.zeros((3, data.n_items))
    feats = model.user_features_[[3, 0, 0]].copy()
    feats[2, :] = 7.0  # a group unseen in training
    out = model.fold_in(history, feats)
    torch.testing.assert_close(out[0], model.score([3])[0])
    torch.testing.assert_close(out[1], model.score([0])[0])
    torch.testing.assert_close(out[2], model.popularity_)
    torch.testing.assert_close(model.fold_in(history), model.popularity_.expand(3, -1))
    with pytest.raises(DataError, match="user_features"):
        model.fold_in(history, feats[:, :1])


def test_columns_choose_the_grouping(synthetic):
    by_gender = create("grouppop", columns=["gender"]).fit(synthetic)
    everything = create("grouppop").fit(synthetic)
    assert len(by_gender.group_keys_) == synthetic.user_features["gender"].nunique()
    assert len(everything.group_keys_) > len(by_gender.group_keys_)
    with pytest.raises(ConfigError, match="columns"):
        create("grouppop", columns=["shoe_size"]).fit(synthetic)


def test_needs_user_features(synthetic):
    with pytest.raises(DataError, match="grouppop.*user features"):
        create("grouppop").fit(replace(synthetic, user_features=None))


def test_contract_and_saved_features(synthetic, tmp_path):
    model = check_contract("grouppop", synthetic, tmp_path, columns=["gender", "age"])
    loaded = Recommender.load(model.save(tmp_path / "again"))
    np.testing.assert_array_equal(loaded.user_features_, model.user_features_)
    assert loaded.user_feature_names_ == model.user_feature_names_
    torch.testing.assert_close(loaded.fold_in(np.zeros((2, synthetic.n_items)), model.user_features_[:2]),
                               model.score([0, 1]))


def test_generic_encoder_numeric_as_floats_others_one_hot():
    table = pd.DataFrame({"region": ["n", "s", None, "n"], "premium": [True, False, True, True],
                          "spend": [1.5, np.nan, 3.5, 1.0]})
    m, names = encode_frame(table)
    assert names == ["region=n", "region=s", "premium", "spend"]
    expected = [[1, 0, 1, 1.5], [0, 1, 0, 2.0], [0, 0, 1, 3.5], [1, 0, 1, 1.0]]  # missing spend: the mean
    np.testing.assert_allclose(m, np.asarray(expected, np.float32))
    assert m.dtype == np.float32
    data = replace(_tiny(), item_features=table.iloc[:3].reset_index(drop=True))
    items, item_names = encode_side_features(data, "item")  # an unknown item table: the generic encoder
    assert items.shape == (3, len(item_names)) and "premium" in item_names
    assert encode_side_features(replace(data, item_features=None), "item") == (None, [])


def test_generic_encoder_leaves_out_identifier_columns():
    n = 3 * MAX_CATEGORIES
    table = pd.DataFrame({"name": [f"artist {j}" for j in range(n)], "kind": ["a", "b", "c"] * MAX_CATEGORIES})
    m, names = encode_frame(table)
    assert names == ["kind=a", "kind=b", "kind=c"] and m.shape == (n, 3)
    with pytest.raises(DataError, match=r"identifier-like columns \['name'\].*text=true"):
        encode_frame(table[["name"]], "artists")
    items = Interactions(np.array([0, 1]), np.array([0, n - 1]), np.ones(2, np.float32), np.arange(2), np.arange(n))
    assert genre_matrix(replace(items, item_features=table[["name"]])) is None  # no genres, no error
    np.testing.assert_array_equal(genre_matrix(replace(items, item_features=table)), m)
    artists = replace(items, item_features=table[["name"]])
    assert encode_side_features(artists, "item") == (None, [])  # side-feature models: no item features
    with pytest.raises(DataError, match="no encodable item content.*text=true"):
        item_content(artists)


@pytest.mark.realdata
def test_ml100k_groups_by_gender_and_age(shared_data, monkeypatch, tmp_path):
    from advrec.data.datasets import load_dataset
    from advrec.data.splits import make_split
    from advrec.eval import evaluate

    monkeypatch.setenv("ADVREC_DATA", str(shared_data))
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVREC_OFFLINE", "1")
    inter = load_dataset("ml-100k").interactions
    split = make_split(inter, "random:0.8", seed=0)
    model = create("grouppop", columns=["gender", "age"]).fit(split.train_full())
    assert 2 < len(model.group_keys_) <= 2 * 7  # two genders x the seven age groups (present ones)
    group = evaluate(model, split.train_full(), split.test, ks=(20,)).summary["ndcg@20"]
    pop = evaluate(create("pop").fit(split.train_full()), split.train_full(), split.test, ks=(20,)).summary["ndcg@20"]
    assert group > 0.5 * pop  # a sane ranking (a popularity variant), not noise
