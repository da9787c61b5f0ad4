"""Adversarial attribute removal (models/adversary.py) and DP-SGD training (train/dp.py)."""

from __future__ import annotations

import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from advrec.data import Interactions
from advrec.errors import ConfigError
from advrec.models.base import Recommender
from advrec.models.registry import create

pytest.importorskip("opacus")


def gendered(n_users: int = 240, n_items: int = 60, seed: int = 0) -> Interactions:
    """Users whose gender shows in their items: F users pick the first half of the catalogue
    three times as often as M users do, and the reverse."""
    rng = np.random.default_rng(seed)
    female = rng.random(n_users) < 0.5
    first = np.arange(n_items) < n_items // 2
    p = np.where(female[:, None] == first[None, :], 0.24, 0.08)
    mask = rng.random((n_users, n_items)) < p
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(mask)
    inter = Interactions.from_records(u, i, name="gendered", user_ids=np.arange(n_users), item_ids=np.arange(n_items))
    return replace(inter, user_features=pd.DataFrame({"gender": np.where(female, "F", "M")}))


def attacker_auc(x: np.ndarray, y: np.ndarray) -> float:
    """Cross-validated logistic-regression AUC, folded at 0.5 (an attacker below chance flips)."""
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    prob = cross_val_predict(LogisticRegression(max_iter=2000), x, y, cv=cv, method="predict_proba")[:, 1]
    auc = roc_auc_score(y, prob)
    return max(auc, 1 - auc)


BPR = {"factors": 16, "epochs": 40, "batch_size": 256, "lr": 0.02, "l2": 1e-4, "seed": 0}


def test_adversary_hides_a_planted_attribute() -> None:
    data = gendered()
    y = (data.user_features["gender"] == "F").to_numpy().astype(int)
    torch.set_num_threads(1)
    plain = create("bpr", **BPR).fit(data)
    hidden = create("bpr", **BPR, adv_attributes="gender", adv_weight=1.0).fit(data)
    before = attacker_auc(plain.embeddings()[0].detach().numpy(), y)
    after = attacker_auc(hidden.embeddings()[0].detach().numpy(), y)
    assert before > 0.9
    assert after < before - 0.15
    assert hidden.history[-1]["adv_head_loss"] > 0  # the heads trained in the adversarial epochs
    assert len(hidden.history) == BPR["epochs"] + hidden.config.adv_epochs
    assert "adv_head_loss" not in hidden.history[BPR["epochs"] - 1]  # the plain phase comes first


@pytest.mark.parametrize("model", ["lightgcn", "multvae"])
def test_other_models_train_against_the_adversary(model: str) -> None:
    data = gendered(n_users=80, n_items=30)
    params = {"epochs": 2, "adv_epochs": 2, "seed": 0, "adv_attributes": ["gender"]}
    if model == "multvae":
        params["dims"] = [16, 8]
    rec = create(model, **params).fit(data)
    assert [("adv_head_loss" in h) for h in rec.history] == [False, False, True, True]
    assert np.isfinite(rec.score(np.arange(5)).detach().numpy() if hasattr(rec.score(np.arange(5)), "detach")
                       else rec.score(np.arange(5))).all()


def test_adversary_settings_are_checked() -> None:
    assert create("bpr", adv_attributes="gender, age").config.adv_attributes == ["gender", "age"]
    with pytest.raises(ConfigError, match="unknown attribute 'religion'"):
        create("bpr", adv_attributes="religion")
    with pytest.raises(ConfigError, match="per-triple kernel"):
        create("bpr", adv_attributes="gender", optimizer="sgd", batch_size=1)
    bare = replace(gendered(40, 20), user_features=None)
    with pytest.raises(Exception, match="no user side table"):
        create("bpr", **{**BPR, "epochs": 1}, adv_attributes="gender").fit(bare)


def test_adversary_options_are_inert_without_an_adversary() -> None:
    from advrec.models.config import same_hyperparameters

    plain = create("bpr", adv_weight=1.0).config.model_dump(mode="json")
    assert same_hyperparameters(create("bpr", adv_weight=0.3, adv_steps=2).config, plain)  # no adversary: unchanged
    hidden = create("bpr", adv_attributes="gender", adv_weight=1.0).config.model_dump(mode="json")
    assert not same_hyperparameters(create("bpr", adv_attributes="gender", adv_weight=0.3).config, hidden)
    assert not same_hyperparameters(create("bpr", adv_attributes="gender").config, plain)


def test_dp_bpr_spends_its_budget_reproducibly(tmp_path) -> None:
    data = gendered(n_users=120, n_items=40)
    params = {**BPR, "epochs": 3, "batch_size": 64, "dp_epsilon": 4.0}
    a = create("bpr", **params).fit(data)
    b = create("bpr", **params).fit(data)
    p = a.privacy_record()
    assert p is not None and p["unit"] == "interaction" and p["sampling"] == "poisson"
    assert 0 < p["epsilon"] <= 4.0 + 1e-6 and p["epsilon"] > 3.0  # the noise is calibrated to the budget
    assert p["delta"] == pytest.approx(1 / (10 * len(data)))
    assert p["sample_rate"] == pytest.approx(1 / math.ceil(p["examples"] / 64))  # the rate Opacus accounts for
    # l2 as weight decay at the per-triple penalty's mean strength (not the full l2 on every row)
    decay = [g["weight_decay"] for g in a._dp.optimizer.param_groups]
    assert decay == pytest.approx([2 * BPR["l2"] / a.n_users, 4 * BPR["l2"] / a.n_items])
    assert torch.equal(a.user_emb, b.user_emb)  # seeded sampling and noise
    plain = create("bpr", **{**params, "dp_epsilon": None}).fit(data)
    assert not torch.equal(a.user_emb, plain.user_emb)
    a.save(tmp_path / "m")
    assert Recommender.load(tmp_path / "m").privacy_record() == json.loads(json.dumps(p))


def test_dp_multvae_is_per_user_and_ignores_validation() -> None:
    data = gendered(n_users=120, n_items=40)
    rng = np.random.default_rng(0)
    mask = rng.random(len(data)) < 0.2
    rec = create("multvae", dims=[16, 8], epochs=2, batch_size=32, dp_epsilon=8.0, patience=1, seed=0)
    rec.fit(data.subset(~mask), data.subset(mask))
    p = rec.privacy_record()
    assert p["unit"] == "user" and p["examples"] == len(np.unique(data.subset(~mask).users))
    assert rec.loop_result_.best_epoch is None  # no epoch chosen on held-out records


def test_dp_obfuscated_multvae_spends_one_budget_on_model_and_heads() -> None:
    data = gendered(n_users=120, n_items=40)
    params = {"dims": [16, 8], "epochs": 1, "adv_epochs": 2, "adv_steps": 2, "batch_size": 32,
              "dp_epsilon": 4.0, "adv_attributes": "gender", "seed": 0}
    rec = create("multvae", **params).fit(data)
    p = rec.privacy_record()
    per_epoch = math.ceil(120 / 32)
    assert p["unit"] == "user" and p["steps"] == 3 * per_epoch + 2 * 2 * per_epoch
    assert 3.0 < p["epsilon"] <= 4.0 + 1e-6  # the composition of both engines meets the budget
    assert rec._dp.engine.get_epsilon(p["delta"]) < p["epsilon"] - 0.5  # the heads' steps count
    heads = rec._dp_heads.module._module.heads
    assert rec._dp_heads.optimizer.noise_multiplier == rec._dp.optimizer.noise_multiplier
    for mirror, trained in zip(rec._adversary.heads.parameters(), heads.parameters()):
        assert torch.equal(mirror, trained) and not mirror.requires_grad  # the mirror the confusion reads
    assert [("adv_head_loss" in h) for h in rec.history] == [False, True, True]
    again = create("multvae", **params).fit(data)
    assert torch.equal(rec.net.item_in, again.net.item_in)  # seeded sampling and noise in both engines
    plain = create("multvae", **{**params, "adv_attributes": [], "epochs": 3}).fit(data)
    assert plain.privacy_record()["steps"] == 3 * per_epoch
    assert plain._dp.optimizer.noise_multiplier < rec._dp.optimizer.noise_multiplier  # fewer steps, less noise


def test_dp_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="dp_epsilon"):
        create("bpr", dp_epsilon=1.0, optimizer="sgd", batch_size=1)
    with pytest.raises(ConfigError):
        create("bpr", dp_epsilon=-1.0)


def test_train_cli_dp_epsilon(tmp_path, capsys) -> None:
    from advrec.cli import main

    data = gendered(n_users=60, n_items=30)
    f = tmp_path / "pairs.csv"
    pd.DataFrame({"user": data.user_ids[data.users], "item": data.item_ids[data.items]}).to_csv(f, index=False)
    assert main(["train", "ease", "--data", str(f), "--dp-epsilon", "2", "--json"]) == 2
    assert "models with it" in capsys.readouterr().err
    assert main(["train", "bpr", "--data", str(f), "--dp-epsilon", "0", "--json"]) == 2
    assert "--dp-epsilon must be > 0" in capsys.readouterr().err
    out = tmp_path / "m"
    code = main(["train", "bpr", "--data", str(f), "--dp-epsilon", "3", "--set", "epochs=2", "--set", "batch_size=64",
                 "--out", str(out), "--json"])
    assert code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["privacy"]["unit"] == "interaction" and rec["privacy"]["epsilon"] <= 3.0 + 1e-6
    assert json.loads((out / "result.json").read_text())["privacy"] == rec["privacy"]
