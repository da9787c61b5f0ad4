"""The detection evaluation and the defend-detect stage inside an experiment run."""

from __future__ import annotations

import pytest

from advrec.errors import ConfigError
from advrec.experiments.config import ExperimentConfig
from advrec.experiments.evaluations import make_evaluation
from advrec.experiments.runner import run_experiment


def _csv(tmp_path, synthetic):
    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    return path


def test_detection_evaluation_reports_the_defence_and_runs_a_detector_on_the_attack(tmp_path, synthetic):
    path = _csv(tmp_path, synthetic)
    cfg = ExperimentConfig(
        name="defence", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[5],
        data=[{"name": "poison", "kind": "inject-random", "fraction": 0.1, "filler": 3, "targets": 2},
              {"name": "defend", "kind": "defend-detect", "detector": "feature-outlier", "fraction": 0.1}],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "caught", "kind": "detection", "stage": "defend"},
                     {"name": "pca", "kind": "detection", "stage": "poison",
                      "detector": {"detector": "pca-varselect", "n_flag": 3}}],
        tables=[{"evaluation": "test"}, {"evaluation": "caught", "metrics": ["precision", "recall", "f1"]}],
        models=[{"name": "pop"}, {"name": "pop", "label": "pop-poisoned", "data": ["poison"]},
                {"name": "pop", "label": "pop-defended", "data": ["poison", "defend"]}],
    )
    out = run_experiment(cfg, tmp_path / "out", show_progress=False)
    runs = {r["label"]: r for r in out["runs"]}
    stage = runs["pop-defended"]["data_stages"][1]
    caught = runs["pop-defended"]["evaluations"]["caught"]
    assert caught["metrics"]["f1"] == pytest.approx(stage["detection"]["f1"])
    assert caught["flagged_user_ids"] == stage["flagged_user_ids"]
    # the clean run has neither stage: no values, no failure
    assert all(v is None for v in runs["pop"]["evaluations"]["caught"]["metrics"].values())
    # on the attack stage the evaluation runs its own detector and flags exactly n_flag users
    pca = runs["pop-poisoned"]["evaluations"]["pca"]["metrics"]
    assert pca["n_flagged"] == 3 and pca["n_fake"] == runs["pop-poisoned"]["data_stages"][0]["n_fake_users"]
    assert "precision" in (tmp_path / "out" / "results.md").read_text()


def test_a_bad_detector_in_a_detection_evaluation_is_refused_when_built():
    with pytest.raises(ConfigError, match="detector"):
        make_evaluation("d", "detection", {"stage": "poison", "detector": {"detector": "pca-varselect"}})


def test_detection_over_a_grid_of_attacks_scores_the_attack_each_run_applied(tmp_path, synthetic):
    path = _csv(tmp_path, synthetic)
    cfg = ExperimentConfig(
        name="grid", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[5],
        data=[{"name": "random-a", "kind": "inject-random", "fraction": 0.1, "filler": 3, "targets": 2},
              {"name": "popular-b", "kind": "inject-popular", "n_fake": 4, "filler": 3, "targets": 2}],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "pca", "kind": "detection", "stage": "*", "flag_attack_size": True,
                      "detector": {"detector": "pca-varselect"}}],
        models=[{"name": "pop"}, {"name": "pop", "each_data": ["*"], "params_from": "pop"}],
    )
    runs = {r["label"]: r for r in run_experiment(cfg, tmp_path / "out", show_progress=False)["runs"]}
    for label in ("pop@random-a", "pop@popular-b"):
        got = runs[label]["evaluations"]["pca"]
        n_fake = runs[label]["data_stages"][0]["n_fake_users"]
        assert got["stage"] == label.split("@")[1]
        assert got["metrics"]["n_flagged"] == got["metrics"]["n_fake"] == n_fake  # flags the attack's size
    assert runs["pop@popular-b"]["evaluations"]["pca"]["metrics"]["n_fake"] == 4
    assert all(v is None for v in runs["pop"]["evaluations"]["pca"]["metrics"].values())
    # the poisoning report lists each (attack, budget) of the evaluation in its detection table
    from test_experiment_defence import _report_module

    text = _report_module().report(cfg, tmp_path / "out", k=5)
    det = text.split("## Detection", 1)[1]
    rows = [r for r in det.splitlines() if r.startswith("| ") and "| pca |" in r]
    assert len(rows) == 2 and any("| popular | 4x3 |" in r for r in rows)
    f1 = runs["pop@random-a"]["evaluations"]["pca"]["metrics"]["f1"]
    assert any("| random | 10% | pca | " in r and f"{f1:.2f} ± " in r for r in rows)


def test_flag_attack_size_still_needs_a_valid_detector():
    with pytest.raises(ConfigError, match="detector"):
        make_evaluation("d", "detection", {"stage": "*", "flag_attack_size": True,
                                           "detector": {"detector": "nope"}})
