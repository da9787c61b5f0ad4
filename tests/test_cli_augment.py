"""``advrec augment``: augmented training data written as a folder ``advrec train --data DIR`` reads."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_synthetic

from advrec.cli import main
from advrec.data.datasets import load_dataset


@pytest.fixture
def csv(tmp_path):
    frame = make_synthetic(n_users=60, n_items=40, seed=3).to_frame(external=True).rename(columns={"value": "rating"})
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    return path


def test_augment_writes_a_folder_that_train_reads_with_the_generated_records(csv, tmp_path, capsys):
    out = tmp_path / "aug"
    assert main(["augment", "--data", str(csv), "--generator", "ease", "--per-user", "4", "--users", "sparsest:0.5",
                 "--out", str(out), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert sorted(p.name for p in out.iterdir()) == ["augment.json", "augmented.generated", "augmented.test",
                                                      "augmented.train"]
    assert record == json.loads((out / "augment.json").read_text())
    assert record["records_added"] == 4 * record["n_users_augmented"] == 4 * 30
    generated = pd.read_csv(out / "augmented.generated", sep="\t")
    train = pd.read_csv(out / "augmented.train", sep="\t")
    assert len(generated) == record["records_added"]
    assert not set(zip(generated.user, generated.item, strict=True)) & set(zip(train.user, train.item, strict=True))

    ds = load_dataset(str(out))
    split = ds.split
    assert split is not None and split.generated is not None and len(split.generated) == len(generated)
    assert len(split.train) == len(train) + len(generated)
    assert len(ds.interactions) == len(train) + len(pd.read_csv(out / "augmented.test", sep="\t"))
    assert main(["train", "pop", "--data", str(out), "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["split"] == "fixed" and np.isfinite(result["metrics"]["ndcg@20"])


@pytest.mark.parametrize("argv, message", [
    (["--users", "sparse:0.5"], "sparsest:F"),
    (["--generator", "nope"], "nope"),
])
def test_augment_errors_name_the_option(csv, tmp_path, capsys, argv, message):
    args = ["augment", "--data", str(csv), "--generator", "ease", "--out", str(tmp_path / "o"), *argv]
    assert main(args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_augment_refuses_a_folder_with_files(csv, tmp_path, capsys):
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "keep.txt").write_text("mine")
    assert main(["augment", "--data", str(csv), "--generator", "ease", "--out", str(tmp_path / "o")]) == 2
    assert "not an empty folder" in capsys.readouterr().err
    assert (tmp_path / "o" / "keep.txt").read_text() == "mine"


def test_a_published_validation_part_is_written_and_read_back(tmp_path, capsys):
    data = make_synthetic(n_users=40, n_items=30, seed=6).to_frame(external=True).rename(columns={"value": "rating"})
    part = np.random.default_rng(0).choice(3, len(data), p=[0.7, 0.1, 0.2])
    src = tmp_path / "src"
    src.mkdir()
    for k, name in enumerate(("x.train", "x.valid", "x.test")):
        data[part == k].to_csv(src / name, sep="\t", index=False)
    out = tmp_path / "aug"
    assert main(["augment", "--data", str(src), "--generator", "ease", "--per-user", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    assert (out / "augmented.valid").is_file()
    split = load_dataset(str(out)).split
    assert split.valid is not None and len(split.valid) == int((part == 1).sum())
