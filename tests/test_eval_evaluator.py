"""Evaluator: chunk invariance, agreement with a brute-force reference, splits and errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from contract import TableModel

from advrec.data import Interactions, Split
from advrec.errors import AdvrecError, ConfigError, DataError, LeakageError
from advrec.eval import EvalResult, Evaluator, evaluate, evaluate_split


def reference(table: np.ndarray, train: Interactions, test: Interactions, k: int) -> dict[str, dict[int, float]]:
    """Per-user loop straight from the definitions (stable sort = lower index first on ties)."""
    out: dict[str, dict[int, float]] = {m: {} for m in ("precision", "recall", "ndcg", "mrr", "map", "auc")}
    seen = train.binary_csr
    tst = test.binary_csr
    for u in range(table.shape[0]):
        excl = set(seen[u].indices.tolist())
        rel = set(tst[u].indices.tolist()) - excl
        if not rel:
            continue
        s = table[u].astype(np.float64).copy()
        s[list(excl)] = -np.inf
        order = np.argsort(-s, kind="stable")[:k]
        hits = [1.0 if i in rel else 0.0 for i in order]
        out["precision"][u] = sum(hits) / k
        out["recall"][u] = sum(hits) / len(rel)
        dcg = sum(h / np.log2(r + 2) for r, h in enumerate(hits))
        idcg = sum(1 / np.log2(r + 2) for r in range(min(len(rel), k)))
        out["ndcg"][u] = dcg / idcg
        out["mrr"][u] = next((1 / (r + 1) for r, h in enumerate(hits) if h), 0.0)
        ap = sum(sum(hits[: r + 1]) / (r + 1) * h for r, h in enumerate(hits))
        out["map"][u] = ap / min(len(rel), k)
        neg = [i for i in range(len(s)) if i not in excl and i not in rel]
        wins = sum((s[p] > s[n]) + 0.5 * (s[p] == s[n]) for p in rel for n in neg)
        out["auc"][u] = wins / (len(rel) * len(neg)) if neg else np.nan
    return out


@pytest.fixture
def case(synthetic_split: Split) -> tuple[TableModel, np.ndarray, Split]:
    rng = np.random.default_rng(3)
    table = rng.integers(0, 4, (synthetic_split.n_users, synthetic_split.n_items)).astype(np.float32)
    return TableModel(table).fit(synthetic_split.train), table, synthetic_split


def test_matches_brute_force_reference(case: tuple[TableModel, np.ndarray, Split]) -> None:
    model, table, split = case
    res = evaluate(model, split.train, split.test, ks=(5, 10), chunk_size=7)
    for k in (5, 10):
        ref = reference(table, split.train, split.test, k)
        assert res.users.tolist() == sorted(ref["ndcg"])
        for m in ("precision", "recall", "ndcg", "mrr", "map"):
            np.testing.assert_allclose(res.per_user[f"{m}@{k}"], [ref[m][u] for u in res.users], rtol=1e-12)
    np.testing.assert_allclose(res.per_user["auc"], [ref["auc"][u] for u in res.users], rtol=1e-12)


def test_chunking_gives_identical_results(case: tuple[TableModel, np.ndarray, Split]) -> None:
    model, _, split = case
    feats = np.random.default_rng(0).normal(size=(split.n_items, 4))
    results = [
        Evaluator((3, 10), chunk_size=c, item_features=feats).evaluate(model, split.train, split.test)
        for c in (1, 3, 10_000)
    ]
    results.append(Evaluator((3, 10), max_chunk_bytes=1, item_features=feats).evaluate(model, split.train, split.test))
    assert results[-1].meta["chunk_size"] == 1
    base = results[0]
    for r in results[1:]:
        np.testing.assert_array_equal(r.users, base.users)
        assert r.per_user.keys() == base.per_user.keys()
        for key in base.per_user:
            np.testing.assert_array_equal(r.per_user[key], base.per_user[key], err_msg=key)
        for key in base.summary:
            np.testing.assert_equal(r.summary[key], base.summary[key])


def test_variants_equal_separate_evaluations(case: tuple[TableModel, np.ndarray, Split]) -> None:
    model, table, split = case
    feats = np.random.default_rng(0).normal(size=(split.n_items, 4))
    ev = Evaluator((3, 10), chunk_size=7, item_features=feats)
    noise = np.random.default_rng(1).normal(size=table.shape).astype(np.float32)
    tables = {"table": table, "noisy": table + noise, "negated": -table}

    def variants(chunk: np.ndarray):
        for key, t in tables.items():
            yield key, torch.from_numpy(t[chunk])

    got = ev.evaluate_variants(model, split.train, split.test, variants)
    assert list(got) == list(tables)
    for key, t in tables.items():
        alone = ev.evaluate(TableModel(t).fit(split.train), split.train, split.test)
        assert got[key].meta["variant"] == key
        for m in alone.per_user:
            np.testing.assert_array_equal(got[key].per_user[m], alone.per_user[m], err_msg=f"{key} {m}")
        assert got[key].summary == alone.summary
    calls = []

    def first_chunk_only(chunk: np.ndarray):
        calls.append(1)
        return [("x", torch.from_numpy(table[chunk]))] if len(calls) == 1 else []

    with pytest.raises(AdvrecError, match="not yielded for every chunk"):
        ev.evaluate_variants(model, split.train, split.test, first_chunk_only)
    with pytest.raises(AdvrecError, match="shape"):
        ev.evaluate_variants(model, split.train, split.test, lambda chunk: [("x", torch.zeros(1, 1))])


def test_only_users_with_test_items_and_model_table_untouched(case: tuple[TableModel, np.ndarray, Split]) -> None:
    model, _, split = case
    before = model.table.clone()
    keep = np.isin(split.test.users, np.arange(0, 60, 2))  # test items only for even users
    res = evaluate(model, split.train, split.test.subset(keep), ks=(5,), chunk_size=1)
    assert len(res.users) > 0 and (res.users % 2 == 0).all()
    assert res.users.tolist() == sorted(set(split.test.users[keep].tolist()))
    assert torch.equal(model.table, before)  # masking did not write into the model


def test_overlapping_test_pairs_are_dropped_with_warning() -> None:
    ids = np.arange(3)
    train = Interactions(np.array([0, 1]), np.array([0, 1]), np.ones(2, np.float32), ids, ids, name="tr")
    test = Interactions(np.array([0, 1, 1]), np.array([0, 1, 2]), np.ones(3, np.float32), ids, ids, name="te")
    model = TableModel(np.array([[3.0, 2.0, 1.0]] * 3)).fit(train)
    with pytest.warns(UserWarning, match="2 test pairs of 'te' are also in 'tr'"):
        res = evaluate(model, train, test, ks=(1,))
    # pairs (0,0) and (1,1) overlap: user 0 has no test item left; user 1 keeps item 2 (ranked after 0)
    assert res.users.tolist() == [1]
    assert res.per_user["recall@1"].tolist() == [0.0]
    assert res.per_user["auc"].tolist() == [0.0]


def test_fewer_candidates_than_k() -> None:
    # 1 user, 4 items, 2 in train: top-4 holds 2 excluded slots; only the 2 real ones count
    ids_u, ids_i = np.arange(1), np.arange(4)
    train = Interactions(np.array([0, 0]), np.array([0, 1]), np.ones(2, np.float32), ids_u, ids_i, name="tr")
    test = Interactions(np.array([0]), np.array([3]), np.ones(1, np.float32), ids_u, ids_i, name="te")
    model = TableModel(np.array([[4.0, 3.0, 2.0, 1.0]])).fit(train)
    res = evaluate(model, train, test, ks=(4,))
    assert res.per_user["precision@4"][0] == pytest.approx(0.25)  # hits / K, K = 4
    assert res.per_user["mrr@4"][0] == pytest.approx(0.5)  # ranking 2, 3
    assert res.summary["coverage@4"] == pytest.approx(0.5)  # items 2, 3 of 4
    assert res.per_user["arp@4"][0] == pytest.approx(0.0)  # items 2, 3 have no train users


def test_infinite_scores_allowed_nan_refused() -> None:
    ids = np.arange(3)
    train = Interactions(np.array([0]), np.array([0]), np.ones(1, np.float32), ids[:1], ids, name="tr")
    test = Interactions(np.array([0]), np.array([2]), np.ones(1, np.float32), ids[:1], ids, name="te")
    model = TableModel(np.array([[np.inf, -np.inf, np.inf]])).fit(train)
    res = evaluate(model, train, test, ks=(1,))
    assert res.per_user["precision@1"][0] == 1.0 and res.per_user["auc"][0] == 1.0
    model.table = torch.tensor([[0.0, np.nan, 1.0]])
    with pytest.raises(AdvrecError, match="NaN for user index 0"):
        evaluate(model, train, test, ks=(1,))


def test_parameter_and_input_errors(case: tuple[TableModel, np.ndarray, Split]) -> None:
    model, _, split = case
    with pytest.raises(ConfigError, match="unknown \\['ndgc'\\]"):
        Evaluator(metrics=("ndgc",))
    with pytest.raises(ConfigError, match="positive"):
        Evaluator(ks=(0,))
    with pytest.raises(ConfigError, match="chunk_size"):
        Evaluator(chunk_size=0)
    with pytest.raises(ConfigError, match="exceeds the number of items"):
        evaluate(model, split.train, split.test, ks=(41,))
    with pytest.raises(DataError, match="item_features"):
        evaluate(model, split.train, split.test, item_features=np.ones((3, 2)))
    other = Interactions(np.array([0]), np.array([0]), np.ones(1, np.float32), np.arange(2), np.arange(2), name="x")
    with pytest.raises(DataError, match="id space"):
        evaluate(model, split.train, other)
    with pytest.raises(AdvrecError, match="not fitted"):
        evaluate(TableModel(np.zeros((1, 1))), split.train, split.test)
    with pytest.raises(DataError, match="nothing to evaluate"):
        evaluate(model, split.train, split.train.subset(np.zeros(len(split.train), bool)))


def test_evaluate_split_exclusion_defaults(case: tuple[TableModel, np.ndarray, Split]) -> None:
    model, _, split = case
    with pytest.raises(LeakageError, match="no validation part"):
        evaluate_split(model, split, "valid")
    with pytest.raises(ConfigError, match="part must be"):
        evaluate_split(model, split, "train")
    rng = np.random.default_rng(5)
    vmask = rng.random(len(split.train)) < 0.2
    three = Split(split.train.subset(~vmask, "train"), split.test, split.train.subset(vmask, "valid"))
    table = model.table.numpy().copy()
    table[three.valid.users, three.valid.items] = 100.0  # valid items top every list unless excluded
    fitted = TableModel(table).fit(three.train)
    valid = evaluate_split(fitted, three, "valid", ks=(5,), beyond=False)
    assert valid.meta["exclude"] == "train" and valid.meta["test"] == "valid"
    test_full = evaluate_split(fitted, three, "test", ks=(5,), beyond=False)
    direct = evaluate(fitted, three.train_full(), three.test, ks=(5,), beyond=False)
    np.testing.assert_array_equal(test_full.per_user["ndcg@5"], direct.per_user["ndcg@5"])
    only_train = evaluate_split(fitted, three, "test", exclude=three.train, ks=(5,), beyond=False)
    assert only_train.meta["exclude"] == "train"
    assert only_train.summary["ndcg@5"] < test_full.summary["ndcg@5"]


def test_result_serialisation(case: tuple[TableModel, np.ndarray, Split]) -> None:
    model, _, split = case
    res = evaluate(model, split.train, split.test, ks=(5,), metrics=("ndcg", "auc"), show_progress=True)
    d = json.loads(json.dumps(res.to_dict()))
    assert d["n_users"] == 60 and d["n_items"] == 40 and d["n_evaluated"] == len(res.users)
    assert d["summary"]["ndcg@5"] == pytest.approx(res.per_user["ndcg@5"].mean())
    assert set(d["summary"]) == {"ndcg@5", "auc", "novelty@5", "arp@5", "coverage@5", "gini@5"}
    frame = res.to_frame()
    assert list(frame.columns) == ["user", "ndcg@5", "auc", "novelty@5", "arp@5"]
    assert frame["user"].tolist() == res.users.tolist()
    nan_res = EvalResult(np.array([0]), {"auc": np.array([np.nan])}, {"auc": float("nan")}, (1,), 1, 1)
    assert nan_res.to_dict()["summary"]["auc"] is None
