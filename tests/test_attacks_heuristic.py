"""The heuristic shilling attacks: profile shapes, encodings, popularity, determinism, and the
random attack's output against the algorithm it had before the attacks moved to advrec.robust."""

from __future__ import annotations

import numpy as np
import pytest

from advrec.data import Interactions, Split
from advrec.errors import ConfigError
from advrec.experiments.data_stages import make_stage
from advrec.robust.attacks import ATTACKS

KINDS = ["inject-random", "inject-average", "inject-bandwagon", "inject-popular"]


def _implicit(split: Split) -> Split:
    ones = split.train.with_values(np.ones(len(split.train), np.float32))
    return Split(train=ones, test=split.test, name=split.name)


def _attack(split: Split, kind: str, seed: int = 0, **params):
    """(fake records as a users x items value matrix with NaN for none, the stage record)."""
    out, record = make_stage("poison", kind, params).apply(split, seed)
    n_real = record["n_real_users"]
    fake = out.train.subset(out.train.users >= n_real)
    mat = np.full((record["n_fake_users"], out.n_items), np.nan)
    mat[fake.users - n_real, fake.items] = fake.values
    assert len(fake) == record["records_added"] == np.isfinite(mat).sum()  # no item twice in a profile
    return mat, record


def _popular_order(train: Interactions, targets: list[int]) -> np.ndarray:
    counts = train.item_counts()
    items = np.setdiff1d(np.flatnonzero(counts), targets)
    return items[np.argsort(-counts[items], kind="stable")]


def test_every_heuristic_attack_is_registered():
    assert set(KINDS) <= set(ATTACKS)


@pytest.mark.parametrize("implicit", [False, True], ids=["explicit", "implicit"])
@pytest.mark.parametrize("kind", KINDS)
def test_profiles_have_the_targets_at_the_top_and_distinct_fillers(synthetic_split, kind, implicit):
    split = _implicit(synthetic_split) if implicit else synthetic_split
    mat, record = _attack(split, kind, n_fake=7, filler=6, targets=3)
    targets = record["target_index"]
    values = split.train.values
    assert mat.shape[0] == 7 and record["implicit"] is implicit and record["craft_seconds"] >= 0
    assert np.all(mat[:, targets] == values.max())  # every fake user rates every target at the top
    rated = np.isfinite(mat)
    rated[:, targets] = False
    assert np.all(rated.sum(axis=1) == 6)  # exactly `filler` other items, none of them a target
    assert set(np.flatnonzero(rated.any(axis=0))) <= set(split.train.active_items())
    fill = mat[rated]
    if implicit:
        assert np.all(fill == 1.0)  # a profile is a set of items
    else:
        assert np.all((fill >= values.min()) & (fill <= values.max()) & (fill == np.rint(fill)))


@pytest.mark.parametrize("kind", KINDS)
def test_the_same_seed_gives_the_same_profiles(synthetic_split, kind):
    a, ra = _attack(synthetic_split, kind, seed=3, n_fake=5, filler=5)
    b, rb = _attack(synthetic_split, kind, seed=3, n_fake=5, filler=5)
    np.testing.assert_array_equal(a, b)
    assert ra["target_index"] == rb["target_index"]
    if kind != "inject-popular":  # popular profiles hold the same items whatever the seed
        c, _ = _attack(synthetic_split, kind, seed=4, n_fake=5, filler=5)
        assert not np.array_equal(np.isfinite(a), np.isfinite(c))


def test_bandwagon_puts_the_most_popular_items_at_the_top_in_every_profile(synthetic_split):
    mat, record = _attack(synthetic_split, "inject-bandwagon", n_fake=30, filler=10, selected=3)
    top3 = _popular_order(synthetic_split.train, record["target_index"])[:3]
    assert np.all(mat[:, top3] == synthetic_split.train.values.max())
    # the other fillers are random: beyond the selected items, the fake users' items differ
    rest = np.isfinite(mat)
    rest[:, np.concatenate([top3, record["target_index"]])] = False
    assert len({tuple(np.flatnonzero(r)) for r in rest}) > 1
    assert record["params"]["selected"] == 3


def test_bandwagon_selects_a_tenth_of_the_fillers_by_default(synthetic_split):
    mat, record = _attack(synthetic_split, "inject-bandwagon", n_fake=20, filler=20)
    order = _popular_order(synthetic_split.train, record["target_index"])
    assert np.all(np.isfinite(mat[:, order[:2]]))
    # only the two selected items are in every profile at the top value
    assert not np.all(mat[:, order[2]] == synthetic_split.train.values.max())


def test_popular_profiles_are_made_of_popular_items_only(synthetic_split):
    train = synthetic_split.train
    mat, record = _attack(synthetic_split, "inject-popular", n_fake=10, filler=8)
    order = _popular_order(train, record["target_index"])
    rated = np.isfinite(mat)
    rated[:, record["target_index"]] = False
    assert np.all(rated[:, order[:8]]) and not rated[:, order[8:]].any()  # exactly the 8 most popular
    # explicit values: low + 1 for items rated at or above the global mean on average, low below it
    sums = np.bincount(train.items, weights=train.values, minlength=train.n_items)
    means = sums / np.maximum(train.item_counts(), 1)
    low = train.values.min()
    expected = np.where(means[order[:8]] >= train.values.mean(), low + 1, low)
    np.testing.assert_array_equal(mat[:, order[:8]], np.broadcast_to(expected, (10, 8)))

    wide, rec = _attack(synthetic_split, "inject-popular", n_fake=40, filler=4, pool=12)
    used = np.flatnonzero(np.isfinite(wide).any(axis=0))
    assert set(used) <= set(order[:12]) | set(rec["target_index"]) and len(used) > 4 + len(rec["target_index"])


def _constant_items(n_users: int = 40, n_items: int = 30, seed: int = 0) -> Split:
    """Every item always gets the same rating (1-5 by item), popularity falling with the index."""
    rng = np.random.default_rng(seed)
    pop = np.linspace(0.9, 0.05, n_items)
    u, i = np.nonzero(rng.random((n_users, n_items)) < pop[None, :])
    rating = (np.arange(n_items) % 5 + 1).astype(np.float32)
    inter = Interactions.from_records(u, i, rating[i], name="const",
                                      user_ids=np.arange(n_users), item_ids=np.arange(n_items))
    return Split(train=inter, test=inter.subset(np.zeros(len(inter), bool)), name="const")


def test_average_rates_each_filler_around_its_own_mean():
    split = _constant_items()
    mat, _ = _attack(split, "inject-average", n_fake=20, filler=10, target_items=[29])
    rating = np.arange(split.n_items) % 5 + 1
    rows, cols = np.nonzero(np.isfinite(mat))
    keep = cols != 29
    np.testing.assert_array_equal(mat[rows[keep], cols[keep]], rating[cols[keep]])  # std 0: exactly the mean


def test_implicit_average_draws_fillers_by_popularity_and_random_does_not():
    split = _implicit(_constant_items())
    counts = split.train.item_counts()
    items = np.setdiff1d(split.train.active_items(), [29])
    freq = {}
    for kind in ("inject-average", "inject-random"):
        mat, _ = _attack(split, kind, n_fake=400, filler=5, target_items=[29])
        freq[kind] = np.isfinite(mat[:, items]).mean(axis=0)
    # popular items are chosen far more often by the average attack; uniformly by the random one
    assert np.corrcoef(freq["inject-average"], counts[items])[0, 1] > 0.9
    assert abs(np.corrcoef(freq["inject-random"], counts[items])[0, 1]) < 0.5
    assert np.ptp(freq["inject-random"]) < np.ptp(freq["inject-average"]) / 2


def _old_random_attack(split: Split, seed: int, fraction: float, filler: int, targets: int) -> dict:
    """The random attack as data_stages.py had it before the attacks moved (first principles)."""
    train = split.train
    rng = np.random.default_rng([seed, 0x5A17])
    counts = train.item_counts()
    active = np.flatnonzero(counts)
    order = active[np.argsort(counts[active], kind="stable")]
    tgt = np.sort(rng.choice(order[: len(order) // 2], targets, replace=False))
    n_fake = max(1, round(fraction * len(train.active_users())))
    pool = np.setdiff1d(active, tgt)
    keys = rng.random((n_fake, len(pool)))
    fill = pool[np.argpartition(keys, filler - 1, axis=1)[:, :filler]]
    drawn = rng.normal(float(train.values.mean()), float(train.values.std()), fill.shape)
    values = np.clip(np.rint(drawn), train.values.min(), train.values.max())
    mat = np.full((n_fake, train.n_items), np.nan)
    mat[:, tgt] = train.values.max()
    mat[np.arange(n_fake)[:, None], fill] = values
    return {"mat": mat, "targets": tgt.tolist()}


@pytest.mark.parametrize("seed", [0, 5])
def test_the_random_attack_is_unchanged(synthetic_split, seed):
    mat, record = _attack(synthetic_split, "inject-random", seed=seed, fraction=0.2, filler=4, targets=2)
    old = _old_random_attack(synthetic_split, seed, 0.2, 4, 2)
    assert record["target_index"] == old["targets"]
    np.testing.assert_array_equal(mat, old["mat"])


@pytest.mark.parametrize(("kind", "params", "message"), [
    ("inject-bandwagon", {"filler": 3, "selected": 4}, "selected"),
    ("inject-popular", {"filler": 5, "pool": 4}, "pool"),
])
def test_inconsistent_attack_parameters_are_refused(kind, params, message):
    with pytest.raises(ConfigError, match=message):
        make_stage("poison", kind, params)


def test_a_popular_pool_larger_than_the_items_is_refused(synthetic_split):
    with pytest.raises(ConfigError, match="pool=500"):
        _attack(synthetic_split, "inject-popular", filler=3, pool=500)
