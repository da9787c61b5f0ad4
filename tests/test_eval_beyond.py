"""Beyond-accuracy metrics by hand on the tiny case of test_eval_metrics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from contract import TableModel

from advrec.data import Interactions
from advrec.eval import Evaluator, gini

L3 = math.log2(3)
R2 = 1 / math.sqrt(2)


def _inter(pairs: list[tuple[int, int]], name: str) -> Interactions:
    u, i = (np.array(x, np.int64) for x in zip(*pairs))
    return Interactions(u, i, np.ones(len(u), np.float32), np.arange(4), np.arange(8), name=name)


# The same 4 x 8 case as test_eval_metrics.tiny(): evaluated users 0, 2, 3 with
#   top-5: u0 [5,1,2,7,3], u2 [6,0,1,2,3], u3 [2,3,4,5,6];  top-2: u0 [5,1], u2 [6,0], u3 [2,3]
# train: u0 {0}, u2 {4}, u3 {0,1} -> 3 train users; train users per item: item0 2, item1 1, item4 1, rest 0
FEATS = np.array([[1, 0], [1, 0], [0, 1], [1, 1], [1, 0], [0, 1], [2, 0], [0, 0]], float)


def _result():  # type: ignore[no-untyped-def]
    s = np.zeros((4, 8), np.float32)
    s[0] = [1.0, 0.8, 0.7, 0.5, 0.4, 0.9, 0.3, 0.6]
    s[2, 6], s[2, 4] = 1.0, 2.0
    s[3] = 7 - np.arange(8)
    train = _inter([(0, 0), (2, 4), (3, 0), (3, 1)], "train")
    test = _inter([(0, 2), (0, 5), (2, 0), (3, 7)], "test")
    model = TableModel(s).fit(train)
    return Evaluator(ks=(2, 5), metrics=("ndcg",), item_features=FEATS).evaluate(model, train, test)


def test_coverage_and_gini_by_hand() -> None:
    res = _result()
    # @2 recommended {5,1,6,0,2,3}: 6 of 8 items; @5 every item appears
    assert res.summary["coverage@2"] == pytest.approx(6 / 8)
    assert res.summary["coverage@5"] == pytest.approx(1.0)
    # @2 counts sorted ascending [0,0,1,1,1,1,1,1], n=8, total 6:
    #   sum (2i - 9) c_(i) for i = 3..8 = -3-1+1+3+5+7 = 12 -> G = 12 / (8*6) = 0.25
    assert res.summary["gini@2"] == pytest.approx(0.25)
    # @5 counts: item0 1, 1 2, 2 3, 3 3, 4 1, 5 2, 6 2, 7 1 -> sorted [1,1,1,2,2,2,3,3], total 15
    #   sum (2i-9) c = -7-5-3-2+2+6+15+21 = 27 -> G = 27 / (8*15)
    assert res.summary["gini@5"] == pytest.approx(27 / 120)


def test_novelty_and_arp_by_hand() -> None:
    res = _result()
    # p_i = max(train users of i, 1) / 3: item0 2/3, every other item 1/3 -> -log2 p = log2(3/2) or log2 3
    # @2: u0 [5,1] -> log2 3; u2 [6,0] -> (log2 3 + log2 1.5)/2; u3 [2,3] -> log2 3
    l15 = math.log2(1.5)
    np.testing.assert_allclose(res.per_user["novelty@2"], [L3, (L3 + l15) / 2, L3])
    assert res.summary["novelty@2"] == pytest.approx((L3 + (L3 + l15) / 2 + L3) / 3)
    # ARP@2 (train user counts): u0 [5,1] -> (0+1)/2; u2 [6,0] -> (0+2)/2; u3 [2,3] -> 0
    np.testing.assert_allclose(res.per_user["arp@2"], [0.5, 1.0, 0.0])
    assert res.summary["arp@2"] == pytest.approx(0.5)
    # ARP@5: u0 [5,1,2,7,3] -> 1/5; u2 [6,0,1,2,3] -> 3/5; u3 [2,3,4,5,6] -> 1/5
    np.testing.assert_allclose(res.per_user["arp@5"], [0.2, 0.6, 0.2])


def test_intra_list_diversity_by_hand() -> None:
    res = _result()
    # @2: u0 (5,1) = ([0,1],[1,0]) cos 0 -> 1; u2 (6,0) = ([2,0],[1,0]) cos 1 -> 0;
    #     u3 (2,3) = ([0,1],[1,1]) cos 1/sqrt2 -> 1 - 1/sqrt2
    np.testing.assert_allclose(res.per_user["ild@2"], [1.0, 0.0, 1 - R2], atol=1e-7)
    # @5 u0 [5,1,2,7,3]: 10 pairs; (5,2) distance 0; the three pairs with item 3 and one of 5,1,2 give
    # 1 - 1/sqrt2; item 7 is a zero vector (cos 0 -> distance 1); the other 6 pairs give 1
    assert res.per_user["ild@5"][0] == pytest.approx((6 + 3 * (1 - R2)) / 10, abs=1e-7)
    assert res.summary["ild@2"] == pytest.approx((1 + 0 + 1 - R2) / 3, abs=1e-7)


def test_gini_function_and_beyond_switch() -> None:
    assert gini(np.array([5, 5, 5, 5])) == pytest.approx(0.0)
    assert gini(np.array([0, 0, 0, 8])) == pytest.approx(3 / 4)  # (n-1)/n
    assert math.isnan(gini(np.zeros(3)))
    res = _result()
    assert "ild@5" in res.summary and "coverage@5" in res.summary


def test_without_features_no_ild_and_beyond_off() -> None:
    train = _inter([(0, 0), (2, 4), (3, 0), (3, 1)], "train")
    test = _inter([(0, 2), (0, 5), (2, 0), (3, 7)], "test")
    model = TableModel(np.zeros((4, 8))).fit(train)
    res = Evaluator(ks=(2,)).evaluate(model, train, test)
    assert "ild@2" not in res.summary and "gini@2" in res.summary
    off = Evaluator(ks=(2,), beyond=False).evaluate(model, train, test)
    assert set(off.summary) == {f"{m}@2" for m in ("precision", "recall", "ndcg", "mrr", "map", "hitrate")} | {"auc"}
