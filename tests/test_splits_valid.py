"""Validation carving, split specs and make_split."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from advrec.data import Interactions, Split
from advrec.data.splits import (
    carve_validation,
    cold_items,
    cold_users,
    leave_one_out,
    make_split,
    parse_spec,
    random_holdout,
    temporal,
)
from advrec.errors import ConfigError, DataError, LeakageError

SPECS = ["random:0.8", "loo", "loo:random", "temporal:0.8", "cold-item:0.2", "cold-user:0.2",
         "cold-user:0.2:2"]


def sorted_keys(inter: Interactions) -> np.ndarray:
    return np.sort(inter.pair_keys())


def check_carved(before: Split, after: Split) -> None:
    """Test untouched, valid disjoint from train, and nothing lost from train."""
    assert after.test is before.test
    assert not np.isin(after.valid.pair_keys(), after.train.pair_keys()).any()
    np.testing.assert_array_equal(sorted_keys(after.train_full()), sorted_keys(before.train))
    after.check_leakage()


def test_per_user_rounding():
    counts = [10, 5, 4, 1]
    users = np.repeat(np.arange(4), counts)
    items = np.concatenate([np.arange(c) for c in counts])
    n = len(users)
    inter = Interactions(users, items, np.ones(n), np.arange(4), np.arange(10), np.arange(n))
    split = Split(train=inter, test=inter.subset(np.zeros(len(inter), bool)))
    out = carve_validation(split, 0.1, by="time")
    np.testing.assert_array_equal(out.valid.user_counts(), [1, 1, 0, 0])  # round(1.0), round(0.5)
    # by time: the latest record of each user moves
    np.testing.assert_array_equal(out.valid.timestamps, [9, 14])
    big = carve_validation(split, 0.9)  # capped at n - 1: every user keeps one train record
    np.testing.assert_array_equal(big.train.user_counts(), [1, 1, 1, 1])
    assert out.meta["valid"]["mode"] == "per-user"


def test_carve_random_seeded(synthetic):
    base = random_holdout(synthetic, 0.8, seed=0)
    a = carve_validation(base, 0.2, seed=1)
    check_carved(base, a)
    b = carve_validation(base, 0.2, seed=1)
    np.testing.assert_array_equal(a.valid.pair_keys(), b.valid.pair_keys())
    c = carve_validation(base, 0.2, seed=2)
    assert not np.array_equal(sorted_keys(a.valid), sorted_keys(c.valid))


def test_carve_loo_mirrors(synthetic):
    base = leave_one_out(synthetic)
    out = carve_validation(base, by="time")
    check_carved(base, out)
    np.testing.assert_array_equal(
        out.valid.user_counts(), (base.train.user_counts() >= 2).astype(int)
    )
    last = np.zeros(synthetic.n_users, np.int64)
    np.maximum.at(last, base.train.users, base.train.timestamps)
    np.testing.assert_array_equal(out.valid.timestamps, last[out.valid.users])
    assert out.meta["valid"]["mode"] == "leave-one-out"


def test_carve_temporal_global_cut(synthetic):
    base = temporal(synthetic, 0.8)
    out = carve_validation(base, 0.25, by="time")
    check_carved(base, out)
    assert out.valid.timestamps.min() > out.train.timestamps.max()
    assert out.valid.timestamps.max() < base.test.timestamps.min()
    assert abs(len(out.valid) - 0.25 * len(base.train)) <= 1
    plain = carve_validation(base, 0.25, by="time", mirror=False)
    assert plain.meta["valid"]["mode"] == "per-user"


def test_carve_cold_items_mirrors(synthetic):
    base = cold_items(synthetic, 0.2, 0.0)
    out = carve_validation(base, 0.1, seed=4)
    check_carved(base, out)
    assert not np.isin(out.train.items, out.valid_cold_items).any()
    np.testing.assert_array_equal(np.unique(out.valid.items), out.valid_cold_items)
    # with warm test records the valid part mirrors them: cold items whole plus warm records
    warm_base = cold_items(synthetic, 0.2, 0.2)
    warm = carve_validation(warm_base, 0.1, seed=4)
    check_carved(warm_base, warm)
    np.testing.assert_array_equal(warm.valid_cold_items, out.valid_cold_items)
    cold_valid = np.isin(warm.valid.items, warm.valid_cold_items)
    assert cold_valid.sum() == np.isin(warm_base.train.items, warm.valid_cold_items).sum()
    assert (~cold_valid).any() and warm.meta["valid"]["warm_test"] == 0.2
    warm.check_leakage().tuning().check_leakage()
    assert not np.isin(out.valid_cold_items, base.cold_items).any()
    tune = out.tuning()
    assert tune.test is out.valid and tune.valid is None
    np.testing.assert_array_equal(tune.cold_items, out.valid_cold_items)
    tune.check_leakage()


def test_carve_cold_users_mirrors_reveal(synthetic):
    base = cold_users(synthetic, 0.2, reveal=2, seed=0)
    out = carve_validation(base, 0.2, seed=0)
    assert out.test is base.test and out.revealed is base.revealed
    np.testing.assert_array_equal(out.valid_revealed.user_counts()[out.valid_cold_users], 2)
    assert not np.isin(out.train.users, out.valid_cold_users).any()
    np.testing.assert_array_equal(np.unique(out.valid.users), out.valid_cold_users)
    np.testing.assert_array_equal(sorted_keys(out.train_full()), sorted_keys(base.train))
    out.check_leakage()
    tune = out.tuning()
    np.testing.assert_array_equal(tune.cold_users, out.valid_cold_users)
    assert tune.revealed is out.valid_revealed


def test_carve_errors(synthetic):
    base = carve_validation(random_holdout(synthetic))
    with pytest.raises(ConfigError, match="already has a validation part"):
        carve_validation(base)
    with pytest.raises(ConfigError, match="ratio"):
        carve_validation(random_holdout(synthetic), 1.0)
    tiny = Interactions([0, 0], [0, 1], [1, 1], np.arange(1), np.arange(2), [1, 2])
    with pytest.raises(DataError, match="gives nothing"):
        carve_validation(Split(train=tiny, test=tiny.subset(np.array([], int))), 0.1)


def test_leakage_of_valid_cold_sets_detected(synthetic):
    s = carve_validation(cold_items(synthetic, 0.2))
    bad = replace(s, valid_cold_items=np.array([int(s.train.items[0])]))
    with pytest.raises(LeakageError, match="valid cold items"):
        bad.check_leakage()


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("random:0.8", ("random", {"train_ratio": 0.8})),
        ("random", ("random", {"train_ratio": 0.8})),
        ("loo", ("loo", {"by": "time"})),
        ("loo:time", ("loo", {"by": "time"})),
        ("LOO:random ", ("loo", {"by": "random"})),
        ("temporal:0.75", ("temporal", {"train_frac": 0.75})),
        ("cold-item:0.2", ("cold-item", {"frac": 0.2, "warm_test": 0.2})),
        ("cold-item:0.3:0", ("cold-item", {"frac": 0.3, "warm_test": 0.0})),
        ("cold-user:0.2", ("cold-user", {"frac": 0.2, "reveal": 0, "by": "time"})),
        ("cold-user:0.3:5", ("cold-user", {"frac": 0.3, "reveal": 5, "by": "time"})),
        ("cold-user:0.3:5:random", ("cold-user", {"frac": 0.3, "reveal": 5, "by": "random"})),
        ("fixed", ("fixed", {})),
    ],
)
def test_parse_spec(spec, expected):
    assert parse_spec(spec) == expected


@pytest.mark.parametrize(
    "spec,why",
    [
        ("", "unknown kind"),
        ("holdout:0.8", "unknown kind"),
        ("random:1.5", r"in \(0, 1\)"),
        ("random:x", "must be a number"),
        ("random:0.8:1", "at most 1"),
        ("loo:latest", "by must be"),
        ("cold-user:0.2:-1", "REVEAL"),
        ("cold-user:0.2:2.5", "REVEAL"),
        ("fixed:1", "at most 0"),
    ],
)
def test_parse_spec_errors(spec, why):
    with pytest.raises(ConfigError, match=why) as err:
        parse_spec(spec)
    assert repr(spec) in str(err.value) and "cold-user[:FRAC[:REVEAL[:time|:random]]]" in str(err.value)


@pytest.mark.parametrize("spec", SPECS)
def test_make_split_all_specs(synthetic, spec):
    s = make_split(synthetic, spec, seed=7)
    assert s.valid is not None and len(s.valid) > 0
    assert s.name == spec and s.meta["spec"] == spec and s.meta["seed"] == 7
    assert s.meta["params"] == parse_spec(spec)[1]
    all_parts = [s.train, s.valid, s.test, s.revealed, s.valid_revealed]
    keys = np.concatenate([p.pair_keys() for p in all_parts if p is not None])
    np.testing.assert_array_equal(np.sort(keys), sorted_keys(synthetic))  # a partition
    for p in all_parts:
        if p is not None:
            assert (p.n_users, p.n_items) == (synthetic.n_users, synthetic.n_items)
    again = make_split(synthetic, spec, seed=7)
    np.testing.assert_array_equal(again.valid.pair_keys(), s.valid.pair_keys())
    np.testing.assert_array_equal(again.test.pair_keys(), s.test.pair_keys())


def test_make_split_valid_orders(synthetic):
    assert make_split(synthetic, "loo").meta["valid"]["by"] == "time"
    assert make_split(synthetic, "temporal:0.8").meta["valid"]["mode"] == "global-time"
    assert make_split(synthetic, "loo:random").meta["valid"]["by"] == "random"
    assert make_split(synthetic, "random:0.8").meta["valid"]["by"] == "random"
    assert make_split(synthetic, "random:0.8", valid_ratio=0).valid is None
    with pytest.raises(ConfigError, match="valid_ratio"):
        make_split(synthetic, valid_ratio=1.0)


def test_make_split_fixed(synthetic, synthetic_split):
    with pytest.raises(ConfigError, match="fixed"):
        make_split(synthetic, "fixed")
    s = make_split(synthetic, "fixed", fixed=synthetic_split)
    assert s.test is synthetic_split.test and s.valid is not None
    assert s.meta["fixed_name"] == "synthetic-random" and s.name == "fixed"
    leaky = Split(train=synthetic, test=synthetic.subset(np.arange(3)))
    with pytest.raises(LeakageError):
        make_split(synthetic, "fixed", fixed=leaky, valid_ratio=0)


def test_make_split_refuses_duplicates():
    inter = Interactions([0, 0, 0], [1, 1, 2], [1, 1, 1], np.arange(1), np.arange(3), [1, 2, 3])
    with pytest.raises(DataError, match="deduplicate"):
        make_split(inter, "loo")
