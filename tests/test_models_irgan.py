"""IRGAN: contract, pre-training on training pairs only, the policy gradient, the ablation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_synthetic
from contract import check_contract

from advrec.experiments.pipeline import train_and_evaluate
from advrec.models import create
from advrec.models.irgan import IRGAN

FAST = {"epochs": 4, "pretrain_epochs": 2, "factors": 8, "batch_size": 16, "batch_size_d": 64}


@pytest.mark.parametrize("extra", [{}, {"adversarial": False}, {"score_with": "d"},
                                   {"gan_loss": "minimax", "d_steps": 2, "g_steps": 2}])
def test_contract(extra, synthetic, tmp_path):
    model = check_contract("irgan", synthetic, tmp_path, **FAST, **extra)
    phases = [h["adversarial"] for h in model.history]
    if extra.get("adversarial", True):
        assert phases == [0.0, 0.0, 1.0, 1.0]
        assert all("d_loss" in h and "gen_coverage@20" in h for h in model.history[2:])
    else:
        assert phases == [0.0] * 4 and not any("d_loss" in h for h in model.history)


def test_discriminator_starts_as_the_pretrained_generator(synthetic):
    model = create("irgan", **{**FAST, "epochs": 2}).fit(synthetic)
    for name, g in model.g_net.state_dict().items():
        torch.testing.assert_close(model.d_net.state_dict()[name], g)


def _pairs(inter):
    return set(zip(inter.users.tolist(), inter.items.tolist()))


def test_pretraining_never_sees_test_pairs(tmp_path, monkeypatch):
    """Every DNS pre-training epoch, in tuning trials and the final fit, uses training pairs only."""
    inter = make_synthetic(n_users=50, n_items=30, seed=3)
    path = tmp_path / "ratings.csv"
    inter.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    seen: list[set[tuple[int, int]]] = []
    original = IRGAN._dns_epoch

    def spy(self, generator):
        seen.append(set(zip(self._sampler.pair_users.tolist(), self._sampler.pair_items.tolist())))
        return original(self, generator)

    monkeypatch.setattr(IRGAN, "_dns_epoch", spy)
    from advrec.experiments.pipeline import load_cached, resolve_split

    res = train_and_evaluate("irgan", str(path), split="random:0.8", seed=2, tune_trials=2,
                             params=dict(FAST, epochs=6), ks=(3,))
    split = resolve_split(load_cached(str(path)), "random:0.8", 2)
    test = _pairs(split.test)
    assert seen and len(test) > 0
    assert all(not (s & test) for s in seen)
    # the tuning fits used the tuning train part; the final fit exactly train + valid
    assert seen[-1] == _pairs(split.train_full())
    assert any(s == _pairs(split.tuning().train) for s in seen[:-1])
    assert res.record["metrics"]["ndcg@3"] >= 0


def test_policy_gradient_moves_mass_to_rewarded_items(synthetic):
    """With a discriminator that rewards only item 0, generator steps raise p(item 0 | u)."""
    model = create("irgan", epochs=1, pretrain_epochs=1, factors=8, lr=0.05, batch_size=64,
                   sample_lambda=0.0).fit(synthetic)
    with torch.no_grad():
        model.d_net.user.zero_()
        model.d_net.item.zero_()
        model.d_net.bias.fill_(-10.0)
        model.d_net.bias[0] = 10.0
    users = model._users
    before = model._policy(users).exp()[:, 0].mean()
    opt = torch.optim.SGD(model.g_net.parameters(), lr=0.5)
    gen = torch.Generator().manual_seed(0)
    for _ in range(20):
        out = model.g_loss(users, gen)
        opt.zero_grad()
        out.loss.backward()
        opt.step()
    after = model._policy(users).exp()[:, 0].mean()
    assert after > before + 0.05


@pytest.mark.parametrize("lam", [0.0, 0.2, 0.6])
def test_proposal_is_the_documented_mixture(lam, synthetic):
    model = create("irgan", epochs=1, pretrain_epochs=1, factors=8, sample_lambda=lam).fit(synthetic)
    users = model._users[:12]
    p = model._policy(users).exp().detach()
    q = model.proposal(users, p)
    torch.testing.assert_close(q.sum(1), torch.ones(len(users)))
    rows = synthetic.binary_csr[users.numpy()]
    for k in range(len(users)):
        pos = torch.from_numpy(rows[k].indices.astype(np.int64))
        expect = (1 - lam) * p[k].clone()
        expect[pos] += lam / len(pos)
        torch.testing.assert_close(q[k], expect)


def test_importance_weighted_estimate_is_unbiased(synthetic):
    """E_q[(p / q) f] = E_p[f]: the reweighted samples estimate the policy's expectation."""
    model = create("irgan", epochs=1, pretrain_epochs=1, factors=8, sample_lambda=0.5).fit(synthetic)
    users = model._users[:1]
    p = model._policy(users).exp().detach().double()
    q = model.proposal(users, p)
    f = torch.linspace(-1, 1, p.shape[1], dtype=torch.float64)
    draws = torch.multinomial(q[0], 200_000, replacement=True, generator=torch.Generator().manual_seed(3))
    estimate = float((p[0, draws] / q[0, draws] * f[draws]).mean())
    assert abs(estimate - float((p[0] * f).sum())) < 0.01
