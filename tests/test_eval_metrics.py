"""Hand-computed cases for the ranking metrics and the evaluator on a tiny fixed model."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from contract import TableModel

from advrec.data import Interactions
from advrec.eval import Evaluator
from advrec.eval.metrics import auc, cutoff_metrics, top_items


def inter(pairs: list[tuple[int, int]], n_users: int, n_items: int, name: str) -> Interactions:
    u = np.array([p[0] for p in pairs], np.int64)
    i = np.array([p[1] for p in pairs], np.int64)
    return Interactions(u, i, np.ones(len(u), np.float32), np.arange(n_users), np.arange(n_items), name=name)


def tiny() -> tuple[TableModel, Interactions, Interactions]:
    """4 users x 8 items.

    user 0: train {0}, test {2, 5}; item 0 scores highest but is excluded;
            ranking after exclusion 5, 1, 2, 7, 3, 4, 6.
    user 1: no train, no test -> not evaluated.
    user 2: train {4}, test {0}; item 6 scores 1, all other candidates 0 (ties
            broken by lower index): ranking 6, 0, 1, 2, 3, 5, 7.
    user 3: train {0, 1}, test {7}; score 7 - i: ranking 2, 3, 4, 5, 6, 7.
    """
    s = np.zeros((4, 8), np.float32)
    s[0] = [1.0, 0.8, 0.7, 0.5, 0.4, 0.9, 0.3, 0.6]
    s[1] = np.arange(8)
    s[2, 6], s[2, 4] = 1.0, 2.0
    s[3] = 7 - np.arange(8)
    train = inter([(0, 0), (2, 4), (3, 0), (3, 1)], 4, 8, "train")
    test = inter([(0, 2), (0, 5), (2, 0), (3, 7)], 4, 8, "test")
    return TableModel(s).fit(train), train, test


L3 = math.log2(3)


def test_hand_computed_metrics_at_5_and_2() -> None:
    model, train, test = tiny()
    res = Evaluator(ks=(5, 2), beyond=False).evaluate(model, train, test)
    np.testing.assert_array_equal(res.users, [0, 2, 3])  # user 1 has no test item
    assert res.ks == (2, 5)
    pu = res.per_user
    # user 0: top-5 [5,1,2,7,3], hits [1,0,1,0,0]
    #   P@5 = 2/5; R@5 = 2/2; NDCG@5 = (1/log2(2) + 1/log2(4)) / (1/log2(2) + 1/log2(3))
    #   MRR = 1/1; MAP@5 = (1/min(2,5)) * (1/1 + 2/3) = 5/6; HR = 1
    #   AUC: candidates = 7 (item 0 excluded), negatives {1,7,3,4,6}; item 5 beats 5, item 2 beats 4 -> 9/10
    # user 2: top-5 [6,0,1,2,3], hit at rank 2 only
    #   P@5 = 1/5; R = 1; NDCG = (1/log2(3)) / 1; MRR = 1/2; MAP = (1/1) * (1/2); HR = 1
    #   AUC: 6 negatives; item 6 beats it, items 1,2,3,5,7 tie (0.5 each) -> 2.5/6
    # user 3: top-5 [2,3,4,5,6], no hit; test item 7 is the lowest candidate -> AUC 0
    expect5 = {
        "precision@5": [0.4, 0.2, 0.0],
        "recall@5": [1.0, 1.0, 0.0],
        "ndcg@5": [(1 + 0.5) / (1 + 1 / L3), 1 / L3, 0.0],
        "mrr@5": [1.0, 0.5, 0.0],
        "map@5": [5 / 6, 0.5, 0.0],
        "hitrate@5": [1.0, 1.0, 0.0],
        "auc": [0.9, 2.5 / 6, 0.0],
    }
    # @2: user 0 top-2 [5,1] hits [1,0]: P 1/2, R 1/2, NDCG 1/(1+1/log2 3), MRR 1, MAP (1/2)*1
    #     user 2 top-2 [6,0] hits [0,1]: P 1/2, R 1, NDCG (1/log2 3)/1, MRR 1/2, MAP (1/1)*(1/2)
    expect2 = {
        "precision@2": [0.5, 0.5, 0.0],
        "recall@2": [0.5, 1.0, 0.0],
        "ndcg@2": [1 / (1 + 1 / L3), 1 / L3, 0.0],
        "mrr@2": [1.0, 0.5, 0.0],
        "map@2": [0.5, 0.5, 0.0],
        "hitrate@2": [1.0, 1.0, 0.0],
    }
    for key, want in {**expect5, **expect2}.items():
        np.testing.assert_allclose(pu[key], want, rtol=1e-12, err_msg=key)
        assert pu[key].dtype == np.float64
        assert res.summary[key] == pytest.approx(np.mean(want))
    assert list(pu)[:2] == ["precision@2", "precision@5"]


def test_train_items_are_excluded_even_when_scored_highest() -> None:
    model, train, test = tiny()
    top, _ = model.recommend([0], k=1)
    assert top[0, 0] == 5  # sanity: recommend() excludes too
    # exclude nothing: item 0 (score 1.0) now takes rank 1 for user 0 and P@1 drops to 0
    empty = inter([], 4, 8, "nothing")
    with_excl = Evaluator(ks=(1,), beyond=False).evaluate(model, train, test)
    without = Evaluator(ks=(1,), beyond=False).evaluate(model, empty, test)
    assert with_excl.per_user["precision@1"][0] == 1.0
    assert without.per_user["precision@1"][0] == 0.0


def test_ties_are_broken_by_lower_item_index() -> None:
    s = torch.tensor([
        [0.0, 1.0, 1.0, -0.0, 1.0, float("-inf")],  # tie inside the list; 0.0 and -0.0 are equal
        [3.0, -2.0, -2.0, -1.0, 5.0, 5.0],  # tie at the top (5, 5), none at the cut (-1)
        [1.0, 2.0, 2.0, 2.0, 2.0, 2.0],  # tie straddles the cut: lowest indices 1..4 win over 5
        [float("-inf")] * 3 + [0.5, float("-inf"), 0.7],  # fewer real candidates than k
    ])
    idx, val = top_items(s, 4)
    assert idx.tolist() == [[1, 2, 4, 0], [4, 5, 0, 3], [1, 2, 3, 4], [5, 3, 0, 1]]
    assert val[1].tolist() == [5.0, 5.0, 3.0, -1.0]
    assert val[3, :2].tolist() == [pytest.approx(0.7), 0.5] and val[3, 2:].isneginf().all()
    # same answer for every k and a reversed copy of a tied row keeps index order
    for k in range(1, 7):
        assert top_items(s, k)[0].tolist() == [row[:k] for row in top_items(s, 6)[0].tolist()]
    flat = torch.zeros(1, 50)
    assert top_items(flat, 5)[0].tolist() == [[0, 1, 2, 3, 4]]


def test_cutoff_metrics_direct_and_map_uses_min_of_test_and_k() -> None:
    # 3 test items, K = 2, hits [0, 1]: MAP@2 = (1/min(3,2)) * (1/2) = 0.25
    # NDCG@2 = (1/log2 3) / (1 + 1/log2 3)
    hits = torch.tensor([[0.0, 1.0, 1.0]], dtype=torch.float64)
    out = cutoff_metrics(hits, torch.tensor([3.0], dtype=torch.float64), 2, ("map", "ndcg", "recall"))
    assert out["map"].item() == pytest.approx(0.25)
    assert out["ndcg"].item() == pytest.approx((1 / L3) / (1 + 1 / L3))
    assert out["recall"].item() == pytest.approx(1 / 3)


def test_auc_ties_and_no_negatives() -> None:
    # row 0: items scores [1, 1, 0, -inf(excluded)], test {0}: negatives {1, 2};
    #   item 1 ties (0.5), item 2 below (1) -> 1.5/2
    # row 1: every candidate is a test item -> no negative -> NaN
    s = torch.tensor([[1.0, 1.0, 0.0, float("-inf")], [0.2, 0.1, float("-inf"), float("-inf")]])
    rows = torch.tensor([0, 1, 1])
    cols = torch.tensor([0, 0, 1])
    out = auc(s, rows, cols, torch.tensor([1, 2]))
    assert out[0].item() == pytest.approx(0.75)
    assert math.isnan(out[1].item())
