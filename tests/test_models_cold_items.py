"""Cold items from content: itemgan (GAR-style) and its ablation, the content-to-embedding regression."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import torch
from contract import check_contract

from advrec.data import Interactions
from advrec.models import create

WARM = {"factors": 8, "epochs": 30, "lr": 0.02}
FAST = {"epochs": 2, "g_hidden": [16], "d_hidden": [8], "warm_params": {"factors": 4, "epochs": 2}}


def _without_items(data: Interactions, items: np.ndarray) -> Interactions:
    return data.subset(~np.isin(data.items, items), name=data.name)


def test_contract(synthetic, tmp_path):
    check_contract("itemgan", synthetic, tmp_path, **FAST)


def test_contract_of_the_ablation(synthetic, tmp_path):
    model = check_contract("itemgan", synthetic, tmp_path, adversarial=False, **FAST)
    assert model.d_net is None and set(model.history[-1]) >= {"g_sim"} and "g_adv" not in model.history[-1]


def test_warm_items_keep_their_vectors_and_cold_items_get_generated_ones(synthetic):
    cold = np.array([0, 5, 9])
    train = _without_items(synthetic, cold)
    model = create("itemgan", **FAST).fit(train)
    vectors = model.item_vectors()
    warm = np.setdiff1d(np.arange(train.n_items), cold)
    torch.testing.assert_close(vectors[warm], model.item_emb_[warm], rtol=0, atol=0)
    torch.testing.assert_close(vectors[cold], model.g_net(model.content_[cold]))
    scores = model.score(np.arange(3))
    torch.testing.assert_close(scores, model.user_emb_[:3] @ vectors.T)


def test_the_warm_scores_are_the_warm_models_own(synthetic):
    model = create("itemgan", adversarial=False, epochs=1, warm_params=WARM, seed=3).fit(synthetic)
    warm = create("bpr", **WARM, seed=3).fit(synthetic)
    torch.testing.assert_close(model.score(np.arange(10)), warm.score(np.arange(10)), rtol=1e-5, atol=1e-5)


def test_a_cold_item_is_ranked_for_the_users_of_its_genre():
    from conftest import make_synthetic

    data = make_synthetic(n_users=120, n_items=60, density=0.2, seed=4)
    genre = data.item_features["genre"].to_numpy()
    data = replace(data, item_features=pd.DataFrame({"kind": [f"g{g}" for g in genre]}))  # one-hot content
    cold = np.array([i for g in range(3) for i in np.flatnonzero(genre == g)[:2]])
    train = _without_items(data, cold)
    x = train.binary_csr.toarray()
    taste = np.stack([x[:, genre == g].sum(1) for g in range(3)], axis=1).argmax(1)  # each user's main genre
    for adversarial in (True, False):
        model = create("itemgan", adversarial=adversarial, epochs=30, warm_params=WARM, seed=0).fit(train)
        scores = model.score(np.arange(train.n_users)).numpy()
        for item in cold:
            g = genre[item]
            assert scores[taste == g, item].mean() > scores[taste != g, item].mean()


# ------------------------------------------------------------------ content baselines
def _genre_data() -> Interactions:
    """4 users x 5 items; items 0-1 genre a, 2-3 genre b, item 4 (no interactions) genre a."""
    users, items = [0, 0, 1, 1, 2, 3], [0, 1, 0, 2, 3, 1]
    inter = Interactions(np.array(users), np.array(items), np.ones(6, np.float32), np.arange(4), np.arange(5))
    return replace(inter, item_features=pd.DataFrame({"kind": ["a", "a", "b", "b", "a"]}))


def test_contracts_of_the_content_baselines(synthetic, tmp_path):
    check_contract("contentknn", synthetic, tmp_path)
    kinds = pd.DataFrame({"kind": [f"g{g}" for g in synthetic.item_features["genre"]]})
    check_contract("genrepop", replace(synthetic, item_features=kinds), tmp_path)


def test_contentknn_is_the_mean_cosine_to_the_users_items():
    data = _genre_data()
    model = create("contentknn").fit(data)
    c = model.content_.numpy()
    np.testing.assert_allclose(np.linalg.norm(c, axis=1), 1.0, rtol=1e-6)
    expected = np.stack([c[data.binary_csr[u].indices].mean(0) @ c.T for u in range(4)])
    np.testing.assert_allclose(model.score(np.arange(4)).numpy(), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(model.fold_in(np.eye(5)[[2]]).numpy()[0], c[2] @ c.T, rtol=1e-5, atol=1e-6)


def test_genrepop_gives_a_cold_item_its_genres_popularity():
    model = create("genrepop").fit(_genre_data())
    pop = np.array([2, 2, 1, 1, 0], np.float32)  # training users per item
    expected = pop.copy()
    expected[4] = pop[[0, 1]].mean()  # genre a: items 0 and 1
    np.testing.assert_allclose(model.score([0])[0].numpy(), expected)


def test_dropoutnet_items_contract(synthetic, tmp_path):
    check_contract("dropoutnet-items", synthetic, tmp_path, epochs=2, hidden=[8], dim=4,
                   warm_params={"factors": 4, "epochs": 2})


def test_dropoutnet_items_scores_cold_items_from_content_for_the_users_of_their_genre():
    from conftest import make_synthetic

    data = make_synthetic(n_users=120, n_items=60, density=0.2, seed=4)
    genre = data.item_features["genre"].to_numpy()
    data = replace(data, item_features=pd.DataFrame({"kind": [f"g{g}" for g in genre]}))
    cold = np.array([i for g in range(3) for i in np.flatnonzero(genre == g)[:2]])
    train = _without_items(data, cold)
    x = train.binary_csr.toarray()
    taste = np.stack([x[:, genre == g].sum(1) for g in range(3)], axis=1).argmax(1)
    model = create("dropoutnet-items", epochs=60, hidden=[32], dim=8, dropout=0.5, lr=3e-3, warm_params=WARM,
                   seed=0).fit(train)
    scores = model.score(np.arange(train.n_users)).numpy()
    for item in cold:
        assert scores[taste == genre[item], item].mean() > scores[taste != genre[item], item].mean()


def test_data_without_item_content_is_refused_before_the_warm_fit(synthetic, monkeypatch):
    import pytest

    from advrec.errors import DataError
    from advrec.models import content

    def no_warm_fit(*args, **kwargs):
        raise AssertionError("the warm model was fit although the data has no content")

    monkeypatch.setattr("advrec.models.itemgan.warm_embeddings", no_warm_fit)
    monkeypatch.setattr("advrec.models.dropoutnet_items.warm_embeddings", no_warm_fit)
    bare = replace(synthetic, item_features=None)
    for name in ("itemgan", "dropoutnet-items"):
        with pytest.raises(DataError, match="no item features"):
            create(name).fit(bare)
    assert content.item_content(synthetic)[0].shape[0] == synthetic.n_items


def test_calibration_fits_generated_scores_to_real_ones_and_keeps_the_cold_order(synthetic, tmp_path):
    from advrec.models import Recommender

    cold = np.array([0, 5, 9])
    train = _without_items(synthetic, cold)
    plain = create("itemgan", **FAST, seed=2).fit(train)
    cal = create("itemgan", **FAST, seed=2, calibrate=True).fit(train)
    scale, shift = cal.calibration_.tolist()
    assert scale > 0 and plain.calibration_.tolist() == [1.0, 0.0]
    g = torch.Generator().manual_seed(2)  # the calibration's own pairs: training pairs + random warm pairs
    users = torch.from_numpy(train.users.astype(np.int64))
    items = torch.from_numpy(train.items.astype(np.int64))
    users = torch.cat([users, users[torch.randperm(len(users), generator=g)]])
    items = torch.cat([items, cal._warm_index[torch.randint(len(cal._warm_index), (len(items),), generator=g)]])
    with torch.no_grad():
        gen = (cal.user_emb_[users] * cal.g_net(cal.content_[items])).sum(1)
        real = (cal.user_emb_[users] * cal.item_emb_[items]).sum(1)
    for a, b in ((1.0, 0.0), (scale * 1.1, shift), (scale, shift + 0.1)):  # the fit beats its neighbours
        assert float(((scale * gen + shift - real) ** 2).mean()) <= float(((a * gen + b - real) ** 2).mean()) + 1e-9
    p, c = plain.score(np.arange(20))[:, cold], cal.score(np.arange(20))[:, cold]
    torch.testing.assert_close(c, scale * p + shift, rtol=1e-4, atol=1e-4)  # the same order of cold items
    warm = np.setdiff1d(np.arange(train.n_items), cold)
    torch.testing.assert_close(cal.score(np.arange(20))[:, warm], plain.score(np.arange(20))[:, warm])
    loaded = Recommender.load(cal.save(tmp_path / "cal"))
    torch.testing.assert_close(loaded.calibration_, cal.calibration_)
    torch.testing.assert_close(loaded.score(np.arange(5)), cal.score(np.arange(5)))
