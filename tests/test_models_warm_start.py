"""Warm starts of BPR-MF and LightGCN: copied parameters, grown id spaces, continued training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from advrec.data import Interactions
from advrec.errors import CapabilityError, ConfigError
from advrec.models import Recommender, create

FAST = {"bpr": {"factors": 8, "batch_size": 256}, "lightgcn": {"factors": 8, "batch_size": 256, "layers": 2}}
#: a learning rate so small that one epoch leaves the starting values as they were (Adam's steps are ~lr)
FROZEN = 1e-9


def _params(model: Recommender) -> torch.Tensor:
    """All learned rows, users first then items."""
    if model.name == "lightgcn":
        return model.ego.detach().clone()
    return torch.cat([model.user_emb, model.item_emb]).detach().clone()


def _prefix(data: Interactions, n_users: int, n_items: int) -> Interactions:
    """The records of the first users and items, over an id space of just those (a prefix)."""
    keep = (data.users < n_users) & (data.items < n_items)
    return Interactions(data.users[keep], data.items[keep], data.values[keep], data.user_ids[:n_users],
                        data.item_ids[:n_items], data.timestamps[keep], name="prefix")


@pytest.mark.parametrize("name", ["bpr", "lightgcn"])
def test_warm_start_starts_from_the_init_parameters(synthetic, name):
    init = create(name, epochs=3, **FAST[name]).fit(synthetic)
    warm = create(name, epochs=1, lr=FROZEN, seed=7, **FAST[name]).fit(synthetic, init=init)
    cold = create(name, epochs=1, lr=FROZEN, seed=7, **FAST[name]).fit(synthetic)
    torch.testing.assert_close(_params(warm), _params(init), rtol=0, atol=1e-6)
    assert not torch.allclose(_params(cold), _params(init), atol=1e-3)


@pytest.mark.parametrize("name", ["bpr", "lightgcn"])
def test_grown_id_space_copies_old_rows_and_keeps_new_ones_fresh(synthetic, name):
    n_u, n_i = synthetic.n_users - 10, synthetic.n_items - 5
    init = create(name, epochs=3, **FAST[name]).fit(_prefix(synthetic, n_u, n_i))
    warm = create(name, epochs=1, lr=FROZEN, **FAST[name]).fit(synthetic, init=init)
    cold = create(name, epochs=1, lr=FROZEN, **FAST[name]).fit(synthetic)
    w, c, old = _params(warm), _params(cold), _params(init)
    users, items = slice(0, n_u), slice(synthetic.n_users, synthetic.n_users + n_i)
    torch.testing.assert_close(w[users], old[:n_u], rtol=0, atol=1e-6)
    torch.testing.assert_close(w[items], old[n_u:], rtol=0, atol=1e-6)
    fresh = torch.ones(len(w), dtype=torch.bool)
    fresh[users] = False
    fresh[items] = False
    torch.testing.assert_close(w[fresh], c[fresh], rtol=0, atol=1e-6)  # appended rows: the cold start's


@pytest.mark.parametrize("name", ["bpr", "lightgcn"])
def test_loaded_model_continues_training(synthetic, name, tmp_path):
    params = {"lr": 0.01, **FAST[name]}
    init = create(name, epochs=15, **params).fit(synthetic)
    loaded = Recommender.load(init.save(tmp_path / name))
    warm = create(name, epochs=1, **params).fit(synthetic, init=loaded)
    cold = create(name, epochs=1, **params).fit(synthetic)
    first, start, trained = warm.history[0]["loss"], cold.history[0]["loss"], init.history[-1]["loss"]
    assert trained < start  # the init learned something
    assert abs(first - trained) < abs(first - start)  # the continued fit starts where the init ended


def test_warm_start_needs_the_same_shapes(synthetic):
    init = create("bpr", epochs=1, **FAST["bpr"]).fit(synthetic)
    with pytest.raises(ConfigError, match="factors"):
        create("bpr", epochs=1, factors=4).fit(synthetic, init=init)


def test_lightgcn_saved_without_ego_embeddings_scores_but_cannot_start_a_fit(synthetic, tmp_path):
    model = create("lightgcn", epochs=2, **FAST["lightgcn"]).fit(synthetic)
    folder = model.save(tmp_path / "old")
    weights = folder / "model.safetensors"
    tensors = load_file(str(weights))
    del tensors["state.ego"]  # as written before the ego embeddings were saved
    save_file(tensors, str(weights), metadata={"model": "lightgcn"})
    old = Recommender.load(folder)
    users = np.arange(synthetic.n_users)
    torch.testing.assert_close(old.score(users), model.score(users), rtol=0, atol=0)
    with pytest.raises(CapabilityError, match="ego"):
        create("lightgcn", epochs=1, **FAST["lightgcn"]).fit(synthetic, init=old)
    with pytest.raises(CapabilityError, match="ego"):
        old.score([0], grad=True)


def test_loaded_lightgcn_gradient_reaches_its_ego_embeddings(synthetic, tmp_path):
    model = Recommender.load(create("lightgcn", epochs=2, **FAST["lightgcn"]).fit(synthetic).save(tmp_path / "m"))
    model.score([0, 1], grad=True).sum().backward()
    grad = model.ego.grad
    assert grad is not None
    # propagation spreads the gradient beyond the two users' own rows
    assert int((grad[2: synthetic.n_users].abs().sum(1) > 0).sum()) > 0
