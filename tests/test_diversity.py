"""Diversity re-rankers (MMR, greedy DPP), the evaluation of re-ranked lists and ``advrec rerank``."""

from __future__ import annotations

import json
from itertools import combinations

import numpy as np
import pytest
import torch
from conftest import make_synthetic

from advrec.cli import main
from advrec.diversity import RerankedView, evaluate_reranked, intra_list_distance, rerank
from advrec.diversity.rerank import _candidates, dpp
from advrec.errors import ConfigError, DataError
from advrec.eval import Evaluator
from advrec.models import create


def _data(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(8, 60, generator=g), (torch.rand(60, 6, generator=g) < 0.3).float() + 1e-3


def test_greedy_dpp_adds_the_item_of_largest_log_det_each_step():
    scores, _ = _data()
    vectors = torch.rand(60, 32, generator=torch.Generator().manual_seed(3))  # full rank: no ties in the gains
    _, rel, sim = _candidates(scores, vectors, 25)
    lam = 0.6
    alpha = lam / (2 * (1 - lam))
    got = dpp(rel, sim, 8, lam)
    for b in range(len(scores)):
        q = torch.exp(alpha * rel[b].double())
        kernel = q[:, None] * sim[b].double() * q[None, :]
        chosen: list[int] = []
        for _ in range(8):
            rest = [i for i in range(25) if i not in chosen]
            chosen.append(max(rest, key=lambda i: float(torch.logdet(kernel[chosen + [i]][:, chosen + [i]]))))
        assert got[b].tolist() == chosen


@pytest.mark.parametrize("method", ["mmr", "dpp"])
def test_lambda_one_keeps_the_models_ranking_and_excluded_items_never_come_back(method):
    scores, vectors = _data(1)
    np.testing.assert_array_equal(rerank(scores, vectors, 10, method=method, lam=1.0),
                                  torch.topk(scores, 10).indices)
    masked = scores.clone()
    masked[:, :30] = float("-inf")
    for lam in (0.0, 0.5):
        assert (rerank(masked, vectors, 10, method=method, lam=lam) >= 30).all()


@pytest.mark.parametrize("method", ["mmr", "dpp"])
def test_low_lambda_alternates_between_two_tastes(method):
    # items 0-9 all of genre a and better scored, items 10-19 all of genre b
    vectors = torch.zeros(20, 2)
    vectors[:10, 0] = vectors[10:, 1] = 1.0
    scores = torch.linspace(2.0, 1.0, 20)[None, :]
    top = rerank(scores, vectors, 4, method=method, lam=0.3 if method == "mmr" else 0.2, candidates=20)[0].tolist()
    assert top[0] == 0 and top[1] == 10  # the best of genre a, then the best of genre b
    plain = rerank(scores, vectors, 4, method=method, lam=1.0, candidates=20)[0].tolist()
    assert plain == [0, 1, 2, 3]


def test_bad_arguments_are_refused():
    scores, vectors = _data()
    with pytest.raises(ValueError, match="lambda"):
        rerank(scores, vectors, 5, lam=1.5)
    with pytest.raises(ValueError, match="candidates"):
        rerank(scores, vectors, 5, candidates=3)
    with pytest.raises(ValueError, match="unknown"):
        rerank(scores, vectors, 5, method="xyz")  # type: ignore[arg-type]


def test_the_evaluator_sees_the_reranked_lists(synthetic_split):
    model = create("bpr", factors=8, epochs=3, seed=0).fit(synthetic_split.train)
    vectors = model.embeddings()[1].numpy()
    view = RerankedView(model, vectors, 5, method="dpp", lam=0.3, candidates=20)
    res = Evaluator((5,), item_features=vectors).evaluate(view, synthetic_split.train, synthetic_split.test)
    users = res.users
    scores = model.score(users).masked_fill(model.seen_mask(users), float("-inf"))
    expected = rerank(scores, torch.as_tensor(vectors), 5, method="dpp", lam=0.3, candidates=20).numpy()
    np.testing.assert_array_equal(np.stack([view.lists[int(u)] for u in users]), expected)
    lists = expected
    by_hand = np.mean([np.mean([1 - np.dot(*(vectors[[a, b]] / np.linalg.norm(vectors[[a, b]], axis=1)[:, None]))
                                for a, b in combinations(row, 2)]) for row in lists])
    assert intra_list_distance(lists, vectors) == pytest.approx(by_hand, rel=1e-6)
    plain = Evaluator((5,)).evaluate(model, synthetic_split.train, synthetic_split.test).summary
    same = evaluate_reranked(model, synthetic_split.train, synthetic_split.test, method="mmr", lam=1.0,
                             vectors=vectors, k=5, candidates=20)["metrics"]
    assert same["ndcg@5"] == pytest.approx(plain["ndcg@5"], abs=1e-12)


def test_rerank_command(tmp_path, capsys):
    frame = make_synthetic(seed=2).to_frame(external=True).rename(columns={"value": "rating"})
    frame.to_csv(tmp_path / "r.csv", index=False)
    assert main(["train", "bpr", "--data", str(tmp_path / "r.csv"), "--set", "epochs=3", "--set", "factors=8",
                 "--out", str(tmp_path / "m"), "--json"]) == 0
    capsys.readouterr()
    assert main(["rerank", str(tmp_path / "m"), "--method", "dpp", "--lambda", "0.3", "--k", "5",
                 "--candidates", "20", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["similarity"] == "embeddings" and out["lambda"] == 0.3 and out["n_users"] > 0
    assert out["metrics"]["ild@5"] > out["base"]["ild@5"]
    assert out["relative_ndcg_cost"] == pytest.approx(1 - out["metrics"]["ndcg@5"] / out["base"]["ndcg@5"])
    assert main(["rerank", str(tmp_path / "m"), "--method", "mmr", "--lambda", "2"]) == 2
    assert "--lambda" in capsys.readouterr().err
    assert main(["rerank", str(tmp_path / "m"), "--method", "mmr", "--lambda", "0.5", "--similarity", "genres"]) == 2
    assert "genres" in capsys.readouterr().err


# ------------------------------------------------------------------ the PD-GAN-style model
PDGAN = {"epochs": 2, "set_size": 3, "pool": 10, "k": 5, "candidates": 15, "warm_params": {"factors": 8, "epochs": 5}}


def test_pdgan_contract(synthetic, tmp_path):
    from contract import check_contract

    check_contract("pdgan", synthetic, tmp_path, **PDGAN)
    model = check_contract("pdgan", synthetic, tmp_path, adversarial=False, **PDGAN)
    assert model.d_net is None and "g_bpr" in model.history[-1]


def test_pdgan_sets_are_distinct_unseen_items_of_the_pool(synthetic):
    model = create("pdgan", **PDGAN).fit(synthetic)
    users = torch.arange(20)
    sets, logp = model.sample_sets(users, torch.Generator().manual_seed(0))
    assert sets.shape == (20, 3) and torch.isfinite(logp).all() and (logp < 0).all()
    seen = synthetic.binary_csr
    rel = model.g_net.scores(users).detach().masked_fill(model.seen_mask(users.numpy()), float("-inf"))
    pool = torch.topk(rel, 10, dim=1).indices
    for u in range(20):
        row = sets[u].tolist()
        assert len(set(row)) == 3 and not set(row) & set(seen[u].indices.tolist())
        assert set(row) <= set(pool[u].tolist())


def test_pdgan_never_samples_two_identical_items_together(synthetic):
    model = create("pdgan", **PDGAN).fit(synthetic)
    model.similar_ = torch.zeros_like(model.similar_)
    model.similar_[:, 0] = 1.0  # every item alike: after the first pick nothing adds volume...
    model.similar_[::2, 0] = 0.0
    model.similar_[::2, 1] = 1.0  # ... except an item of the other kind: sets hold one of each kind first
    sets, _ = model.sample_sets(torch.arange(30), torch.Generator().manual_seed(1))
    kinds = (sets[:, :2] % 2).sort(dim=1).values
    assert (kinds == torch.tensor([0, 1])).all()


def test_pdgan_recommends_the_dpp_of_its_relevance(synthetic):
    model = create("pdgan", **PDGAN).fit(synthetic)
    users = np.arange(10)
    rel = model.g_net.scores(torch.from_numpy(users)).detach().masked_fill(model.seen_mask(users), float("-inf"))
    expected = rerank(rel, model.similar_, 5, method="dpp", lam=model.config.lam, candidates=15)
    got = torch.topk(model.score(users).masked_fill(model.seen_mask(users), float("-inf")), 5).indices
    np.testing.assert_array_equal(got, expected)


@pytest.mark.parametrize("adversarial", [True, False])
def test_pdgan_started_from_its_fitted_warm_model_equals_a_fresh_fit(synthetic, adversarial):
    params = {**PDGAN, "adversarial": adversarial}
    fresh = create("pdgan", **params).fit(synthetic)
    warm = create("bpr", **PDGAN["warm_params"]).fit(synthetic)
    before = warm.embeddings()[1].clone()
    reused = create("pdgan", **params).fit(synthetic, init=warm)
    torch.testing.assert_close(warm.embeddings()[1], before)  # the warm model is used, not trained further
    users = np.arange(synthetic.n_users)
    torch.testing.assert_close(reused.score(users), fresh.score(users), rtol=0, atol=0)


def test_pdgan_continues_from_a_fitted_pdgan_and_rejects_a_mismatched_init(synthetic, tmp_path):
    first = create("pdgan", **PDGAN).fit(synthetic)
    again = create("pdgan", **PDGAN).fit(synthetic, init=first)
    assert not torch.equal(again.g_net.item, first.g_net.item)  # two more epochs of the game
    torch.testing.assert_close(again.similar_, first.similar_)
    with pytest.raises(ConfigError, match="warm = 'bpr'"):
        create("pdgan", **PDGAN).fit(synthetic, init=create("lightgcn", factors=8, epochs=1).fit(synthetic))
    small = make_synthetic(n_users=synthetic.n_users - 5, n_items=synthetic.n_items, seed=1)
    with pytest.raises(DataError, match="must have been fit on this data"):
        create("pdgan", **PDGAN).fit(synthetic, init=create("bpr", **PDGAN["warm_params"]).fit(small))
