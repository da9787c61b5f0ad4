"""Every registered model against the capabilities it declares (and refuses the others)."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from conftest import make_synthetic

from advrec.errors import CapabilityError
from advrec.models import Recommender, available, create
from advrec.models.base import CAPABILITIES

#: small settings so every model fits the synthetic data in well under a second
FAST: dict[str, dict] = {
    "bpr": {"epochs": 3, "factors": 8, "batch_size": 256},
    "apr": {"epochs": 3, "pretrain_epochs": 1, "factors": 8, "optimizer": "sgd", "batch_size": 1, "lr": 0.05},
    "lightgcn": {"epochs": 3, "factors": 8, "batch_size": 256, "layers": 2},
    "apr-lightgcn": {"epochs": 3, "factors": 8, "batch_size": 256, "layers": 2, "pretrain_epochs": 1, "eps": 0.1},
    "irgan": {"epochs": 3, "pretrain_epochs": 2, "factors": 4},
    "multvae": {"epochs": 2, "dims": [16, 8], "batch_size": 32},
    "cfgan": {"epochs": 2, "g_hidden": [16], "d_hidden": [8], "mode": "user"},
    "puresvd": {"factors": 5},
    "itemknn": {"k": 10},
    "slim": {"alpha": 0.1},
    "usergan": {"epochs": 2, "g_hidden": [16], "d_hidden": [8]},
    "dropoutnet": {"epochs": 2, "hidden": [8], "dim": 4, "warm_params": {"factors": 4, "epochs": 2}},
    "dropoutnet-items": {"epochs": 2, "hidden": [8], "dim": 4, "warm_params": {"factors": 4, "epochs": 2}},
    "itemgan": {"epochs": 2, "g_hidden": [8], "d_hidden": [8], "warm_params": {"factors": 4, "epochs": 2}},
    "pdgan": {"epochs": 1, "set_size": 3, "pool": 10, "k": 5, "candidates": 15, "warm_params": {"factors": 4, "epochs": 2}},
}

MODELS = available()


@cache
def _data():
    return make_synthetic()


@cache
def _fitted(name: str) -> Recommender:
    return create(name, **FAST.get(name, {})).fit(_data())


def _loaded(name: str, tmp_path) -> Recommender:
    return Recommender.load(_fitted(name).save(tmp_path / name))


def _learned(model: Recommender) -> list[torch.Tensor]:
    """Every tensor of the model that autograd can reach (parameters of its modules included)."""
    out: list[torch.Tensor] = []
    for value in vars(model).values():
        if isinstance(value, torch.nn.Module):
            out += list(value.parameters())
        elif isinstance(value, torch.Tensor) and value.requires_grad:
            out.append(value)
    return out


def _declares(name: str, capability: str) -> None:
    if capability not in create(name, **FAST.get(name, {})).capabilities:
        pytest.skip(f"{name} does not declare {capability}")


@pytest.mark.parametrize("name", MODELS)
def test_declared_capabilities_are_known(name):
    assert create(name).capabilities <= set(CAPABILITIES)


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("loaded", [False, True])
def test_embeddings_score_as_the_model(name, loaded, tmp_path):
    _declares(name, "embeddings")
    model = _loaded(name, tmp_path) if loaded else _fitted(name)
    users, items = model.embeddings()
    assert users.shape[0] == model.n_users and items.shape[0] == model.n_items
    assert users.shape[1] == items.shape[1]
    everyone = np.arange(model.n_users)
    torch.testing.assert_close(model.score_embeddings(users, items), model.score(everyone), rtol=1e-5, atol=1e-5)
    # copies: changing them leaves the model alone; gradients flow to perturbed inputs (FGSM)
    before = model.score(everyone)
    delta = torch.zeros_like(users, requires_grad=True)
    model.score_embeddings(users + delta, items).sum().backward()
    users.add_(1.0)
    torch.testing.assert_close(model.score(everyone), before, rtol=0, atol=0)
    assert delta.grad is not None and delta.grad.abs().sum() > 0


@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("loaded", [False, True])
def test_differentiable_scores_reach_the_parameters(name, loaded, tmp_path):
    _declares(name, "differentiable")
    model = _loaded(name, tmp_path) if loaded else _fitted(name)
    users = np.arange(0, model.n_users, 3)
    scores = model.score(users, grad=True)
    assert scores.requires_grad
    torch.testing.assert_close(scores.detach(), model.score(users), rtol=1e-5, atol=1e-5)
    params = _learned(model)
    assert params, f"{name}: no learned tensor requires grad"
    for p in params:
        p.grad = None
    scores.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in params)


@pytest.mark.parametrize("name", MODELS)
def test_encoder_codes_are_deterministic_and_saved(name, tmp_path):
    _declares(name, "encoder")
    model = _fitted(name)
    users = np.arange(0, model.n_users, 2)
    codes = model.encode_users(users)
    assert codes.ndim == 2 and codes.shape[0] == len(users) and not codes.requires_grad
    assert torch.isfinite(codes).all() and codes.abs().sum() > 0
    torch.testing.assert_close(model.encode_users(users), codes, rtol=0, atol=0)
    torch.testing.assert_close(model.encode_users(users[::-1].copy()), codes.flip(0), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(_loaded(name, tmp_path).encode_users(users), codes, rtol=0, atol=0)


def test_encoder_is_what_multvae_decodes():
    model = _fitted("multvae")
    users = np.arange(model.n_users)
    torch.testing.assert_close(model.net.decoder(model.encode_users(users)).detach(), model.score(users),
                               rtol=1e-6, atol=1e-6)
    with pytest.raises(CapabilityError, match="encoder"):
        _fitted("bpr").encode_users([0])


@pytest.mark.parametrize("name", MODELS)
def test_warm_start_from_a_fitted_and_a_loaded_model(name, tmp_path):
    _declares(name, "warm_start")
    for init in (_fitted(name), _loaded(name, tmp_path)):
        model = create(name, **FAST.get(name, {})).fit(_data(), init=init)
        assert model.is_fitted and model.score([0]).shape == (1, model.n_items)
    other = create("pop").fit(_data())
    with pytest.raises(CapabilityError, match=name):
        create(name, **FAST.get(name, {})).fit(_data(), init=other)


@pytest.mark.parametrize("name", MODELS)
def test_side_features_are_encoded_and_saved(name, tmp_path):
    _declares(name, "side_features")
    model = _fitted(name)
    data = _data()
    assert model.user_features_.shape == (data.n_users, len(model.user_feature_names_))
    assert model.user_features_.dtype == np.float32
    assert model.item_features_.shape == (data.n_items, len(model.item_feature_names_))
    loaded = _loaded(name, tmp_path)
    for kind in ("user", "item"):
        np.testing.assert_array_equal(getattr(loaded, f"{kind}_features_"), getattr(model, f"{kind}_features_"))
        assert getattr(loaded, f"{kind}_feature_names_") == getattr(model, f"{kind}_feature_names_")


@pytest.mark.parametrize("name", MODELS)
def test_fold_in_scores_new_rows(name):
    _declares(name, "fold_in")
    model = _fitted(name)
    rows = _data().binary_csr[:5]
    feats = getattr(model, "user_features_", None)
    out = model.fold_in(rows, None if feats is None else feats[:5])
    assert out.shape == (5, model.n_items) and torch.isfinite(out).all()


@pytest.mark.parametrize("name", MODELS)
def test_undeclared_capabilities_raise_naming_the_model(name):
    model = _fitted(name)
    have = model.capabilities
    calls = {
        "embeddings": lambda: model.embeddings(),
        "differentiable": lambda: model.score([0], grad=True),
        "warm_start": lambda: create(name, **FAST.get(name, {})).fit(_data(), init=model),
        "fold_in": lambda: model.fold_in(_data().binary_csr[:2]),
    }
    for capability, call in calls.items():
        if capability not in have:
            with pytest.raises(CapabilityError, match=f"'{name}'.*{capability}"):
                call()
    if "embeddings" not in have:
        with pytest.raises(CapabilityError, match=name):
            model.score_embeddings(torch.zeros(1, 2), torch.zeros(3, 2))
    if "side_features" not in have:  # only declaring classes read (and save) the side tables
        assert getattr(model, "user_features_", None) is None


@pytest.mark.parametrize("params", [{"mode": "user"}, {"mode": "item"}, {"mode": "user", "negatives": 8},
                                    {"mode": "item", "prior": "ease", "prior_l2": 50.0, "prior_weight": 0.3}])
def test_cfgan_every_mode_is_differentiable(params):
    model = create("cfgan", **{**FAST["cfgan"], **params}).fit(_data())
    users = np.arange(0, model.n_users, 7)
    scores = model.score(users, grad=True)
    torch.testing.assert_close(scores.detach(), model.score(users), rtol=1e-5, atol=1e-5)
    scores.sum().backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.g_net.parameters())
    if "prior" in params:  # the prior alone (blend weight 1) has no gradient to the generator
        model.set_blend_weight(1.0)
        with pytest.raises(CapabilityError, match="cfgan.*prior"):
            model.score(users, grad=True)
