"""Evaluator(candidates=...): restricted ranking, and the three cold-item settings."""

from __future__ import annotations

import numpy as np
import pytest
from contract import TableModel
from test_eval_evaluator import reference

from advrec.data import Interactions, Split
from advrec.data.splits import cold_items
from advrec.errors import ConfigError, DataError
from advrec.eval import Evaluator, evaluate, evaluate_cold_items, evaluate_split


def tiny() -> tuple[TableModel, Interactions, Interactions]:
    """2 users x 6 items; item 0 scores best, then 1, 2, ...; user 0 trained on item 1."""
    table = np.tile(np.arange(6, 0, -1, dtype=np.float32), (2, 1))
    train = Interactions([0, 1], [1, 3], np.ones(2), np.arange(2), np.arange(6))
    test = Interactions([0, 0, 1], [2, 4, 0], np.ones(3), np.arange(2), np.arange(6))
    return TableModel(table).fit(train), train, test


def test_hand_computed_candidates() -> None:
    model, train, test = tiny()
    res = evaluate(model, train, test, ks=(2,), candidates=np.array([5, 2, 3, 4]))
    # user 1's only test item (0) is not a candidate: user 1 is not evaluated
    assert res.users.tolist() == [0] and res.meta["n_candidates"] == 4
    # user 0 ranks the candidates 2, 3, 4, 5: hits at ranks 1 and 3
    assert res.per_user["precision@2"][0] == pytest.approx(0.5)
    assert res.per_user["recall@2"][0] == pytest.approx(0.5)
    assert res.per_user["ndcg@2"][0] == pytest.approx(1.0 / (1.0 + 1.0 / np.log2(3.0)))
    assert res.per_user["mrr@2"][0] == pytest.approx(1.0)
    assert res.per_user["auc"][0] == pytest.approx(3 / 4)  # 2 > 3, 2 > 5, 4 < 3, 4 > 5
    assert res.summary["coverage@2"] == pytest.approx(2 / 4)  # items 2, 3 of 4 candidates
    # unrestricted: user 0 ranks 0, 2, ...: a hit at rank 2 only; user 1 is evaluated
    full = evaluate(model, train, test, ks=(2,))
    assert full.users.tolist() == [0, 1]
    assert full.per_user["ndcg@2"][0] == pytest.approx((1.0 / np.log2(3.0)) / (1.0 + 1.0 / np.log2(3.0)))
    assert full.summary["coverage@2"] == pytest.approx(3 / 6)  # {0, 2} and {0, 1}


def test_candidates_outside_and_padding() -> None:
    model, train, test = tiny()
    # one candidate: user 0 has 1 candidate item (2) for K=2; the padding slot is no hit
    res = evaluate(model, train, test, ks=(2,), candidates=np.array([2]))
    assert res.per_user["precision@2"][0] == pytest.approx(0.5)
    assert res.per_user["recall@2"][0] == pytest.approx(1.0)  # test item 4 is dropped
    assert np.isnan(res.per_user["auc"][0])  # no candidate negatives
    assert res.summary["coverage@2"] == pytest.approx(1.0)


def test_all_candidates_equal_no_restriction(synthetic_split: Split) -> None:
    rng = np.random.default_rng(4)
    table = rng.integers(0, 4, (synthetic_split.n_users, synthetic_split.n_items)).astype(np.float32)
    model = TableModel(table).fit(synthetic_split.train)
    feats = rng.normal(size=(synthetic_split.n_items, 3))
    base = Evaluator((3, 10), chunk_size=7, item_features=feats).evaluate(model, synthetic_split.train,
                                                                          synthetic_split.test)
    every = np.arange(synthetic_split.n_items)[::-1]
    res = Evaluator((3, 10), chunk_size=7, item_features=feats, candidates=every).evaluate(
        model, synthetic_split.train, synthetic_split.test)
    np.testing.assert_array_equal(res.users, base.users)
    for key in base.per_user:
        np.testing.assert_array_equal(res.per_user[key], base.per_user[key], err_msg=key)
    for key in base.summary:
        np.testing.assert_equal(res.summary[key], base.summary[key])


def test_candidates_match_reference_with_non_candidates_excluded(synthetic_split: Split) -> None:
    split = synthetic_split
    rng = np.random.default_rng(5)
    table = rng.integers(0, 4, (split.n_users, split.n_items)).astype(np.float32)
    model = TableModel(table).fit(split.train)
    cand = np.sort(rng.choice(split.n_items, 25, replace=False))
    res = evaluate(model, split.train, split.test, ks=(5,), chunk_size=9, candidates=cand)
    # the reference: every non-candidate is an excluded item of every user, test kept among candidates
    others = np.setdiff1d(np.arange(split.n_items), cand)
    u, i = np.repeat(np.arange(split.n_users), len(others)), np.tile(others, split.n_users)
    extra = split.train.new_records(u, i, duplicates="first")
    excluded = split.train.concat(extra).deduplicate("first")
    test = split.test.subset(np.isin(split.test.items, cand))
    ref = reference(table, excluded, test, 5)
    assert res.users.tolist() == sorted(ref["ndcg"])
    for m in ("precision", "recall", "ndcg", "mrr", "map"):
        np.testing.assert_allclose(res.per_user[f"{m}@5"], [ref[m][x] for x in res.users], rtol=1e-12)
    np.testing.assert_allclose(res.per_user["auc"], [ref["auc"][x] for x in res.users], rtol=1e-12)
    # evaluate_split passes candidates through
    via_split = evaluate_split(model, split, exclude=split.train, ks=(5,), candidates=cand)
    np.testing.assert_array_equal(via_split.per_user["ndcg@5"], res.per_user["ndcg@5"])


def test_candidate_errors() -> None:
    model, train, test = tiny()
    for bad in (np.array([], int), np.array([[1, 2]]), np.array([0.5]), np.array([-1, 2])):
        with pytest.raises(ConfigError, match="candidates"):
            Evaluator((2,), candidates=bad)
    with pytest.raises(DataError, match="candidates: item index 9"):
        evaluate(model, train, test, ks=(2,), candidates=np.array([1, 9]))
    with pytest.raises(DataError, match="among the 1 candidate items"):
        evaluate(model, train, test, ks=(2,), candidates=np.array([5]))


def test_evaluate_cold_items_three_settings(synthetic: Interactions) -> None:
    split = cold_items(synthetic, 0.25, 0.2, seed=2)
    rng = np.random.default_rng(6)
    table = rng.normal(size=(split.n_users, split.n_items)).astype(np.float32)
    model = TableModel(table).fit(split.train)
    out = evaluate_cold_items(model, split.train, split.test, split.cold_items, ks=(5,), chunk_size=11)
    assert list(out) == ["cold", "warm", "all"]
    cold = np.isin(split.test.items, split.cold_items)
    warm = np.setdiff1d(np.arange(split.n_items), split.cold_items)
    expect = {
        "cold": evaluate(model, split.train, split.test.subset(cold), ks=(5,), candidates=split.cold_items),
        "warm": evaluate(model, split.train, split.test.subset(~cold), ks=(5,), candidates=warm),
        "all": evaluate(model, split.train, split.test, ks=(5,)),
    }
    for setting, res in out.items():
        assert res.meta["setting"] == setting
        np.testing.assert_array_equal(res.users, expect[setting].users)
        np.testing.assert_array_equal(res.per_user["ndcg@5"], expect[setting].per_user["ndcg@5"])
    # the cold setting only evaluates users with a cold test item
    np.testing.assert_array_equal(out["cold"].users, np.unique(split.test.users[cold]))
    no_warm = cold_items(synthetic, 0.25, 0.0, seed=2)
    with pytest.raises(DataError, match="warm setting"):
        evaluate_cold_items(model, no_warm.train, no_warm.test, no_warm.cold_items, ks=(5,))
    with pytest.raises(DataError, match="all 40 items are cold"):
        evaluate_cold_items(model, split.train, split.test, np.arange(split.n_items))
    with pytest.raises(ConfigError, match="candidates"):
        evaluate_cold_items(model, split.train, split.test, split.cold_items, candidates=warm)
