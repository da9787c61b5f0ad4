"""``advrec perturb MODEL_DIR`` on models saved by ``advrec train --out``."""

from __future__ import annotations

import json

import pytest
from conftest import make_synthetic

from advrec.cli import main

BPR = ["--set", "epochs=5", "--set", "factors=8", "--set", "batch_size=64"]


@pytest.fixture
def trained(tmp_path, capsys):
    """A CSV file and a BPR model trained on it by the command line."""
    frame = make_synthetic(n_users=50, n_items=30, seed=3).to_frame(external=True).rename(columns={"value": "rating"})
    csv = tmp_path / "ratings.csv"
    frame.to_csv(csv, index=False)
    out = tmp_path / "bpr"
    assert main(["train", "bpr", "--data", str(csv), "--split", "random:0.8", "--seed", "2", "--out", str(out),
                 *BPR, "--json"]) == 0
    capsys.readouterr()
    return csv, out


def test_perturb_json_has_clean_perturbed_and_drop(trained, capsys):
    _, out = trained
    assert main(["perturb", str(out), "--attack", "pgd", "--eps", "0.5", "--steps", "3", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["model"] == "bpr" and got["attack"] == "pgd" and got["eps"] == 0.5 and got["steps"] == 3
    assert got["data"] == "ratings" and got["split"] == "random:0.8"
    assert set(got["clean"]) == set(got["perturbed"]) == set(got["relative_drop"]) >= {"ndcg@20", "recall@20"}
    saved = json.loads((out / "eval.test.json").read_text())  # the clean side is the run's own test evaluation
    assert got["clean"]["ndcg@20"] == pytest.approx(saved["metrics"]["ndcg@20"])
    c, p = got["clean"]["ndcg@20"], got["perturbed"]["ndcg@20"]
    assert got["relative_drop"]["ndcg@20"] == pytest.approx((c - p) / c)


def test_perturb_table(trained, capsys):
    _, out = trained
    assert main(["perturb", str(out), "--attack", "random", "--eps", "0.2", "--k", "5"]) == 0
    text = capsys.readouterr().out
    assert "random eps=0.2" in text and "ndcg@5" in text and "perturbed" in text


def test_perturb_user_errors_exit_2(trained, tmp_path, capsys):
    csv, out = trained
    assert main(["perturb", str(out), "--attack", "fgsm", "--eps", "0"]) == 2
    assert "--eps must be > 0" in capsys.readouterr().err
    assert main(["perturb", str(tmp_path / "nowhere"), "--attack", "fgsm", "--eps", "0.1"]) == 2
    assert "not a saved advrec model" in capsys.readouterr().err
    pop = tmp_path / "pop"
    assert main(["train", "pop", "--data", str(csv), "--out", str(pop), "--json"]) == 0
    capsys.readouterr()
    assert main(["perturb", str(pop), "--attack", "fgsm", "--eps", "0.1"]) == 2
    assert "'pop' does not support embeddings" in capsys.readouterr().err
    # a folder of an older version (no source.json) on data that is not a built-in dataset
    (out / "source.json").unlink()
    assert main(["perturb", str(out), "--attack", "fgsm", "--eps", "0.1"]) == 2
    assert "source.json" in capsys.readouterr().err


def test_changed_data_is_refused(trained, capsys):
    csv, out = trained
    lines = csv.read_text().splitlines()
    csv.write_text("\n".join(lines[:-3]) + "\n")  # the file lost records since the model was trained
    assert main(["perturb", str(out), "--attack", "fgsm", "--eps", "0.1"]) == 2
    assert "checksums" in capsys.readouterr().err
