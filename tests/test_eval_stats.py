"""Significance tests, multi-seed comparison, formatting and group reports on known vectors."""

from __future__ import annotations

import math

import numpy as np
import pytest

from advrec.data import Interactions
from advrec.errors import ConfigError
from advrec.eval import (
    EvalResult,
    compare,
    format_mean_std,
    group_report,
    mean_std,
    paired_test,
    significance_mark,
)


def test_paired_test_known_vectors() -> None:
    # d = a - b = [1,2,3,4,5]: mean 3, sd sqrt(2.5), t = 3 / (sqrt(2.5)/sqrt(5)) = 3 * sqrt(2) = 4.2426
    # Wilcoxon: all 5 differences positive -> W = min(W+, W-) = 0, exact two-sided p = 2 / 2**5 = 0.0625
    a = np.array([1.0, 2, 3, 4, 5]) + 10
    b = np.full(5, 10.0)
    r = paired_test(a, b)
    assert r["n"] == 5 and r["mean_diff"] == pytest.approx(3.0)
    assert r["mean_a"] == pytest.approx(13.0) and r["mean_b"] == pytest.approx(10.0)
    assert r["t"] == pytest.approx(3 * math.sqrt(2))
    assert 0.01 < r["p_t"] < 0.05  # t = 4.24 with 4 df: p = 0.0132
    assert r["p_t"] == pytest.approx(0.01324, abs=1e-4)
    assert r["wilcoxon"] == 0.0 and r["p_wilcoxon"] == pytest.approx(0.0625)


def test_paired_test_zero_differences_nan_and_shape() -> None:
    r = paired_test([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert (r["t"], r["p_t"], r["wilcoxon"], r["p_wilcoxon"], r["mean_diff"]) == (0.0, 1.0, 0.0, 1.0, 0.0)
    r = paired_test([1.0, np.nan, 3.0, 4.0], [0.0, 1.0, np.inf, 2.0])  # keeps pairs 0 and 3
    assert r["n"] == 2 and r["mean_diff"] == pytest.approx(1.5)
    r = paired_test([1.0], [0.0])
    assert r["n"] == 1 and math.isnan(r["p_t"]) and math.isnan(r["p_wilcoxon"])
    with pytest.raises(ConfigError, match="a has 2 values but b has 3"):
        paired_test([1, 2], [1, 2, 3])


def _res(users: list[int], values: list[float]) -> EvalResult:
    v = np.array(values)
    return EvalResult(np.array(users), {"ndcg@20": v}, {"ndcg@20": float(v.mean())}, (20,), 10, 5)


def test_compare_over_seeds_and_users() -> None:
    a = [_res([0, 1, 2], [0.5, 0.7, 0.9]), _res([0, 1, 2, 3], [0.3, 0.5, 0.7, 0.1])]
    b = [_res([0, 1, 2], [0.4, 0.6, 0.8]), _res([3, 2, 1], [0.2, 0.5, 0.4])]  # any user order
    out = compare(a, b, "ndcg@20")
    assert out["n_seeds"] == 2
    # seeds: a means [0.7, 0.4], b means [0.6, 11/30]
    assert out["over_seeds"]["n"] == 2
    assert out["over_seeds"]["mean_diff"] == pytest.approx(((0.7 - 0.6) + (0.4 - 11 / 30)) / 2)
    # users in every run: {1, 2}; a: user1 (0.7+0.5)/2 = 0.6, user2 (0.9+0.7)/2 = 0.8
    #                               b: user1 (0.6+0.4)/2 = 0.5, user2 (0.8+0.5)/2 = 0.65
    u = out["over_users"]
    assert u["n"] == 2
    assert u["mean_a"] == pytest.approx(0.7) and u["mean_b"] == pytest.approx(0.575)
    with pytest.raises(ConfigError, match="same non-zero number"):
        compare(a, b[:1], "ndcg@20")
    with pytest.raises(ConfigError, match="'recall@20' not in results"):
        compare(a, b, "recall@20")


def test_mean_std_and_marks() -> None:
    assert mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    m, s = mean_std([4.0])
    assert m == 4.0 and math.isnan(s)
    assert [significance_mark(p) for p in (0.004, 0.01, 0.03, 0.05, 0.2, float("nan"), None)] == [
        "**", "*", "*", "", "", "", ""
    ]
    assert significance_mark(0.0005, levels=((0.001, "***"), (0.05, "*"))) == "***"
    assert format_mean_std([1.0, 2.0, 3.0], digits=2, p=0.001) == "2.00 ± 1.00**"
    assert format_mean_std([0.5], digits=1) == "0.5"


def test_group_report_quantiles() -> None:
    # train sizes (distinct items): users 0..7 have 1,1,2,3,4,5,8,9 items; user 8 has 3 but is not evaluated
    sizes = [1, 1, 2, 3, 4, 5, 8, 9, 3]
    u = np.repeat(np.arange(9), sizes)
    i = np.concatenate([np.arange(s) for s in sizes])
    train = Interactions(u, i, np.ones(len(u), np.float32), np.arange(9), np.arange(10), name="train")
    users = np.arange(8)
    vals = np.array([0.0, 0.2, 0.4, 0.6, 0.1, 0.3, 0.5, np.nan])
    res = EvalResult(users, {"ndcg@20": vals}, {}, (20,), 9, 10)
    rep = group_report(res, train, n_groups=2)
    # median of [1,1,2,3,4,5,8,9] = 3.5 -> edges [1, 3.5, 9]; group 0 = users 0..3, group 1 = users 4..7
    assert rep["lo"].tolist() == [1.0, 3.5] and rep["hi"].tolist() == [3.5, 9.0]
    assert rep["n_users"].tolist() == [4, 4]
    assert rep["mean_train_size"].tolist() == pytest.approx([7 / 4, 26 / 4])
    assert rep["ndcg@20"].tolist() == pytest.approx([0.3, 0.3])  # NaN ignored: (0.1+0.3+0.5)/3
    # heavy ties collapse repeated edges: sizes all 1 for users 0,1 -> one group
    one = group_report(EvalResult(np.array([0, 1]), {"ndcg@20": np.array([0.2, 0.4])}, {}, (20,), 9, 10), train)
    assert len(one) == 1 and one["n_users"].tolist() == [2] and one["ndcg@20"][0] == pytest.approx(0.3)
    with pytest.raises(ConfigError, match="'mrr@5' not in per-user"):
        group_report(res, train, metric="mrr@5")
