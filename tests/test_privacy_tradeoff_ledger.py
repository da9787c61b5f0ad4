"""benchmarks/privacy_tradeoff.py: the committed ledger that carries finished rows across sessions."""

from __future__ import annotations

import json

import pytest
from conftest import load_script

pt = load_script("privacy_tradeoff")
ATTRS = ["gender", "age"]


def _row(w: float, seed: int) -> dict:
    return {"kind": "test", "model": "bpr", "weight": w, "seed": seed, "ndcg@20": 0.4 - w / 10,
            "gender_auc": 0.7, "age_auc": 0.6, "gender_lists_auc": 0.6, "age_lists_auc": 0.55,
            "gender_raw_auc": 0.8, "age_raw_auc": 0.7}


def test_logged_rows_are_reused_and_only_the_missing_ones_run(tmp_path, monkeypatch):
    ledger = pt.Ledger(tmp_path / "page.jsonl")
    ledger.add(_row(0.0, 0))
    ran = []

    def fake_train(model, data, *, seed, params, evaluations, out):
        ran.append((params.get("adv_weight", 0.0), seed))
        audit = {a: {"auc": 0.5, "sources": {"recommendations": {"lr": {"auc": 0.52}}, "raw": {}}} for a in ATTRS}
        record = {"evaluations": {"privacy": audit}, "metrics": {"ndcg@20": 0.3}}
        return type("Result", (), {"record": record})()

    monkeypatch.setattr(pt, "train_and_evaluate", fake_train)
    monkeypatch.setattr(pt, "default_params", lambda model, data: {})
    rows = pt.test_runs("bpr", "toy", [0.0, 1.0], [0], ["gender"], ATTRS, tmp_path / "cache", ledger)
    assert ran == [(1.0, 0)]  # weight 0 came from the ledger
    assert [r["ndcg@20"] for r in rows] == [0.4, 0.3]
    # a new session reads both rows back from the file and runs nothing
    again = pt.Ledger(tmp_path / "page.jsonl")
    assert again.get("test", "bpr", 1.0, 0)["gender_lists_auc"] == 0.52
    ran.clear()
    pt.test_runs("bpr", "toy", [0.0, 1.0], [0], ["gender"], ATTRS, tmp_path / "cache", again)
    assert ran == []
    # --fresh ignores the file
    assert pt.Ledger(tmp_path / "page.jsonl", fresh=True).rows == {}


def test_validation_sweep_is_reused_only_for_the_same_weights(tmp_path):
    ledger = pt.Ledger(tmp_path / "page.jsonl")
    rows = [{"weight": 0.0, "ndcg@20": 0.2, "gender_auc": 0.75}, {"weight": 1.0, "ndcg@20": 0.195, "gender_auc": 0.54}]
    ledger.add({"kind": "validation", "model": "bpr", "rows": rows})
    got = pt.choose_weight("bpr", "toy", [0.0, 1.0], ["gender"], tmp_path / "cache", ledger)
    assert got["chosen"] == 1.0 and got["rows"] == rows
    # another grid must be measured: here a saved run-folder sweep answers it and enters the ledger
    other = [{"weight": 0.0, "ndcg@20": 0.2, "gender_auc": 0.75}, {"weight": 3.0, "ndcg@20": 0.1, "gender_auc": 0.6}]
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "bpr-validation.json").write_text(json.dumps({"rows": other}))
    got = pt.choose_weight("bpr", "toy", [0.0, 3.0], ["gender"], tmp_path / "cache", ledger)
    assert got["chosen"] == 3.0 and ledger.get("validation", "bpr")["rows"] == other


def test_a_damaged_line_names_the_file_and_line(tmp_path):
    f = tmp_path / "page.jsonl"
    f.write_text(json.dumps(_row(0.0, 0)) + "\n{not json\n")
    with pytest.raises(SystemExit, match=r"page\.jsonl:2: not a ledger row"):
        pt.Ledger(f)


def test_two_processes_add_to_one_ledger_without_losing_rows(tmp_path):
    a, b = pt.Ledger(tmp_path / "page.jsonl"), pt.Ledger(tmp_path / "page.jsonl")
    a.add(_row(0.0, 0))
    b.add({**_row(0.0, 0), "model": "lightgcn"})  # b never saw a's row in memory
    both = pt.Ledger(tmp_path / "page.jsonl")
    assert both.get("test", "bpr", 0.0, 0) is not None and both.get("test", "lightgcn", 0.0, 0) is not None
