"""The splitters: random holdout, leave-one-out, temporal, cold items, cold users."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from advrec.data import Interactions, Split
from advrec.data.splits import (
    cold_items,
    cold_users,
    leave_one_out,
    make_split,
    parse_spec,
    random_holdout,
    round_half_up,
    temporal,
)
from advrec.errors import ConfigError, DataError


def records(counts: list[int], n_items: int = 20, ts: np.ndarray | None = None) -> Interactions:
    """User u gets counts[u] records on items 0..counts[u]-1; timestamps default to record order."""
    users = np.repeat(np.arange(len(counts)), counts)
    items = np.concatenate([np.arange(c) for c in counts])
    t = np.arange(len(users)) * 10 if ts is None else ts
    n = len(users)
    return Interactions(users, items, np.ones(n), np.arange(len(counts)), np.arange(n_items), t)


def assert_partition(split: Split, inter: Interactions, with_revealed: bool = False) -> None:
    parts = [split.train, split.test] + ([split.revealed] if with_revealed else [])
    keys = np.concatenate([p.pair_keys() for p in parts])
    np.testing.assert_array_equal(np.sort(keys), np.sort(inter.pair_keys()))
    for p in parts:
        assert (p.n_users, p.n_items) == (inter.n_users, inter.n_items)
    split.check_leakage()


def test_round_half_up():
    got = round_half_up([0.4, 0.5, 1.5, 2.5, 8.0, 0.15 * 10])
    np.testing.assert_array_equal(got, [0, 1, 2, 3, 8, 2])


def test_random_holdout_rounding_rule():
    inter = records([10, 5, 3, 2, 1, 7])
    s = random_holdout(inter, 0.8, seed=0)
    np.testing.assert_array_equal(s.train.user_counts(), [8, 4, 2, 2, 1, 6])
    np.testing.assert_array_equal(s.test.user_counts(), [2, 1, 1, 0, 0, 1])
    assert s.name == "random:0.8" and s.meta["kind"] == "random"
    assert_partition(s, inter)


def test_random_holdout_min_train():
    inter = records([1, 5])
    s = random_holdout(inter, 0.3, min_train=0)
    np.testing.assert_array_equal(s.train.user_counts(), [0, 2])  # round(0.3)=0, round(1.5)=2
    s = random_holdout(inter, 0.2, min_train=3)
    np.testing.assert_array_equal(s.train.user_counts(), [1, 3])  # raised to min(3, n)
    with pytest.raises(ConfigError, match="min_train"):
        random_holdout(inter, 0.8, min_train=-1)


@pytest.mark.parametrize("ratio", [0.0, 1.0, 1.2, "x"])
def test_random_holdout_bad_ratio(ratio):
    with pytest.raises(ConfigError, match="train_ratio"):
        random_holdout(records([3]), ratio)


def test_random_holdout_seeded(synthetic):
    a, b = random_holdout(synthetic, seed=5), random_holdout(synthetic, seed=5)
    np.testing.assert_array_equal(a.test.pair_keys(), b.test.pair_keys())
    np.testing.assert_array_equal(a.train.values, b.train.values)
    c = random_holdout(synthetic, seed=6)
    assert not np.array_equal(np.sort(a.test.pair_keys()), np.sort(c.test.pair_keys()))
    assert a.train.user_features is synthetic.user_features
    assert a.test.item_features is synthetic.item_features
    assert_partition(a, synthetic)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(1, 15), min_size=1, max_size=12),
    st.floats(0.05, 0.95),
    st.integers(0, 2**31),
)
def test_random_holdout_property(counts, ratio, seed):
    inter = records(counts)
    s = random_holdout(inter, ratio, seed=seed)
    expected = np.maximum(round_half_up(ratio * np.array(counts)), np.minimum(1, counts))
    np.testing.assert_array_equal(s.train.user_counts(), expected)
    assert_partition(s, inter)


def test_loo_picks_latest():
    ts = np.array([5, 9, 7, 3, 3, 1, 50])
    users, items = [0, 0, 0, 1, 1, 2, 3], [0, 1, 2, 0, 1, 0, 3]
    inter = Interactions(users, items, np.ones(7), np.arange(4), np.arange(4), ts)
    s = leave_one_out(inter)
    # user 0: ts 9 is latest; user 1: a tie at ts 3 goes to the last record
    assert sorted(zip(s.test.users.tolist(), s.test.items.tolist())) == [(0, 1), (1, 1)]
    np.testing.assert_array_equal(s.train.user_counts(), [2, 1, 1, 1])
    assert s.name == "loo:time"
    assert_partition(s, inter)


def test_loo_random(synthetic):
    s = leave_one_out(synthetic, by="random", seed=1)
    counts = synthetic.user_counts()
    np.testing.assert_array_equal(s.test.user_counts(), (counts >= 2).astype(int))
    t = leave_one_out(synthetic, by="random", seed=2)
    assert not np.array_equal(np.sort(s.test.pair_keys()), np.sort(t.test.pair_keys()))
    np.testing.assert_array_equal(
        s.test.pair_keys(), leave_one_out(synthetic, by="random", seed=1).test.pair_keys()
    )
    assert_partition(s, synthetic)


def test_loo_time_matches_max(synthetic):
    s = leave_one_out(synthetic)
    last = np.zeros(synthetic.n_users, np.int64)
    np.maximum.at(last, synthetic.users, synthetic.timestamps)
    np.testing.assert_array_equal(s.test.timestamps, last[s.test.users])


def test_loo_needs_timestamps():
    inter = Interactions([0, 0], [0, 1], [1, 1], np.arange(1), np.arange(2))
    with pytest.raises(DataError, match="timestamps"):
        leave_one_out(inter)
    with pytest.raises(ConfigError, match="by must be"):
        leave_one_out(inter, by="latest")
    assert len(leave_one_out(inter, by="random").test) == 1


def test_temporal_cut_hand_computed():
    inter = records([4, 6], ts=np.array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]))
    s = temporal(inter, 0.8)
    assert sorted(s.test.timestamps.tolist()) == [9, 10] and s.meta["cutoff"] == 9
    ties = records([3, 3], ts=np.array([1, 2, 3, 3, 3, 4]))
    s = temporal(ties, 0.5)  # k = 3, the cut timestamp 3 and all its ties go to test
    assert sorted(s.train.timestamps.tolist()) == [1, 2]
    s = temporal(ties, cutoff=4)
    assert s.test.timestamps.tolist() == [4] and s.name == "temporal@4"


def test_temporal_order(synthetic):
    s = temporal(synthetic, 0.7)
    assert s.test.timestamps.min() > s.train.timestamps.max()
    assert abs(len(s.train) - 0.7 * len(synthetic)) <= 1
    assert_partition(s, synthetic)


def test_temporal_unknown_policy():
    # cut at 4: user 1 (ts 4) and item 5 (ts 5) only appear after the cut; (0, 3) at ts 6 is known
    inter = Interactions(
        [0, 0, 0, 1, 0, 2, 0], [0, 1, 2, 0, 5, 3, 3], np.ones(7), np.arange(3), np.arange(6),
        [1, 2, 3, 4, 5, 0, 6],
    )
    keep = temporal(inter, cutoff=4)
    assert sorted(keep.test.timestamps.tolist()) == [4, 5, 6]
    assert keep.meta["unknown"] == "keep"
    assert (keep.meta["unknown_user_records"], keep.meta["unknown_item_records"]) == (1, 1)
    drop = temporal(inter, cutoff=4, unknown="drop")
    assert drop.test.timestamps.tolist() == [6] and drop.meta["dropped_records"] == 2
    assert len(drop.train) == 4
    with pytest.raises(ConfigError, match="unknown"):
        temporal(inter, unknown="ignore")


def test_temporal_errors():
    inter = records([3], ts=np.array([7, 7, 7]))
    with pytest.raises(DataError, match="train empty"):
        temporal(inter, 0.5)
    with pytest.raises(DataError, match="test empty"):
        temporal(records([3]), cutoff=10**6)
    no_ts = Interactions([0, 0], [0, 1], [1, 1], np.arange(1), np.arange(2))
    with pytest.raises(DataError, match="timestamps"):
        temporal(no_ts)


def test_cold_items(synthetic):
    s = cold_items(synthetic, 0.2, 0.0, seed=3)
    n_active = len(synthetic.active_items())
    assert len(s.cold_items) == round_half_up(0.2 * n_active)
    assert not np.isin(s.train.items, s.cold_items).any()
    np.testing.assert_array_equal(np.unique(s.test.items), s.cold_items)
    assert len(s.test) == np.isin(synthetic.items, s.cold_items).sum()
    assert_partition(s, synthetic)
    again = cold_items(synthetic, 0.2, 0.0, seed=3)
    np.testing.assert_array_equal(again.cold_items, s.cold_items)
    assert not np.array_equal(cold_items(synthetic, 0.2, 0.0, seed=4).cold_items, s.cold_items)


# warm records of a user -> warm records held out with warm_test=0.2 (rounding of random:0.8)
WARM_HELD_02 = {0: 0, 1: 0, 2: 0, 3: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 2, 9: 2, 10: 2, 11: 2, 12: 2, 13: 3}


def test_cold_items_hold_out_warm_records():
    inter = records(list(range(1, 14)) + [13, 7, 4], n_items=16)
    s = cold_items(inter, 0.2, 0.2, seed=5)
    assert s.name == "cold-item:0.2:0.2" and s.meta["warm_test"] == 0.2
    assert_partition(s, inter)
    cold = np.isin(inter.items, s.cold_items)
    n_warm = np.bincount(inter.users[~cold], minlength=inter.n_users)
    test_warm = ~np.isin(s.test.items, s.cold_items)
    held = np.bincount(s.test.users[test_warm], minlength=inter.n_users)
    np.testing.assert_array_equal(held, [WARM_HELD_02[int(n)] for n in n_warm])
    assert s.meta["n_warm_test_records"] == held.sum() > 0
    # every record of a cold item is test, whatever warm_test is
    assert np.isin(s.test.items, s.cold_items).sum() == cold.sum()
    # the cold draw does not depend on warm_test; warm_test=0 is the old split
    base = cold_items(inter, 0.2, 0.0, seed=5)
    np.testing.assert_array_equal(base.cold_items, s.cold_items)
    assert len(base.test) == cold.sum()


def test_cold_items_spec_and_errors(synthetic):
    s = make_split(synthetic, "cold-item:0.25:0.3", seed=1)
    assert s.meta["params"] == {"frac": 0.25, "warm_test": 0.3}
    assert (~np.isin(s.test.items, s.cold_items)).any()
    assert not np.isin(s.train_full().items, s.cold_items).any()
    assert make_split(synthetic, "cold-item:0.25:0", seed=1).meta["warm_test"] == 0.0
    with pytest.raises(ConfigError, match="warm_test"):
        parse_spec("cold-item:0.2:1")
    with pytest.raises(ConfigError, match="warm_test"):
        cold_items(synthetic, 0.2, -0.1)


def test_cold_items_keeps_one_warm():
    s = cold_items(records([2, 2], n_items=2), 0.9)
    assert len(s.cold_items) == 1 and len(s.train) == 2


def test_cold_users_reveal_by_time(synthetic):
    s = cold_users(synthetic, 0.2, reveal=2, seed=1)
    assert s.name == "cold-user:0.2:2"
    assert not np.isin(s.train.users, s.cold_users).any()
    np.testing.assert_array_equal(np.unique(s.test.users), s.cold_users)
    np.testing.assert_array_equal(s.revealed.user_counts()[s.cold_users], 2)
    # the revealed records are exactly the 2 earliest of each cold user
    for u in s.cold_users[:5]:
        ts = np.sort(synthetic.timestamps[synthetic.users == u])
        np.testing.assert_array_equal(np.sort(s.revealed.timestamps[s.revealed.users == u]), ts[:2])
        assert s.test.timestamps[s.test.users == u].min() > ts[1]
    assert_partition(s, synthetic, with_revealed=True)


def test_cold_users_random_and_no_reveal(synthetic):
    s = cold_users(synthetic, 0.25, reveal=1, by="random", seed=2)
    np.testing.assert_array_equal(s.revealed.user_counts()[s.cold_users], 1)
    assert (synthetic.user_counts()[s.cold_users] > 1).all()
    t = cold_users(synthetic, 0.25, seed=2)
    assert t.revealed is None and t.name == "cold-user:0.25"
    assert len(t.cold_users) == round_half_up(0.25 * len(synthetic.active_users()))
    assert not np.array_equal(cold_users(synthetic, 0.25, seed=3).cold_users, t.cold_users)
    with pytest.raises(ConfigError, match="reveal"):
        cold_users(synthetic, reveal=-1)
    with pytest.raises(ConfigError, match="by must be"):
        cold_users(synthetic, by="first")


def test_cold_users_by_time_without_timestamps_names_the_random_form(synthetic):
    untimed = dataclasses.replace(synthetic, timestamps=None, name="untimed")
    with pytest.raises(DataError, match=r"untimed: .*no timestamps.*cold-user:0\.2:3:random"):
        cold_users(untimed, 0.2, reveal=3)
    s = cold_users(untimed, 0.2, reveal=3, by="random", seed=0)
    assert s.name == "cold-user:0.2:3:random"
    assert cold_users(untimed, 0.2, seed=0).revealed is None  # R = 0 needs no order


def test_cold_users_too_few():
    with pytest.raises(DataError, match="not enough users"):
        cold_users(records([2, 2]), 0.5, reveal=2)
