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
