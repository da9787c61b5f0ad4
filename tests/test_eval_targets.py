"""target_item_metrics: hit ratio and NDCG of target items in users' top-K lists."""

from __future__ import annotations

import numpy as np
import pytest
from contract import TableModel

from advrec.data import Interactions, Split
from advrec.errors import ConfigError, DataError
from advrec.eval import target_item_metrics

TABLE = np.array(
    [
        [6, 5, 4, 3, 2, 1],  # user 0: item 0 best
        [6, 5, 4, 3, 2, 1],  # user 1: trained on both targets
        [1, 2, 3, 4, 5, 6],  # user 2: item 5 best
        [0, 0, 0, 0, 0, 0],  # user 3: all tied -> lower index first
    ],
    dtype=np.float32,
)


def hand_case() -> tuple[TableModel, Interactions]:
    train = Interactions([0, 1, 1, 2], [0, 2, 5, 2], np.ones(4), np.arange(4), np.arange(6))
    return TableModel(TABLE).fit(train), train


def test_hand_computed_targets() -> None:
    model, train = hand_case()
    res = target_item_metrics(model, train, [5, 2], ks=(2, 3), chunk_size=3)
    assert res.users.tolist() == [0, 2, 3]  # user 1 has interacted with every target
    d2, d3 = 1 / np.log2(3), 1 / np.log2(4)
    # user 0 ranks 1, 2, 3, 4, 5 (item 0 trained): target 2 at rank 2, target 5 at rank 5
    # user 2 only counts target 5 (trained on 2): rank 1
    # user 3 ranks 0, 1, 2, ... by index: target 2 at rank 3, target 5 at rank 6
    np.testing.assert_allclose(res.per_user["hr@2"], [0.5, 1.0, 0.0])
    np.testing.assert_allclose(res.per_user["ndcg@2"], [d2 / 2, 1.0, 0.0])
    np.testing.assert_allclose(res.per_user["hr@3"], [0.5, 1.0, 0.5])
    np.testing.assert_allclose(res.per_user["ndcg@3"], [d2 / 2, 1.0, d3 / 2])
    assert res.summary["hr@3"] == pytest.approx(2 / 3)
    assert res.meta["n_targets"] == 2 and res.meta["kind"] == "target-items"
    sub = target_item_metrics(model, train, np.array([2, 5]), ks=(2, 3), users=[3, 0, 1])
    assert sub.users.tolist() == [0, 3]
    np.testing.assert_array_equal(sub.per_user["hr@3"], res.per_user["hr@3"][[0, 2]])


def brute_force(table: np.ndarray, train: Interactions, targets: np.ndarray, k: int) -> dict[int, tuple[float, float]]:
    seen = train.binary_csr
    out = {}
    for u in range(table.shape[0]):
        excl = set(seen[u].indices.tolist())
        open_t = [t for t in targets if t not in excl]
        if not open_t:
            continue
        s = table[u].astype(np.float64).copy()
        s[list(excl)] = -np.inf
        rank = {int(i): r + 1 for r, i in enumerate(np.argsort(-s, kind="stable"))}
        hr = np.mean([rank[t] <= k for t in open_t])
        nd = np.mean([1 / np.log2(rank[t] + 1) if rank[t] <= k else 0.0 for t in open_t])
        out[u] = (hr, nd)
    return out


def test_matches_brute_force_and_chunking(synthetic_split: Split) -> None:
    train = synthetic_split.train
    rng = np.random.default_rng(8)
    table = rng.integers(0, 5, (train.n_users, train.n_items)).astype(np.float32)
    model = TableModel(table).fit(train)
    targets = np.array([int(np.argmax(train.item_counts())), 3, 17, 30])
    results = [target_item_metrics(model, train, targets, ks=(5, 10), chunk_size=c) for c in (1, 7, 1000)]
    for k in (5, 10):
        ref = brute_force(table, train, targets, k)
        assert results[0].users.tolist() == sorted(ref)
        np.testing.assert_allclose(results[0].per_user[f"hr@{k}"], [ref[u][0] for u in results[0].users])
        np.testing.assert_allclose(results[0].per_user[f"ndcg@{k}"], [ref[u][1] for u in results[0].users])
    for r in results[1:]:
        for key, v in results[0].per_user.items():
            np.testing.assert_array_equal(r.per_user[key], v)


def test_target_errors() -> None:
    model, train = hand_case()
    with pytest.raises(ConfigError, match="targets"):
        target_item_metrics(model, train, [], ks=(2,))
    with pytest.raises(DataError, match="targets: item index 6"):
        target_item_metrics(model, train, [1, 6], ks=(2,))
    with pytest.raises(DataError, match="users: user index 4"):
        target_item_metrics(model, train, [1], ks=(2,), users=[0, 4])
    with pytest.raises(DataError, match="interacted with all 2 targets"):
        target_item_metrics(model, train, [2, 5], ks=(2,), users=[1])
    with pytest.raises(ConfigError, match="cutoff 7"):
        target_item_metrics(model, train, [1], ks=(7,))
