"""Growing id spaces: Interactions.append_users / append_items / new_records, Split.grow / with_train."""

from __future__ import annotations

import numpy as np
import pytest
from contract import TableModel

from advrec.data import Interactions, Split
from advrec.data.splits import cold_items, load_split, make_split, save_split
from advrec.errors import DataError, LeakageError
from advrec.eval import evaluate, target_item_metrics


def test_append_users_keeps_indices_and_shares_records(synthetic: Interactions) -> None:
    g = synthetic.append_users([900, 901, 902], features={"gender": ["F", "M", "F"]})
    assert g.n_users == synthetic.n_users + 3 and len(g) == len(synthetic)
    np.testing.assert_array_equal(g.user_ids[: synthetic.n_users], synthetic.user_ids)
    assert g.user_ids[-3:].tolist() == [900, 901, 902]
    assert np.shares_memory(g.users, synthetic.users) and np.shares_memory(g.items, synthetic.items)
    uf = g.user_features
    assert list(uf.columns) == list(synthetic.user_features.columns) and len(uf) == g.n_users
    assert uf["gender"].tolist()[-3:] == ["F", "M", "F"] and uf["age"].iloc[-3:].isna().all()
    assert uf["age"].iloc[: synthetic.n_users].tolist() == synthetic.user_features["age"].tolist()
    bare = synthetic.append_users(np.array([7000, 7001]))
    assert bare.user_features.iloc[-2:].isna().all().all()
    assert synthetic.append_users([]) is synthetic and synthetic.append_items(np.array([], int)) is synthetic


def test_append_items_and_string_ids() -> None:
    inter = Interactions.from_records(["a", "b"], ["x", "y"])
    g = inter.append_items(["z"]).append_users(["c", "d"])
    assert g.item_ids.tolist() == ["x", "y", "z"] and g.user_ids.tolist() == ["a", "b", "c", "d"]
    assert g.item_features is None
    fake = g.new_records(["c", "d"], ["z", "x"], external=True)
    assert fake.users.tolist() == [2, 3] and fake.items.tolist() == [2, 0]
    both = g.concat(fake)
    assert both.binary_csr[3, 0] == 1 and len(both) == 4


def test_append_errors(synthetic: Interactions) -> None:
    with pytest.raises(DataError, match="new user id 105 is already in the user id space"):
        synthetic.append_users([900, 105])
    with pytest.raises(DataError, match="new item id 5000 is given more than once"):
        synthetic.append_items([5000, 5000])
    with pytest.raises(DataError, match="same kind"):
        synthetic.append_users(["fake-1"])
    with pytest.raises(DataError, match=r"columns \['income'\]"):
        synthetic.append_users([900], features={"income": [1.0]})
    with pytest.raises(DataError, match="2 rows for 1 new ids"):
        synthetic.append_users([900], features={"gender": ["F", "M"]})
    with pytest.raises(DataError, match="has rows but no new user ids"):
        synthetic.append_users([], features={"gender": ["F"]})
    plain = Interactions([0], [0], [1.0], np.arange(1), np.arange(1))
    with pytest.raises(DataError, match="no user_features table"):
        plain.append_users([5], features={"gender": ["F"]})


def test_new_records(synthetic: Interactions) -> None:
    g = synthetic.append_users([900])
    rec = g.new_records([900, 900], [1000, 1003], external=True)
    assert rec.users.tolist() == [g.n_users - 1] * 2 and rec.items.tolist() == [0, 3]
    assert rec.timestamps.tolist() == [int(synthetic.timestamps.max())] * 2  # the latest time
    assert rec.values.tolist() == [1.0, 1.0] and rec.n_users == g.n_users
    with pytest.raises(DataError, match="user id 901"):
        g.new_records([901], [1000], external=True)
    with pytest.raises(DataError, match="duplicate"):
        g.new_records([60, 60], [1, 1])
    plain = Interactions([0], [0], [1.0], np.arange(1), np.arange(2))
    with pytest.raises(DataError, match="timestamps given"):
        plain.new_records([0], [1], timestamps=[5])


def test_split_grow_and_with_train(synthetic: Interactions) -> None:
    split = make_split(synthetic, "cold-item:0.2:0.2", seed=0)
    assert split.grow() is split
    g = split.grow([900, 901], [5000], user_features={"gender": ["F", "M"]})
    for part in (g.train, g.valid, g.test):
        assert (part.n_users, part.n_items) == (split.n_users + 2, split.n_items + 1)
        assert part.user_ids is g.train.user_ids and part.user_features is g.train.user_features
    assert len(g.test) == len(split.test) and np.array_equal(g.cold_items, split.cold_items)
    assert g.meta["notes"] == ["grow: +2 users, +1 items"]
    fake = g.train.new_records([900, 900, 901], [1000, 5000, 5000], external=True)
    poisoned = g.with_train(g.train.concat(fake), note="poison: 2 fake users")
    n = len(split.train)
    assert poisoned.meta["notes"][-1] == f"poison: 2 fake users (train records {n} -> {n + 3})"
    assert poisoned.test is g.test
    with pytest.raises(DataError, match="grow the split"):
        split.with_train(g.train)
    with pytest.raises(LeakageError, match="train and test"):
        split.with_train(split.train.concat(split.test))
    cold = int(split.cold_items[0])
    with pytest.raises(LeakageError, match="cold items"):  # a fake user rating a cold item
        g.with_train(g.train.concat(g.train.new_records([g.n_users - 1], [cold])))


def test_grown_split_saves_and_loads(synthetic: Interactions, tmp_path) -> None:
    g = cold_items(synthetic, 0.2, 0.2).grow([900], [5000])
    back = load_split(save_split(g, tmp_path / "grown"))
    assert back.meta["notes"] == g.meta["notes"] and back.n_users == g.n_users
    np.testing.assert_array_equal(back.train.user_ids, g.train.user_ids)


def test_real_users_metrics_unchanged_by_growth(synthetic_split: Split) -> None:
    rng = np.random.default_rng(2)
    table = rng.integers(0, 4, (synthetic_split.n_users, synthetic_split.n_items)).astype(np.float32)
    base = evaluate(TableModel(table).fit(synthetic_split.train), synthetic_split.train, synthetic_split.test,
                    ks=(5,))
    n_fake = 5
    fake_table = np.vstack([table, rng.integers(0, 4, (n_fake, synthetic_split.n_items)).astype(np.float32)])
    grown = synthetic_split.grow(np.arange(n_fake) + 10_000)
    same = evaluate(TableModel(fake_table).fit(grown.train), grown.train, grown.test, ks=(5,))
    np.testing.assert_array_equal(same.users, base.users)
    for key in base.per_user:
        np.testing.assert_array_equal(same.per_user[key], base.per_user[key], err_msg=key)
    assert same.summary == base.summary
    # fake users with records: real users' accuracy is unchanged (only popularity-based values move)
    u = np.repeat(np.arange(n_fake) + synthetic_split.n_users, 3)
    fake = grown.train.new_records(u, np.tile([0, 1, 2], n_fake))
    poisoned = grown.with_train(grown.train.concat(fake), note="poison")
    model = TableModel(fake_table).fit(poisoned.train)
    after = evaluate(model, poisoned.train, poisoned.test, ks=(5,))
    for key in ("ndcg@5", "recall@5", "auc"):
        np.testing.assert_array_equal(after.per_user[key], base.per_user[key], err_msg=key)
    real = np.arange(synthetic_split.n_users)
    t_all = target_item_metrics(model, poisoned.train, [7], ks=(5,))
    t_real = target_item_metrics(model, poisoned.train, [7], ks=(5,), users=real)
    assert t_real.users.max() < synthetic_split.n_users < t_all.users.max()
    np.testing.assert_array_equal(t_real.per_user["hr@5"], t_all.per_user["hr@5"][: len(t_real.users)])
