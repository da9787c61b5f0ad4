"""attribute_report: metric means per gender, age group and occupation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from advrec.data import Interactions
from advrec.data.features import AGE_LABELS
from advrec.errors import ConfigError, DataError
from advrec.eval import EvalResult, attribute_report

FEATURES = pd.DataFrame({
    "gender": ["M", "F", "M", "F", "M", "F"],
    "age": [17, 25, 34, 50, 60, 9],
    "occupation": ["student", "writer", "student", None, "artist", "writer"],
})


def result() -> EvalResult:
    """Users 0, 1, 2, 3, 5 evaluated (user 4 not); user 3's value is undefined (NaN)."""
    v = np.array([0.1, 0.2, 0.3, np.nan, 0.5])
    return EvalResult(np.array([0, 1, 2, 3, 5]), {"ndcg@20": v}, {"ndcg@20": 0.275}, (20,), 6, 10)


def test_gender_hand_computed() -> None:
    rep = attribute_report(result(), FEATURES, "gender", "ndcg@20")
    assert rep["gender"].tolist() == ["F", "M"]
    assert rep["n_users"].tolist() == [3, 2]
    np.testing.assert_allclose(rep["share"], [3 / 5, 2 / 5])
    np.testing.assert_allclose(rep["ndcg@20"], [0.35, 0.2])  # F: mean(0.2, 0.5), NaN ignored


def test_age_groups_in_order_and_missing_values() -> None:
    rep = attribute_report(result(), FEATURES, "age", "ndcg@20")
    assert rep["age"].tolist() == ["<18", "25-34", "50-55"]  # 60 (user 4) is not evaluated
    assert rep["n_users"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(rep["ndcg@20"], [0.3, 0.25, np.nan])  # <18: users 0 (0.1) and 5 (0.5)
    raw = attribute_report(result(), FEATURES, "age", "ndcg@20", bucket_age=False)
    assert raw["age"].tolist() == [9, 17, 25, 34, 50]  # numbers in numeric order
    occ = attribute_report(result(), FEATURES, "occupation", "ndcg@20")
    assert occ["occupation"].tolist() == ["student", "writer", "missing"]
    assert occ["n_users"].tolist() == [2, 2, 1]
    np.testing.assert_allclose(occ["share"].sum(), 1.0)


def test_grown_users_report_missing_not_an_age_group() -> None:
    inter = Interactions([0], [0], [1.0], np.arange(6), np.arange(10), user_features=FEATURES)
    grown = inter.append_users([6, 7])
    res = EvalResult(np.array([0, 6, 7]), {"hr@20": np.array([1.0, 0.0, 0.0])}, {}, (20,), 8, 10)
    rep = attribute_report(res, grown, "age", "hr@20")
    assert rep["age"].tolist() == ["<18", "missing"]
    assert rep["n_users"].tolist() == [1, 2]


def test_errors() -> None:
    with pytest.raises(ConfigError, match=r"column 'zip'.*available columns: \['gender', 'age', 'occupation'\]"):
        attribute_report(result(), FEATURES, "zip", "ndcg@20")
    with pytest.raises(ConfigError, match="metric 'mrr@20'"):
        attribute_report(result(), FEATURES, "gender", "mrr@20")
    with pytest.raises(DataError, match="5 rows"):
        attribute_report(result(), FEATURES.iloc[:5], "gender", "ndcg@20")
    with pytest.raises(DataError, match="no user features"):
        attribute_report(result(), Interactions([0], [0], [1.0], np.arange(6), np.arange(10)), "gender", "ndcg@20")


def test_movielens_frames(shared_data) -> None:
    from advrec.data.datasets import load_dataset
    from advrec.data.movielens_side import read_users_dat

    users_1m = shared_data / "ml-1m" / "users.dat"
    frames = {"ml-100k": load_dataset("ml-100k").interactions.user_features}
    if users_1m.is_file():  # ratings.dat is not shared; the user table is
        frames["ml-1m"] = read_users_dat(users_1m).reset_index(drop=True)
    for name, table in frames.items():
        n = len(table)
        res = EvalResult(np.arange(n), {"ndcg@20": np.arange(n) % 2.0}, {}, (20,), n, 1)
        for column in ("gender", "age", "occupation"):
            rep = attribute_report(res, table, column, "ndcg@20")
            assert rep["n_users"].sum() == n, (name, column)
            assert "missing" not in rep[column].tolist()
        assert set(attribute_report(res, table, "gender", "ndcg@20")["gender"]) == {"F", "M"}
        ages = attribute_report(res, table, "age", "ndcg@20")["age"].tolist()
        assert ages == [g for g in AGE_LABELS if g in ages] and len(ages) >= 6, name
        assert len(attribute_report(res, table, "occupation", "ndcg@20")) == 21, name
    if "ml-1m" in frames:  # ML-1M age codes are their group's lower bound: one group per code
        codes = frames["ml-1m"]["age"].value_counts().sort_index()
        rep = attribute_report(EvalResult(np.arange(len(frames["ml-1m"])), {"m": np.zeros(len(frames["ml-1m"]))},
                                          {}, (20,), len(frames["ml-1m"]), 1), frames["ml-1m"], "age", "m")
        assert rep["n_users"].tolist() == codes.tolist()
