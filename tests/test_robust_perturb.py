"""FGSM, PGD and random perturbations of embeddings (advrec.robust.perturb) and the ``perturb`` evaluation."""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest
import torch
from conftest import make_synthetic

from advrec.data import Interactions, Split
from advrec.errors import CapabilityError, ConfigError
from advrec.experiments.evaluations import EvalContext, make_evaluation
from advrec.models import create
from advrec.robust.perturb import bpr_triples, embedding_perturbation, perturb_evaluate

#: a BPR that is fit but not saturated on its training pairs (L2 keeps the BPR loss informative)
BPR = {"epochs": 20, "lr": 0.01, "factors": 16, "l2": 0.01, "batch_size": 256}


@cache
def _split(seed: int = 0) -> Split:
    inter = make_synthetic(n_users=200, n_items=100, seed=seed)
    test = np.random.default_rng(seed).random(len(inter)) < 0.2
    return Split(train=inter.subset(~test, name="train"), test=inter.subset(test, name="test"), name="synthetic")


@cache
def _bpr(seed: int = 0):
    return create("bpr", seed=seed, **BPR).fit(_split(seed).train)


def _bpr_loss(model, uv, iv, triples) -> float:
    u, i, j = triples
    s = model.score_embeddings(uv, iv)
    return float(torch.nn.functional.softplus(-(s[u, i] - s[u, j])).mean())


@pytest.mark.parametrize("attack", ["fgsm", "pgd", "random"])
def test_eps_zero_changes_nothing(attack):
    sp = _split()
    res = perturb_evaluate(_bpr(), sp.train, sp.test, attack=attack, eps=0.0, steps=3)
    assert res.clean.summary == res.perturbed.summary
    assert all(v == 0.0 for v in res.relative_drop.values())
    # the clean side is the model's own evaluation
    from advrec.eval import evaluate

    plain = evaluate(_bpr(), sp.train, sp.test, ks=(20,), beyond=False, metrics=("ndcg", "recall"))
    assert res.clean.summary["ndcg@20"] == pytest.approx(plain.summary["ndcg@20"])


@pytest.mark.parametrize("attack", ["fgsm", "random"])
def test_every_moved_row_has_norm_eps(attack):
    model, sp = _bpr(), _split()
    du, di = embedding_perturbation(model, sp.train, attack, 0.3, seed=1)
    uv, iv = model.embeddings()
    assert du.shape == uv.shape and di.shape == iv.shape
    norms = torch.cat([du, di]).norm(dim=1)
    moved = norms > 0
    assert moved[: len(du)].all()  # every user has training pairs, so a gradient
    assert moved.float().mean() > 0.9
    torch.testing.assert_close(norms[moved], torch.full_like(norms[moved], 0.3), rtol=1e-5, atol=1e-6)


def test_fgsm_ascends_the_bpr_loss_and_pgd_stays_in_the_ball():
    model, sp = _bpr(), _split()
    uv, iv = model.embeddings()
    triples = bpr_triples(sp.train.binary_csr, 0)
    clean = _bpr_loss(model, uv, iv, triples)
    losses = {}
    for attack in ("fgsm", "pgd", "random"):
        du, di = embedding_perturbation(model, sp.train, attack, 0.3, steps=5, seed=0)
        assert float(torch.cat([du, di]).norm(dim=1).max()) <= 0.3 * (1 + 1e-5)
        losses[attack] = _bpr_loss(model, uv + du, iv + di, triples)
    assert losses["fgsm"] > clean and losses["pgd"] > clean
    assert losses["fgsm"] - clean > 3 * abs(losses["random"] - clean)
    assert losses["pgd"] >= losses["fgsm"]  # several projected steps find at least what one step finds


@pytest.mark.parametrize("target", ["users", "items"])
def test_target_moves_one_side_only(target):
    du, di = embedding_perturbation(_bpr(), _split().train, "fgsm", 0.2, target=target)
    moved, still = (du, di) if target == "users" else (di, du)
    assert not still.any() and moved.norm(dim=1).gt(0).any()


def _latent_split(seed: int, n_users: int = 300, n_items: int = 1000, dim: int = 16, per_user: int = 40) -> Split:
    """Users and items with latent taste vectors and a popularity skew; each user picks ``per_user``
    items by a Plackett-Luce draw over ``u . v + popularity``; 20% of the pairs are test."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(size=(n_users, dim)) @ rng.normal(size=(n_items, dim)).T + 1.5 * rng.normal(size=n_items)
    items = np.argsort(-(logits + rng.gumbel(size=logits.shape)), axis=1)[:, :per_user].ravel()
    users = np.repeat(np.arange(n_users), per_user)
    inter = Interactions.from_records(users, items, np.ones(len(users), np.float32), name="latent",
                                      user_ids=np.arange(n_users), item_ids=np.arange(n_items))
    test = rng.random(len(inter)) < 0.2
    return Split(train=inter.subset(~test, name="train"), test=inter.subset(test, name="test"), name="latent")


def test_fgsm_hurts_more_than_random_noise_of_the_same_norm():
    """APR's starting observation: adversarial noise hurts a BPR model far more than random noise of
    the same norm. It needs data like real data: a catalogue large enough that test items are seldom
    the sampled negatives (on a 100-item toy the BPR gradient pushes test items up as often as down)
    and embeddings of many dimensions, among which random noise spreads (on ML-100K: 19% vs 0.1% of
    NDCG@20 lost at eps = 0.5)."""
    sp = _latent_split(0)
    model = create("bpr", epochs=20, lr=0.01, factors=64, l2=0.01, batch_size=512).fit(sp.train)
    for eps in (0.3, 0.5):
        fgsm = perturb_evaluate(model, sp.train, sp.test, attack="fgsm", eps=eps).relative_drop["ndcg@20"]
        rand = perturb_evaluate(model, sp.train, sp.test, attack="random", eps=eps).relative_drop["ndcg@20"]
        assert fgsm > 0 and fgsm > 1.5 * max(rand, 0.0), (eps, fgsm, rand)


@pytest.mark.parametrize("name,params", [("lightgcn", {"epochs": 3, "factors": 8, "layers": 2}),
                                         ("puresvd", {"factors": 5}),
                                         ("irgan", {"epochs": 2, "pretrain_epochs": 2, "factors": 4})])
def test_every_embedding_model_can_be_attacked(name, params):
    sp = _split()
    model = create(name, **params).fit(sp.train)
    du, di = embedding_perturbation(model, sp.train, "pgd", 0.2, steps=2)
    uv, iv = model.embeddings()
    assert du.shape == uv.shape and di.shape == iv.shape and du.norm(dim=1).max() <= 0.2 * (1 + 1e-5)
    res = perturb_evaluate(model, sp.train, sp.test, attack="fgsm", eps=0.2)
    assert set(res.relative_drop) == set(res.clean.summary) and res.clean.n_evaluated == res.perturbed.n_evaluated


def test_a_given_clean_result_is_reused_and_changes_nothing():
    sp, model = _split(), _bpr()
    first = perturb_evaluate(model, sp.train, sp.test, attack="fgsm", eps=0.3)
    again = perturb_evaluate(model, sp.train, sp.test, attack="fgsm", eps=0.3, clean=first.clean)
    assert again.clean is first.clean
    assert again.perturbed.summary == first.perturbed.summary and again.relative_drop == first.relative_drop


def test_models_without_embeddings_and_bad_settings_are_refused():
    sp = _split()
    with pytest.raises(CapabilityError, match="'pop'.*embeddings"):
        perturb_evaluate(create("pop").fit(sp.train), sp.train, sp.test, attack="fgsm", eps=0.1)
    for bad, match in (({"attack": "nope"}, "attack"), ({"eps": -1.0}, "eps"), ({"steps": 0}, "steps"),
                       ({"target": "all"}, "target"), ({"alpha": 0.0}, "alpha")):
        with pytest.raises(ConfigError, match=match):
            embedding_perturbation(_bpr(), sp.train, **{"attack": "pgd", "eps": 0.1, **bad})


def test_perturb_evaluation_kind_records_clean_perturbed_and_drop():
    sp = _split()
    ev = make_evaluation("fgsm", "perturb", {"attack": "fgsm", "eps": 0.3, "ks": [10]})
    out = ev.run(_bpr(), EvalContext(sp, sp.train, (20,), seed=0))
    assert set(out.extra) >= {"clean", "perturbed", "relative_drop", "attack", "eps"}
    assert out.extra["perturbed"]["ndcg@10"] == pytest.approx(out.result.summary["ndcg@10"])
    c, p = out.extra["clean"]["ndcg@10"], out.extra["perturbed"]["ndcg@10"]
    assert out.extra["relative_drop"]["ndcg@10"] == pytest.approx((c - p) / c) and c > p
    with pytest.raises(ConfigError, match="perturb"):
        make_evaluation("x", "perturb", {"eps": -0.1})


def test_perturb_evaluations_of_a_run_rank_the_clean_model_once(monkeypatch):
    sp, model = _split(), _bpr()
    calls = []
    score = type(model).score
    monkeypatch.setattr(type(model), "score", lambda self, users, **kw: calls.append(len(users)) or score(self, users, **kw))
    ctx = EvalContext(sp, sp.train, (20,), seed=0)
    fgsm = make_evaluation("fgsm", "perturb", {"attack": "fgsm", "eps": 0.3}).run(model, ctx)
    n_clean = len(calls)
    rand = make_evaluation("rand", "perturb", {"attack": "random", "eps": 0.3}).run(model, ctx)
    assert n_clean > 0 and len(calls) == n_clean  # the second evaluation reused the clean ranking
    assert rand.extra["clean"] == fgsm.extra["clean"]
