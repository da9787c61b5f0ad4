import numpy as np
import pytest

from advrec.data import Interactions, Split
from advrec.errors import DataError, LeakageError


def test_encoding_and_csr():
    inter = Interactions.from_records(["b", "a", "a"], [20, 10, 20], [3, 4, 5])
    assert list(inter.user_ids) == ["a", "b"]
    assert list(inter.item_ids) == [10, 20]
    np.testing.assert_array_equal(inter.csr.toarray(), [[4, 5], [0, 3]])
    np.testing.assert_array_equal(inter.binary_csr.toarray(), [[1, 1], [0, 1]])


def test_immutable():
    inter = Interactions.from_records([1, 2], [1, 2])
    with pytest.raises(ValueError):
        inter.users[0] = 5
    with pytest.raises(AttributeError):
        inter.name = "x"  # type: ignore[misc]


@pytest.mark.parametrize(
    "policy,expected",
    [("first", [1.0, 3.0]), ("last", [2.0, 3.0]), ("sum", [3.0, 3.0]), ("max", [2.0, 3.0])],
)
def test_duplicate_policies(policy, expected):
    inter = Interactions.from_records(["a", "a", "b"], [1, 1, 2], [1, 2, 3], duplicates=policy)
    assert sorted(inter.values.tolist()) == sorted(expected)
    assert len(inter) == 2


def test_duplicate_last_uses_timestamps():
    inter = Interactions.from_records(["a", "a"], [1, 1], [1, 2], [50, 10], duplicates="last")
    assert inter.values.tolist() == [1.0]


def test_duplicates_error_names_pair():
    with pytest.raises(DataError, match=r"\(a, 1\)"):
        Interactions.from_records(["a", "a"], [1, 1])


def test_fixed_vocabulary_rejects_unknown_ids():
    with pytest.raises(DataError, match="item id 9"):
        Interactions.from_records([1], [9], item_ids=np.array([1, 2]))


def test_nan_values_rejected():
    with pytest.raises(DataError, match="non-finite"):
        Interactions.from_records([1, 2], [1, 2], [1.0, float("nan")])


def test_kcore_and_compact(synthetic):
    core = synthetic.kcore(5)
    assert core.user_counts().min() >= 5
    assert core.item_counts().min() >= 5
    assert core.n_users == len(core.active_users())
    assert len(core.user_features) == core.n_users


def test_implicit_threshold(synthetic):
    imp = synthetic.implicit(4)
    assert (imp.values == 1).all()
    assert len(imp) == int((synthetic.values >= 4).sum())


def test_split_leakage_check(synthetic):
    half = synthetic.subset(np.arange(len(synthetic)) % 2 == 0)
    with pytest.raises(LeakageError, match="both train and test"):
        Split(train=synthetic, test=half).check_leakage()
    other = synthetic.subset(np.arange(len(synthetic)) % 2 == 1)
    Split(train=half, test=other).check_leakage()
    cold = np.array([synthetic.items[0]])
    with pytest.raises(LeakageError, match="cold items"):
        Split(train=half, test=other, cold_items=cold).check_leakage()


def test_split_tuning_requires_valid(synthetic_split):
    with pytest.raises(LeakageError, match="no validation"):
        synthetic_split.tuning()
