"""``advrec attack``: the poisoning protocol (clean -> attacked -> defended) from the command line."""

from __future__ import annotations

import json

import pytest
from conftest import make_synthetic

from advrec.cli import main

KEYS = {"target_hr@20", "target_ndcg@20", "ndcg@20"}


@pytest.fixture
def csv(tmp_path):
    """A small implicit data set as a CSV file."""
    frame = make_synthetic(n_users=80, n_items=40, seed=5).to_frame(external=True).rename(columns={"value": "rating"})
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    return path


def _run(capsys, *argv: str) -> dict:
    assert main(["attack", *argv, "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_attack_json_contract_and_popularity_victim_is_promoted(csv, capsys):
    # MostPop ranks by counts: 40 fake users (half the real ones) on 2 unpopular targets must lift them
    got = _run(capsys, "--data", str(csv), "--victim", "pop", "--attack", "bandwagon", "--budget", "0.5",
               "--filler", "3", "--targets", "2", "--split", "random:0.8", "--seed", "1")
    assert KEYS <= set(got["clean"]) and KEYS <= set(got["attacked"]) and "defended" not in got
    assert got["victim"] == "pop" and got["attack"] == "inject-bandwagon" and got["n_fake"] == 40
    assert got["filler"] == 3 and len(got["targets"]) == 2 and got["craft_seconds"] >= 0
    assert got["clean"]["target_hr@20"] < got["attacked"]["target_hr@20"]
    assert got["gain"]["target_hr@20"] == pytest.approx(got["attacked"]["target_hr@20"] - got["clean"]["target_hr@20"])


def test_attack_with_defence_reports_detection_and_cost(csv, capsys, tmp_path):
    argv = ["--data", str(csv), "--victim", "itemknn", "--attack", "random", "--budget", "8", "--filler", "5",
            "--split", "random:0.8", "--defence", "--out", str(tmp_path / "runs")]
    got = _run(capsys, *argv)
    assert KEYS <= set(got["defended"]) and got["n_fake"] == 8 and got["budget"] == 8
    det = got["detection"]
    assert {"precision", "recall", "f1"} <= set(det) and det["detector"] == "supervised"
    assert det["n_fake"] == 8 and 0 <= det["n_real_flagged"] <= det["n_flagged"]
    assert got["defence"]["kind"] == "detect" and got["defence"]["action"] == "remove"
    assert "inject-random" not in got["defence"]["train_attacks"]  # never trained on the tested kind
    a, d = got["attacked"]["ndcg@20"], got["defended"]["ndcg@20"]
    assert got["defence_cost"]["ndcg@20"] == pytest.approx((a - d) / a)
    # the victim refits reuse the clean fit's hyper-parameters; the three runs are kept and reused
    for phase in ("clean", "attacked", "defended"):
        record = json.loads((tmp_path / "runs" / phase / "result.json").read_text())
        assert {k: v for k, v in record["hyperparameters"].items() if k != "seed"} == got["hyperparameters"]
    again = _run(capsys, *argv)
    assert {k: again[k] for k in ("clean", "attacked", "defended", "detection")} == \
        {k: got[k] for k in ("clean", "attacked", "defended", "detection")}


def test_same_seed_same_numbers_other_seed_other_targets(csv, capsys):
    argv = ["--data", str(csv), "--victim", "pop", "--attack", "average", "--budget", "0.1", "--filler", "4",
            "--split", "random:0.8"]
    first, again = _run(capsys, *argv, "--seed", "3"), _run(capsys, *argv, "--seed", "3")
    other = _run(capsys, *argv, "--seed", "4")
    assert first["attacked"] == again["attacked"] and first["targets"] == again["targets"]
    assert first["targets"] != other["targets"]


def test_attack_table_and_user_errors(csv, capsys):
    assert main(["attack", "--data", str(csv), "--victim", "pop", "--attack", "popular", "--budget", "0.1",
                 "--filler", "2", "--split", "random:0.8", "--defence", "detect-pca"]) == 0
    text = capsys.readouterr().out
    assert "target_hr@20" in text and "defended" in text and "detection (pca-varselect)" in text
    base = ["attack", "--data", str(csv), "--victim", "pop", "--attack", "random"]
    assert main([*base, "--budget", "2.5"]) == 2
    assert "whole number" in capsys.readouterr().err
    assert main([*base, "--budget", "0"]) == 2
    assert "--budget" in capsys.readouterr().err
    assert main([*base, "--budget", "0.1", "--filler", "500"]) == 2
    assert "filler=500" in capsys.readouterr().err
    assert main(["attack", "--data", str(csv), "--victim", "nope", "--attack", "random", "--budget", "0.1"]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*base[:-1], "shilling", "--budget", "0.1"])
