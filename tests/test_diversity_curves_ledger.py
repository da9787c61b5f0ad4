"""benchmarks/diversity_curves.py keeps a ledger: rows measured once are reused by a rerun."""

from __future__ import annotations

import json

import pytest
from conftest import load_script, make_synthetic


@pytest.fixture
def script(monkeypatch):
    mod = load_script("diversity_curves")
    monkeypatch.setattr(mod, "LAMBDAS", (1.0, 0.5))
    return mod


def test_rerun_reuses_the_ledger_and_fresh_rows_are_appended(script, tmp_path, monkeypatch):
    path = tmp_path / "ratings.csv"
    make_synthetic().to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    ledger = tmp_path / "out.jsonl"
    first = script.run(str(path), [0], "bpr", 5, 10, ledger=ledger)
    assert len(first) == 4 and {tuple(r) for r in first[["method", "lambda"]].to_numpy()} == {
        ("mmr", 1.0), ("mmr", 0.5), ("dpp", 1.0), ("dpp", 0.5)}
    assert len(ledger.read_text().splitlines()) == 4

    def refuse(*args, **kwargs):
        raise AssertionError("a row in the ledger was measured again")

    monkeypatch.setattr(script, "evaluate_reranked", refuse)
    again = script.run(str(path), [0], "bpr", 5, 10, ledger=ledger)
    assert again.equals(first)
    # another cutoff is another measurement: its rows are not taken from the ledger
    with pytest.raises(AssertionError, match="measured again"):
        script.run(str(path), [0], "bpr", 3, 10, ledger=ledger)
    rows = [json.loads(line) for line in ledger.read_text().splitlines()]
    assert {(r["model"], r["k"], r["candidates"]) for r in rows} == {("bpr", 5, 10)}


def test_paired_table_reads_each_seeds_curve_at_the_cost(script):
    import pandas as pd

    rows = []
    for seed in range(3):
        for method, gain in (("mmr", 1.0), ("pdgan", 2.0 + seed)):
            # ndcg falls 10 % from lambda 1 to 0; ILD rises by `gain` per unit of relative cost
            rows += [{"seed": seed, "method": method, "lambda": lam, "ndcg@20": 1.0 - 0.1 * (1 - lam),
                      "ild@20": 0.5 + gain * 0.1 * (1 - lam)} for lam in (1.0, 0.5, 0.0)]
    lines = script.paired_at_cost(pd.DataFrame(rows), 20, ["mmr", "pdgan"])
    mmr = next(line for line in lines if line.startswith("| mmr"))
    pdgan = next(line for line in lines if line.startswith("| pdgan"))
    assert "0.5200 ± 0.0000" in mmr and "0.5500 ± 0.0000" in mmr  # 0.5 + 1 x cost
    assert "0.5600 ± 0.0200" in pdgan  # 0.5 + (2, 3, 4) x 0.02
    assert "+0.0400 (p 0.074)" in mmr  # differences 0.02, 0.04, 0.06: t = 2 sqrt 3, df 2
    assert script.paired_at_cost(pd.DataFrame(rows), 20, ["mmr"]) == []  # nothing to compare without pdgan
