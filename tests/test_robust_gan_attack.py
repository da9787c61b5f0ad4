"""The GAN poisoning attack ``inject-gan``: profile shapes and encoding, reproducibility, the
discriminator's part (and its ablation), the learning of the attack objective, and its pieces
(straight-through top-k, rounding to the rating scale, the Woodbury ridge surrogate)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from advrec.data import Interactions, Split
from advrec.errors import ConfigError
from advrec.experiments.data_stages import DATA_STAGES, make_stage
from advrec.robust.attacks import gan_parts
from advrec.robust.attacks.gan import InjectGAN
from advrec.robust.attacks.gan_parts import RidgeSurrogate, round_to_levels, straight_through_topk

FAST = {"epochs": 8, "hidden": 16, "top_k": 5}


def _split(inter: Interactions) -> Split:
    rng = np.random.default_rng(1)
    test = rng.random(len(inter)) < 0.2
    return Split(train=inter.subset(~test, name="train"), test=inter.subset(test, name="test"), name="s")


def _fake_records(split: Split, out: Split) -> Interactions:
    return out.train.subset(out.train.users >= split.n_users)


@pytest.mark.parametrize("implicit", [False, True])
def test_profiles_have_the_fillers_the_targets_and_the_encoding(synthetic, implicit):
    inter = synthetic.with_values(np.ones(len(synthetic), np.float32)) if implicit else synthetic
    split = _split(inter)
    stage = InjectGAN("g", {"fraction": 0.2, "filler": 6, "targets": 2, **FAST})
    out, rec = stage.apply(split, seed=3)
    fake = _fake_records(split, out)
    targets = np.asarray(rec["target_index"])
    assert rec["n_fake_users"] == round(0.2 * len(split.train.active_users()))
    per_user = np.bincount(fake.users - split.n_users, minlength=rec["n_fake_users"])
    assert np.all(per_user == 6 + 2)
    assert len(np.unique(fake.pair_keys())) == len(fake)  # no item twice in a profile
    is_target = np.isin(fake.items, targets)
    assert is_target.sum() == 2 * rec["n_fake_users"]
    assert np.all(fake.values[is_target] == split.train.values.max())
    fillers = fake.items[~is_target]
    assert np.all(np.isin(fillers, split.train.active_items()))
    values = fake.values[~is_target]
    if implicit:
        assert np.all(values == 1.0)
    else:  # ratings on the data's scale, rounded to its levels
        assert np.all(np.isin(values, np.unique(split.train.values)))
    gan = rec["gan"]
    assert gan["craft_seconds"] > 0 and len(gan["history"]["attack_loss"]) == FAST["epochs"]
    assert 0.0 <= gan["d_accuracy"] <= 1.0 and 0.0 <= gan["final_surrogate_hit"] <= 1.0


def test_same_seed_same_profiles_other_seed_other_profiles(synthetic):
    split = _split(synthetic)
    params = {"fraction": 0.2, "filler": 5, "targets": 2, **FAST}
    a = _fake_records(split, InjectGAN("g", params).apply(split, seed=7)[0])
    b = _fake_records(split, InjectGAN("g", params).apply(split, seed=7)[0])
    c = _fake_records(split, InjectGAN("g", params).apply(split, seed=8)[0])
    assert np.array_equal(a.items, b.items) and np.array_equal(a.values, b.values)
    assert not (np.array_equal(a.items, c.items) and np.array_equal(a.values, c.values))


def test_the_discriminator_trains_and_the_ablation_never_calls_it(synthetic, monkeypatch):
    split = _split(synthetic)
    params = {"fraction": 0.2, "filler": 5, "targets": 2, **FAST, "epochs": 15}
    d_loss = InjectGAN("g", params).apply(split, seed=0)[1]["gan"]["history"]["d_loss"]
    assert len(d_loss) == 15 and len(set(np.round(d_loss, 6))) > 1

    def refuse(self, x):
        raise AssertionError("the discriminator ran with adversarial=false")

    monkeypatch.setattr(gan_parts.ProfileDiscriminator, "forward", refuse)
    _, rec = InjectGAN("g", {**params, "adversarial": False}).apply(split, seed=0)
    assert rec["gan"]["d_accuracy"] is None and rec["gan"]["history"]["d_loss"] == []


def test_training_lowers_the_attack_loss(synthetic):
    # targets of the unpopular half, a short list: the untrained profiles leave room to improve
    split = _split(synthetic)
    params = {"fraction": 0.2, "filler": 4, "targets": 2, "epochs": 40, "hidden": 16, "top_k": 3,
              "surrogate_l2": 20.0, "adversarial": False}
    gan = InjectGAN("g", params).apply(split, seed=0)[1]["gan"]
    assert gan["initial_attack_loss"] > 0
    assert gan["final_attack_loss"] < gan["initial_attack_loss"]


def test_registered_as_a_data_stage_with_checked_parameters():
    assert DATA_STAGES["inject-gan"] is InjectGAN
    with pytest.raises(ConfigError, match="epochs"):
        make_stage("g", "inject-gan", {"epochs": 0})
    with pytest.raises(ConfigError, match="surrogate"):
        make_stage("g", "inject-gan", {"surrogate": "mf"})


def test_a_list_longer_than_any_users_candidates_is_refused(synthetic):
    stage = InjectGAN("big", {"fraction": 0.2, "filler": 3, "targets": 2, **FAST, "top_k": synthetic.n_items})
    with pytest.raises(ConfigError, match=rf"'big'.*top_k={synthetic.n_items}"):
        stage.apply(_split(synthetic), seed=0)


def test_straight_through_topk_picks_exactly_k_and_passes_gradients():
    logits = torch.tensor([[0.1, 3.0, -1.0, 2.0, float("-inf")], [5.0, 4.0, 3.0, 2.0, 1.0]], requires_grad=True)
    sel = straight_through_topk(logits, 2, temperature=1.0)
    assert sel.tolist() == [[0.0, 1.0, 0.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0, 0.0]]
    (sel * torch.arange(5.0)).sum().backward()
    assert logits.grad is not None and torch.all(torch.isfinite(logits.grad))
    assert logits.grad[0, 4] == 0 and logits.grad.abs().sum() > 0


def test_round_to_levels_rounds_forward_and_keeps_the_gradient():
    x = torch.tensor([0.6, 1.4, 2.6, 5.7], requires_grad=True)
    y = round_to_levels(x, torch.tensor([1.0, 2.0, 3.0, 4.0, 5.0]))
    assert y.tolist() == [1.0, 1.0, 3.0, 5.0]
    y.sum().backward()
    assert x.grad is not None and torch.allclose(x.grad, torch.ones(4))


def test_ridge_surrogate_matches_the_direct_refit():
    gen = torch.Generator().manual_seed(0)
    real = (torch.rand(30, 12, generator=gen) < 0.3).float()
    fake = (torch.rand(4, 12, generator=gen) < 0.4).float()
    users, targets, l2 = torch.arange(30), torch.tensor([2, 7]), 3.0
    sur = RidgeSurrogate(real, users, targets, l2, k=2)
    x = torch.cat([real, fake]).double()
    gram = x.T @ x
    w = torch.linalg.solve(gram + l2 * torch.eye(12, dtype=torch.float64), gram)
    direct = real[sur.users].double() @ w
    unseen = real[sur.users] == 0
    assert torch.allclose(sur.scores(fake).double()[unseen], direct[unseen], atol=1e-4)
