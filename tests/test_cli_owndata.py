"""A new user's own files on the command line: one test per case, on small files the tests write."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import make_synthetic

from advrec.cli import main
from advrec.data.autodetect import sniff_split_format
from advrec.experiments.fallback import plan_defaults


@pytest.fixture
def fixed_split(tmp_path):
    """A MovieLens-like published split (tab-separated user, item, rating, time) named X.train / X.test."""
    frame = make_synthetic(n_users=40, n_items=30, seed=5).to_frame(external=True)
    test = np.random.default_rng(0).random(len(frame)) < 0.2
    for part, rows in (("train", frame[~test]), ("test", frame[test])):
        rows.to_csv(tmp_path / f"X.{part}", sep="\t", header=False, index=False)
    return tmp_path / "X.train", tmp_path / "X.test", frame, test


def _json(capsys) -> dict:
    out = capsys.readouterr().out
    return json.loads(out)


def test_fixed_split_of_any_names(fixed_split, tmp_path, capsys):
    train, test, frame, is_test = fixed_split
    assert main(["data", "info", "--train", str(train), "--test", str(test), "--json"]) == 0
    info = _json(capsys)
    assert info["name"] == "X"
    assert info["records"] == len(frame)
    assert info["split"]["train"]["records"] == int((~is_test).sum())
    assert info["timestamps"] is True
    assert main(["train", "pop", "--train", str(train), "--test", str(test), "--json",
                 "--out", str(tmp_path / "m")]) == 0
    rec = _json(capsys)
    assert rec["dataset"] == "X" and rec["split"] == "fixed"
    assert rec["n_test_users"] == len(np.unique(frame["user"][is_test]))


def test_implicit_threshold(fixed_split, capsys):
    train, test, frame, is_test = fixed_split
    assert main(["data", "info", "--train", str(train), "--test", str(test), "--implicit-threshold", "4",
                 "--json"]) == 0
    info = _json(capsys)
    assert info["records"] == int((frame["value"] >= 4).sum())
    assert info["values"]["implicit"] is True
    assert info["split"]["test"]["records"] == int(((frame["value"] >= 4) & is_test).sum())


def test_header_and_duplicate_pairs(tmp_path, capsys):
    path = tmp_path / "my ratings.csv"
    path.write_text("userId,movieId,rating,timestamp\n1,10,4.0,100\n1,11,2.0,100\n1,10,5.0,101\n2,11,3.0,102\n")
    assert main(["data", "info", str(path)]) == 2
    err = capsys.readouterr().err
    assert "my ratings.csv line 4" in err and "first on line 2" in err and "--duplicates" in err
    assert main(["data", "info", str(path), "--duplicates", "max", "--json"]) == 0
    info = _json(capsys)
    assert info["records"] == 3 and info["values"]["max"] == 5.0
    assert main(["data", "info", str(path), "--duplicates", "first", "--json"]) == 0
    assert _json(capsys)["values"]["histogram"] == {"2.0": 1, "3.0": 1, "4.0": 1}


def test_headerless_tsv_and_columns(tmp_path, capsys):
    path = tmp_path / "plays"
    path.write_text("7\tA\t3\n8\tB\t1\n7\tB\t2\n")
    assert main(["data", "info", str(path), "--json"]) == 0
    info = _json(capsys)
    assert (info["records"], info["users"], info["items"]) == (3, 2, 2)
    assert info["values"]["max"] == 3.0 and "columns user,item,rating" in info["description"]
    assert main(["data", "info", str(path), "--columns", "item,user,-", "--json"]) == 0
    info = _json(capsys)
    assert (info["users"], info["items"], info["values"]["implicit"]) == (2, 2, True)
    assert main(["data", "info", str(path), "--columns", "user,item,rating,timestamp"]) == 2
    err = capsys.readouterr().err
    assert "plays line 1" in err and "expected 4" in err and "--columns" in err


def test_one_line_per_user(tmp_path, capsys):
    path = tmp_path / "baskets.txt"
    path.write_text("0 5 6 7\n1 5\n2 6 8\n")
    assert main(["data", "info", str(path), "--json"]) == 0
    info = _json(capsys)
    assert (info["records"], info["users"], info["items"]) == (6, 3, 4)
    ambiguous = tmp_path / "two_each.txt"
    ambiguous.write_text("0 5 6\n1 5 7\n")
    assert main(["data", "info", str(ambiguous)]) == 2
    assert "--columns user,items" in capsys.readouterr().err
    assert main(["data", "info", str(ambiguous), "--columns", "user,items", "--json"]) == 0
    assert _json(capsys)["records"] == 4


def test_malformed_line_is_reported_as_such(tmp_path, capsys):
    for name, text, line in (("pairs.txt", "0 1\n0 2\n1 x\n1 3\n", 3), ("lines.txt", "0 1 2 3\n1 2\n2 3 ? 4\n", 3)):
        path = tmp_path / name
        path.write_text(text)
        assert main(["data", "info", str(path)]) == 2
        err = capsys.readouterr().err
        assert f"{name} line {line}" in err and "cannot tell" not in err
    folder = tmp_path / "ds"
    folder.mkdir()
    (folder / "train.txt").write_text("0 1\n1 2\n0 3\n2 1\n1 4\n")  # unsorted pairs
    (folder / "test.txt").write_text("0 4\n")
    assert sniff_split_format(folder / "train.txt") == "pairs"
    (folder / "train.txt").write_text("0 1 1\n1 2 1\n0 3 1\n5\n")
    assert main(["data", "info", str(folder)]) == 2
    err = capsys.readouterr().err
    assert "train.txt line 4" in err and "cannot tell" not in err


def test_wrong_option_combinations(fixed_split, capsys):
    train, test, _, _ = fixed_split
    cases = ([["train", "pop", "--train", str(train)], "--test FILE"],
             [["train", "pop", "--data", "ml-100k", "--train", str(train), "--test", str(test)], "not both"],
             [["data", "info", "ml-100k", "--sep", "tab"], "built-in dataset"],
             [["train", "pop"], "--train FILE --test FILE"])
    for argv, message in cases:
        assert main(argv) == 2
        assert message in capsys.readouterr().err


def test_fallback_notice_and_early_stopping(fixed_split, tmp_path, capsys):
    train, test, _, _ = fixed_split
    assert main(["train", "bpr", "--train", str(train), "--test", str(test), "--json", "--set", "factors=4",
                 "--set", "eval_every=1", "--set", "patience=1", "--out", str(tmp_path / "m")]) == 0
    captured = capsys.readouterr()
    rec = json.loads(captured.out)
    assert "no defaults were tuned for bpr on 'X'" in captured.err and "--tune" in captured.err
    assert rec["defaults"] == "config"
    assert rec["hyperparameters"]["epochs"] < plan_defaults("bpr", "X", {}, tuning=False).params["epochs"]
    tuned = plan_defaults("ease", "ml-100k", {}, tuning=False)
    assert tuned.notice is None and tuned.source == "tuned"
    cfgan = plan_defaults("cfgan", "X", {}, tuning=False)
    assert cfgan.source == "fallback" and cfgan.early_stop and cfgan.params["prior"] == "itemknn"
    assert plan_defaults("bpr", "X", {"epochs": 3}, tuning=False).early_stop is False


def test_no_validation_needed_never_fails(tmp_path, capsys):
    (tmp_path / "a.train").write_text("".join(f"{u} {u % 3}\n" for u in range(6)))  # one record per user
    (tmp_path / "a.test").write_text("0 1\n1 2\n")
    for model in ("pop", "itemknn"):
        assert main(["train", model, "--train", str(tmp_path / "a.train"), "--test", str(tmp_path / "a.test"),
                     "--json", "--k", "2", "--out", str(tmp_path / model)]) == 0
        assert _json(capsys)["n_test_users"] == 2


def test_progress_and_tuning_summary_with_json(fixed_split, tmp_path, capsys):
    train, test, _, _ = fixed_split
    assert main(["train", "rp3beta", "--train", str(train), "--test", str(test), "--tune", "2", "--json",
                 "--progress", "--out", str(tmp_path / "m")]) == 0
    captured = capsys.readouterr()
    rec = json.loads(captured.out)  # stdout is exactly one JSON object
    assert rec["tuning"]["trials"] == 2 and len(rec["tuning"]["history"]) == 2
    best = max(rec["tuning"]["history"], key=lambda t: t["value"])
    assert rec["tuning"]["best_value"] == best["value"]
    assert f"trial 1: validation ndcg@20 {rec['tuning']['history'][1]['value']:.4f}" in captured.err


@pytest.mark.realdata
def test_a_builtin_dataset_without_tuned_defaults_says_so(shared_data, tmp_path, capsys, monkeypatch):
    from advrec.cli import main

    monkeypatch.setenv("ADVREC_DATA", str(shared_data))
    assert main(["train", "grouppop", "--data", "ml-100k", "--json", "--out", str(tmp_path / "g")]) == 0
    err = capsys.readouterr().err
    assert "no defaults were tuned for grouppop on 'ml-100k'" in err and "--tune" in err
    assert main(["train", "ease", "--data", "ml-100k", "--json", "--out", str(tmp_path / "e")]) == 0
    assert "no defaults were tuned" not in capsys.readouterr().err  # ease has tuned ml-100k defaults
