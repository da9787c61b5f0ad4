"""The command line end to end on a small CSV file the test writes itself."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from conftest import make_synthetic

from advrec.cli import main


@pytest.fixture
def csv_path(tmp_path):
    inter = make_synthetic(n_users=50, n_items=30, seed=3)
    frame = inter.to_frame(external=True).rename(columns={"value": "rating"})
    path = tmp_path / "ratings.csv"
    frame.to_csv(path, index=False)
    return path


def test_train_json_and_recommend(csv_path, tmp_path, capsys):
    out = tmp_path / "model"
    code = main(["train", "pop", "--data", str(csv_path), "--split", "random:0.8", "--seed", "1",
                 "--out", str(out), "--json"])
    assert code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["model"] == "pop" and rec["seed"] == 1 and rec["split"].endswith("random:0.8")
    for key in ("ndcg@20", "recall@20", "precision@20", "mrr@20"):
        assert 0.0 <= rec["metrics"][key] <= 1.0
    assert rec["fit_seconds"] >= 0
    saved = json.loads((out / "result.json").read_text())
    assert saved["data"]["train_sha256"] and saved["versions"]["torch"]
    assert len(pd.read_parquet(out / "per_user.test.parquet")) == rec["n_test_users"]

    assert main(["recommend", str(out), "--users", "100", "101", "-k", "3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "user,rank,item,score"
    assert len(lines) == 1 + 6
    csv_out = tmp_path / "all.csv"
    assert main(["recommend", str(out), "--all", "-k", "2", "--out", str(csv_out)]) == 0
    table = pd.read_csv(csv_out)
    assert table["user"].nunique() == 50 and (table["rank"] <= 2).all()


def test_cold_item_split_reports_the_cold_setting_and_all_three(csv_path, tmp_path, capsys):
    assert main(["train", "itemknn", "--data", str(csv_path), "--split", "cold-item:0.2", "--out",
                 str(tmp_path / "m"), "--json"]) == 0
    rec = json.loads(capsys.readouterr().out)
    by = rec["metrics_by_setting"]
    assert set(by) == {"cold", "warm", "all"}
    assert rec["metrics"]["ndcg@20"] == by["cold"]["ndcg@20"] != by["warm"]["ndcg@20"]
    assert rec["n_test_users"] == by["cold"]["n_users"]


def test_same_seed_same_metrics(csv_path, tmp_path, capsys):
    runs = []
    for i in range(2):
        main(["train", "itemknn", "--data", str(csv_path), "--seed", "4", "--out", str(tmp_path / f"m{i}"), "--json"])
        runs.append(json.loads(capsys.readouterr().out)["metrics"])
    assert runs[0] == runs[1]


def test_set_and_misspelt_parameter(csv_path, tmp_path, capsys):
    assert main(["train", "itemknn", "--data", str(csv_path), "--set", "k=5", "--out", str(tmp_path / "m"), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hyperparameters"]["k"] == 5
    assert main(["train", "itemknn", "--data", str(csv_path), "--set", "kk=5", "--out", str(tmp_path / "m2")]) == 2
    assert "kk" in capsys.readouterr().err


def test_user_errors_exit_2(csv_path, tmp_path, capsys):
    assert main(["train", "nope", "--data", str(csv_path)]) == 2
    assert "unknown model 'nope'" in capsys.readouterr().err
    assert main(["train", "pop", "--data", str(tmp_path / "missing.csv")]) == 2
    assert "missing.csv" in capsys.readouterr().err
    assert main(["train", "pop", "--data", str(csv_path), "--split", "bogus:1"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert main(["recommend", str(tmp_path), "--all"]) == 2
    assert "not a saved advrec model" in capsys.readouterr().err


def test_run_experiment(csv_path, tmp_path, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(f"""
name = "tiny"
datasets = ["{csv_path}"]
seeds = [0, 1]
split = "random:0.8"
baseline = "pop"

[[models]]
name = "pop"

[[models]]
name = "itemknn"
k = 10
""")
    assert main(["run", str(exp), "--out", str(tmp_path / "res"), "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "| itemknn |" in text and "| pop |" in text
    result = json.loads((tmp_path / "res" / "results.json").read_text())
    assert len(result["runs"]) == 4
    rows = {r["model"]: r for r in next(iter(result["tables"].values()))}
    assert rows["itemknn"]["seeds"] == 2 and "vs_baseline" in rows["itemknn"]
    # the table names the command that wrote it
    md = (tmp_path / "res" / "results.md").read_text()
    assert f"Command: `advrec run {exp} --out {tmp_path / 'res'}`." in md
    # a second run reuses the finished runs and gives the same table
    assert main(["run", str(exp), "--out", str(tmp_path / "res"), "--quiet"]) == 0
    assert capsys.readouterr().out == text
    # another baseline: same runs, tests against itemknn
    assert main(["run", str(exp), "--out", str(tmp_path / "res"), "--quiet", "--baseline", "itemknn"]) == 0
    capsys.readouterr()
    rows = {r["model"]: r for r in next(iter(json.loads((tmp_path / "res" / "results.json").read_text())["tables"].values()))}
    assert "vs_baseline" in rows["pop"] and "vs_baseline" not in rows["itemknn"]
    assert main(["run", str(exp), "--out", str(tmp_path / "res"), "--quiet", "--baseline", "nope"]) == 2
    assert "not one of the models" in capsys.readouterr().err


def test_data_info_json(csv_path, capsys):
    assert main(["data", "info", str(csv_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["users"] == 50


def test_train_records_activity_groups(csv_path, tmp_path):
    assert main(["train", "pop", "--data", str(csv_path), "--out", str(tmp_path / "m")]) == 0
    groups = json.loads((tmp_path / "m" / "result.json").read_text())["activity_groups"]
    assert 1 <= len(groups) <= 4
    assert sum(g["n_users"] for g in groups) == json.loads((tmp_path / "m" / "result.json").read_text())["n_test_users"]


def test_run_with_a_process_pool_equals_sequential(csv_path, tmp_path, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(f"""
name = "pooled"
datasets = ["{csv_path}"]
seeds = [0, 1]
split = "random:0.8"
baseline = "pop"

[[models]]
name = "pop"

[[models]]
name = "bpr"
epochs = 3
batch_size = 64
""")
    assert main(["run", str(exp), "--out", str(tmp_path / "seq"), "--quiet"]) == 0
    capsys.readouterr()
    assert main(["run", str(exp), "--out", str(tmp_path / "par"), "--quiet", "--jobs", "2"]) == 0
    capsys.readouterr()

    def metrics(folder):
        runs = json.loads((tmp_path / folder / "results.json").read_text())["runs"]
        return {(r["label"], r["seed"]): r["metrics"] for r in runs}

    assert metrics("seq") == metrics("par")


def test_pool_failure_names_the_run(csv_path, tmp_path, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(f"""
name = "broken"
datasets = ["{csv_path}"]
seeds = [0]
split = "random:0.8"

[[models]]
name = "lightgcn"
device = "cuda:99"
epochs = 1
""")
    assert main(["run", str(exp), "--out", str(tmp_path / "x"), "--quiet", "--jobs", "2"]) != 0
    err = capsys.readouterr().err
    assert "lightgcn seed=0" in err and "cuda:99" in err


def test_pool_skips_tune_once_runs_whose_tuning_run_failed(csv_path, tmp_path, capsys):
    exp = tmp_path / "exp.toml"
    exp.write_text(f"""
name = "broken-once"
datasets = ["{csv_path}"]
seeds = [0, 1]
split = "random:0.8"

[[models]]
name = "lightgcn"
device = "cuda:99"
epochs = 1
tune = 1
tune_once = true

[[models]]
name = "pop"
""")
    assert main(["run", str(exp), "--out", str(tmp_path / "x"), "--quiet", "--jobs", "2"]) != 0
    err = capsys.readouterr().err
    assert "2 of 4 runs failed" in err and "lightgcn seed=1: not run, its tuning run failed" in err
    assert (tmp_path / "x").exists() and len(list((tmp_path / "x").rglob("pop/seed*/result.json"))) == 2


def test_reuse_tolerates_options_added_at_their_default():
    from advrec.models import create
    from advrec.models.base import same_hyperparameters

    cfg = create("bpr", epochs=3).config
    old = cfg.model_dump(mode="json")
    assert same_hyperparameters(cfg, old)
    assert same_hyperparameters(cfg, {k: v for k, v in old.items() if k != "device"})
    assert not same_hyperparameters(create("bpr", epochs=4).config, old)
    assert not same_hyperparameters(cfg, {**old, "removed_option": 1})
    assert not same_hyperparameters(cfg, None)
    # an added option whose default comes from a factory (a dict) counts as equal at its default
    gan = create("cfgan", prior="ease").config
    old = {k: v for k, v in gan.model_dump(mode="json").items() if k != "prior_params"}
    assert same_hyperparameters(gan, old)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_tune_once_reuses_the_first_seeds_choice(csv_path, tmp_path, capsys, jobs):
    exp = tmp_path / "exp.toml"
    exp.write_text(f"""
name = "once"
datasets = ["{csv_path}"]
seeds = [3, 1]
split = "random:0.8"

[[models]]
name = "itemknn"
tune = 2
tune_once = true
""")
    assert main(["run", str(exp), "--out", str(tmp_path / "r"), "--quiet", "--jobs", jobs]) == 0
    capsys.readouterr()
    runs = {r["seed"]: r for r in json.loads((tmp_path / "r" / "results.json").read_text())["runs"]}
    assert runs[3]["tuning"]["trials"] == 2 and "tuned_on_seed" not in runs[3]
    assert runs[1]["tuning"] is None and runs[1]["tuned_on_seed"] == 3
    strip = lambda h: {k: v for k, v in h.items() if k != "seed"}
    assert strip(runs[1]["hyperparameters"]) == strip(runs[3]["hyperparameters"])


def _lightgcn_folder(root):
    rng = np.random.default_rng(0)
    root.mkdir()
    with open(root / "train.txt", "w") as f, open(root / "test.txt", "w") as g:
        for u in range(30):
            items = rng.choice(25, 8, replace=False)
            f.write(" ".join(map(str, [u, *items[:6]])) + "\n")
            g.write(" ".join(map(str, [u, *items[6:]])) + "\n")
    return root


def test_unseeded_models_on_a_fixed_split_are_fit_once(tmp_path, capsys, monkeypatch):
    data = _lightgcn_folder(tmp_path / "lg")
    exp = tmp_path / "exp.toml"
    exp.write_text(f"""
name = "fixed"
datasets = ["{data}"]
seeds = [0, 1, 2]

[[models]]
name = "itemknn"
k = 5

[[models]]
name = "bpr"
epochs = 2
batch_size = 32
""")
    from advrec.experiments import runs as runner

    calls = []
    real = runner.train_and_evaluate
    monkeypatch.setattr(runner, "train_and_evaluate", lambda m, *a, **k: calls.append(m) or real(m, *a, **k))
    assert main(["run", str(exp), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    assert calls.count("itemknn") == 1 and calls.count("bpr") == 3
    runs = json.loads((tmp_path / "r" / "results.json").read_text())["runs"]
    knn = {r["seed"]: r for r in runs if r["model"] == "itemknn"}
    assert knn[1]["copied_from_seed"] == 0 and knn[2]["metrics"] == knn[0]["metrics"]
    assert knn[2]["hyperparameters"]["seed"] == 2
    # the copies are reused like any finished run
    calls.clear()
    assert main(["run", str(exp), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    assert calls == []


def test_unseeded_runs_are_not_copied_when_an_evaluation_draws_from_the_seed(tmp_path, capsys, monkeypatch):
    """Target items drawn per seed (an attack grid's clean fits) make every seed's run its own."""
    data = _lightgcn_folder(tmp_path / "lg")
    exp = tmp_path / "exp.toml"
    exp.write_text(f"""
name = "fixed-targets"
datasets = ["{data}"]
seeds = [0, 1]
ks = [5]

[[data]]
name = "attack"
kind = "inject-random"
fraction = 0.1
filler = 3
targets = 2

[[evaluations]]
name = "test"
kind = "ranking"

[[evaluations]]
name = "targets"
kind = "target-items"
stage = "attack"

[[models]]
name = "itemknn"
k = 5
""")
    assert main(["run", str(exp), "--out", str(tmp_path / "r"), "--quiet"]) == 0
    capsys.readouterr()
    runs = {r["seed"]: r for r in json.loads((tmp_path / "r" / "results.json").read_text())["runs"]}
    assert all("copied_from_seed" not in r for r in runs.values())
    assert runs[0]["evaluations"]["targets"]["targets"] != runs[1]["evaluations"]["targets"]["targets"]
