"""benchmarks/robustness_curves.py: drop curves, tables and ratios from an experiment's run folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_script

from advrec.errors import ConfigError
from advrec.experiments.config import ExperimentConfig
from advrec.experiments.runner import run_experiment

rc = load_script("robustness_curves")


def _run(root: Path, label: str, seed: int, drops: dict[tuple[str, float], float], init: str | None,
         test: dict[str, float], users: np.ndarray, per_user: np.ndarray) -> None:
    """A run folder as ``advrec run`` writes it: result.json, eval.*.json, per_user.test.parquet."""
    d = root / "toy" / label / f"seed{seed}"
    d.mkdir(parents=True)
    (d / "result.json").write_text(json.dumps({"seed": seed, "stages": {"init": init}}))
    (d / "eval.test.json").write_text(json.dumps({"name": "test", "kind": "ranking", "metrics": test}))
    pd.DataFrame({"user": users, "ndcg@20": per_user, "recall@20": per_user / 2}).to_parquet(
        d / "per_user.test.parquet", index=False)
    for (attack, eps), drop in drops.items():
        clean = test["ndcg@20"]
        rec = {"name": f"{attack}-{eps}", "kind": "perturb", "attack": attack, "eps": eps,
               "clean": {"ndcg@20": clean}, "perturbed": {"ndcg@20": clean * (1 - drop)},
               "relative_drop": {"ndcg@20": drop}}
        (d / f"eval.{attack}-{eps}.json").write_text(json.dumps(rec))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    users = np.arange(30)
    rng = np.random.default_rng(0)
    base = rng.random(30)
    bpr = {0: {("fgsm", 0.5): 0.20, ("fgsm", 1.0): 0.50, ("random", 0.5): 0.01},
           1: {("fgsm", 0.5): 0.30, ("fgsm", 1.0): 0.60, ("random", 0.5): 0.03}}
    apr = {0: {("fgsm", 0.5): 0.05, ("fgsm", 1.0): 0.10, ("random", 0.5): 0.02},
           1: {("fgsm", 0.5): 0.15, ("fgsm", 1.0): 0.30, ("random", 0.5): 0.00}}
    for seed in (0, 1):
        _run(tmp_path, "bpr", seed, bpr[seed], None, {"ndcg@20": 0.40, "recall@20": 0.20}, users, base)
        _run(tmp_path, "apr", seed, apr[seed], "bpr", {"ndcg@20": 0.42, "recall@20": 0.21}, users, base + 0.02)
    return tmp_path


def test_summary_means_and_stds_over_seeds_per_model_attack_and_eps(runs):
    s = rc.summarise(rc.collect(runs)).set_index(["label", "attack", "eps"])
    assert s.loc[("bpr", "fgsm", 0.5), "mean"] == pytest.approx(0.25)
    assert s.loc[("bpr", "fgsm", 0.5), "std"] == pytest.approx(np.std([0.2, 0.3], ddof=1))
    assert s.loc[("apr", "random", 0.5), "mean"] == pytest.approx(0.01)
    assert (s.seeds == 2).all() and len(s) == 6


def test_ratios_pair_each_model_with_its_init_by_seed_and_skip_random_noise(runs):
    drops = rc.collect(runs)
    pairs = rc.references(runs, "toy", ["bpr", "apr"])
    assert pairs == {"apr": "bpr"}
    r = rc.ratios(drops, pairs).set_index(["attack", "eps"])
    assert set(r.index.get_level_values("attack")) == {"fgsm"}
    assert r.loc[("fgsm", 0.5), "ratio"] == pytest.approx(0.10 / 0.25)
    assert r.loc[("fgsm", 0.5), "seed_min"] == pytest.approx(0.25)  # seed 0: 0.05 / 0.20
    assert r.loc[("fgsm", 0.5), "seed_max"] == pytest.approx(0.5)  # seed 1: 0.15 / 0.30
    assert r.loc[("fgsm", 1.0), "ratio"] == pytest.approx(0.20 / 0.55)


def test_main_writes_the_png_and_a_table_with_drops_ratios_and_the_paired_test(runs, tmp_path):
    png, md = tmp_path / "out" / "img" / "drop.png", tmp_path / "out" / "page.md"
    text = rc.main([str(runs), "--png", str(png), "--md", str(md)])
    assert png.is_file() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert md.read_text(encoding="utf-8") == text
    assert "![relative ndcg@20 drop against eps](img/drop.png)" in text
    assert "| bpr | fgsm | 2 | 25.0 ± 7.1% | 55.0 ± 7.1% |" in text
    assert "| apr / bpr | fgsm | 0.40 [0.25, 0.50] | 0.36 [0.20, 0.50] |" in text
    # apr's per-user values are bpr's + 0.02 for every user: a constant positive difference
    row = next(line for line in text.splitlines() if line.startswith("| apr | 2 |"))
    assert "0.4200 ± 0.0000" in row and "vs bpr: +0.0200" in row


def test_user_mistakes_are_config_errors_naming_the_problem(runs, tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        rc.collect(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no perturb evaluation"):
        rc.collect(tmp_path / "empty")
    with pytest.raises(ConfigError, match="--pair"):
        rc.main([str(runs), "--pair", "apr"])
    with pytest.raises(ConfigError, match="--dataset"):
        rc.main([str(runs), "--dataset", "other"])


def test_reads_what_an_experiment_with_a_warm_started_apr_writes(tmp_path, synthetic):
    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    common = {"factors": 8, "batch_size": 64, "lr": 0.01}
    cfg = ExperimentConfig(
        name="apr", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[10], baseline="bpr",
        models=[{"name": "bpr", "epochs": 5, **common},
                {"name": "apr", "init": "bpr", "epochs": 3, "eps": 0.5, **common}],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "fgsm-0.5", "kind": "perturb", "attack": "fgsm", "eps": 0.5},
                     {"name": "random-0.5", "kind": "perturb", "attack": "random", "eps": 0.5}],
    )
    root = tmp_path / "runs"
    result = run_experiment(cfg, root, show_progress=False)
    drops = rc.collect(root, "ndcg@10")
    assert len(drops) == 2 * 2  # models x perturbations
    for rec in result["runs"]:
        for name in ("fgsm-0.5", "random-0.5"):
            got = drops[(drops.label == rec["label"]) & (drops.seed == rec["seed"]) & (drops.evaluation == name)]
            assert got["drop"].item() == pytest.approx(rec["evaluations"][name]["relative_drop"]["ndcg@10"])
    assert rc.references(root, drops.dataset.iloc[0], ["bpr", "apr"]) == {"apr": "bpr"}
    text = rc.main([str(root), "--metric", "ndcg@10", "--clean-metrics", "ndcg@10", "recall@10"])
    assert "| apr / bpr | fgsm |" in text and "| apr / bpr | random |" not in text
    assert f"Machine: {result['versions']['machine']}" in text
