"""benchmarks/augment_report.py: each augmentation against the plain fit and against each other, paired."""

from __future__ import annotations

import numpy as np
import pandas as pd
from conftest import load_script
from scipy import stats

ar = load_script("augment_report")

USERS = np.arange(40)


def _frame(shift: dict[str, float], model: str = "bpr") -> pd.DataFrame:
    """Two seeds per augmentation; per-user values = a user effect + the augmentation's shift + seed noise."""
    rng = np.random.default_rng(0)
    base = rng.uniform(0.1, 0.5, len(USERS))
    rows = []
    for aug, delta in shift.items():
        for seed in (0, 1):
            noise = rng.normal(0.0, 0.02, len(USERS))
            rows.append({"dataset": "toy", "model": model, "aug": aug, "seed": seed,
                         "values": pd.Series(base + delta + noise, index=USERS)})
    return pd.DataFrame(rows)


def _user_mean(frame: pd.DataFrame, aug: str) -> np.ndarray:
    return np.mean([v.to_numpy() for v in frame[frame.aug == aug]["values"]], axis=0)


def test_between_compares_the_first_augmentation_with_each_later_one() -> None:
    frame = _frame({"none": 0.0, "aug-gan": 0.03, "aug-noadv": 0.03, "aug-ease": -0.05})
    table = ar.between(frame)
    assert list(table.other) == ["aug-noadv", "aug-ease"]
    assert set(table["first"]) == {"aug-gan"}
    gan = _user_mean(frame, "aug-gan")
    for _, row in table.iterrows():
        other = _user_mean(frame, row.other)
        assert abs(row["diff"] - (gan - other).mean()) < 1e-12
        assert abs(row["p_t"] - stats.ttest_rel(gan, other).pvalue) < 1e-12
        assert abs(row["rel"] - (gan - other).mean() / other.mean()) < 1e-12
        assert row["n_users"] == len(USERS)
    noadv, ease = table.set_index("other").loc["aug-noadv"], table.set_index("other").loc["aug-ease"]
    assert ease["diff"] > 0.07 and ease["p_t"] < 0.01  # a real gap is found
    assert abs(noadv["diff"]) < 0.02 and noadv["p_t"] > 0.01  # equal shifts are not called different


def test_between_needs_two_augmentations_and_keeps_models_apart() -> None:
    assert len(ar.between(_frame({"none": 0.0, "aug-gan": 0.01}))) == 0
    frame = pd.concat([_frame({"none": 0.0, "aug-gan": 0.02, "aug-ease": 0.0}, "bpr"),
                       _frame({"none": 0.0, "aug-gan": -0.02, "aug-ease": 0.0}, "ease")])
    table = ar.between(frame).set_index("model")
    assert table.loc["bpr", "diff"] > 0 > table.loc["ease", "diff"]


def test_the_page_shows_the_between_table_with_marks() -> None:
    frame = _frame({"none": 0.0, "aug-gan": 0.03, "aug-ease": -0.05})
    lines = ar._between_lines(ar.between(frame), "sparse", "ndcg@20")
    assert lines[0] == "### sparse: ndcg@20, aug-gan against the other augmentations"
    row = next(line for line in lines if line.startswith("| toy | bpr |"))
    assert "t**" in row and "W**" in row and row.count("|") == 4
    assert ar._between_lines(pd.DataFrame(), "test", "ndcg@20") == []
