"""The defence protocol: ``"{each}"`` places each attack before a defence, each defended run scores
itself against its own attack, and benchmarks/poisoning_report.py reads gains, defences and detection."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import load_script, make_synthetic

from advrec.errors import ConfigError
from advrec.experiments.config import ExperimentConfig, load_experiment
from advrec.experiments.runner import run_experiment
from advrec.experiments.runs import run_folder

ROOT = Path(__file__).resolve().parents[1]
ATTACK = {"filler": 4, "targets": 2}


def _report_module():
    return load_script("poisoning_report")


def _config(data: str = "x", **extra) -> ExperimentConfig:
    return ExperimentConfig(
        name="defence", datasets=[data], seeds=[0, 1], split="random:0.8", ks=[5],
        data=[{"name": "random-a", "kind": "inject-random", "fraction": 0.1, **ATTACK},
              {"name": "popular-a", "kind": "inject-popular", "n_fake": 9, **ATTACK},
              {"name": "defend", "kind": "defend-detect", "detector": "feature-outlier", "fraction": 0.1}],
        evaluations=[{"name": "test", "kind": "ranking"}, {"name": "targets", "kind": "target-items", "stage": "*"}],
        models=[{"name": "pop"}, {"name": "pop", "each_data": ["*-a"], "params_from": "pop"},
                {"name": "pop", "label": "pop+d", "data": ["{each}", "defend"], "each_data": ["*-a"],
                 "params_from": "pop"},
                {"name": "pop", "label": "pop+d", "data": ["defend"], "params_from": "pop"}],
        **extra,
    )


def test_each_placeholder_puts_every_matched_stage_before_the_defence():
    cfg = _config()
    got = {m.key: m.data for m in cfg.models}
    assert got["pop+d@random-a"] == ["random-a", "defend"] and got["pop+d@popular-a"] == ["popular-a", "defend"]
    assert got["pop@random-a"] == ["random-a"] and got["pop+d"] == ["defend"]  # no placeholder: appended
    assert ExperimentConfig.model_validate(cfg.model_dump(mode="json")) == cfg


@pytest.mark.parametrize("model", ['data = ["{each}"]', 'data = ["{each}", "{each}"]\neach_data = ["a"]'])
def test_each_placeholder_without_each_data_or_twice_is_refused_naming_the_file(tmp_path, model):
    f = tmp_path / "exp.toml"
    f.write_text(f'datasets = ["x"]\n[[data]]\nname = "a"\nkind = "inject-random"\n[[models]]\nname = "pop"\n{model}\n')
    with pytest.raises(ConfigError, match="only with each_data") as err:
        load_experiment(f)
    assert str(f) in str(err.value)


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[ExperimentConfig, Path, dict]:
    tmp = tmp_path_factory.mktemp("defence")
    path = tmp / "ratings.csv"
    make_synthetic().to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    cfg = _config(str(path))
    out = run_experiment(cfg, tmp / "out", show_progress=False)
    return cfg, tmp / "out", {(r["label"], r["seed"]): r for r in out["runs"]}


def test_each_defended_run_scores_the_attack_it_was_expanded_with(finished):
    _, _, runs = finished
    for attack in ("random-a", "popular-a"):
        for seed in (0, 1):
            run = runs[(f"pop+d@{attack}", seed)]
            poison, defend = run["data_stages"]
            assert poison["name"] == attack and defend["attack"] == attack
            assert defend["detection"]["n_fake"] == poison["n_fake_users"] == runs[(f"pop@{attack}", seed)][
                "data_stages"][0]["n_fake_users"]
    assert runs[("pop+d", 0)]["data_stages"][0]["detection"] is None  # the defence alone: nothing to score


def test_report_gains_and_defences_are_the_differences_of_the_runs(finished):
    rep = _report_module()
    cfg, root, runs = finished
    pairs = rep.paired_rows(rep.load_runs(cfg, root, 5)[0])
    gains = rep.gain_table(pairs).set_index(["victim", "attack"])
    frame = rep.load_runs(cfg, root, 5)[0]
    defs = rep.defence_table(pairs, frame).set_index(["defence", "victim", "attack"])

    def hr(label: str, seed: int) -> float:
        return runs[(label, seed)]["evaluations"]["targets"]["metrics"]["hr@5"]

    def ndcg(label: str) -> float:
        return float(np.mean([runs[(label, s)]["evaluations"]["test"]["metrics"]["ndcg@5"] for s in (0, 1)]))

    for attack, kind in (("random-a", "random"), ("popular-a", "popular")):
        gain = np.mean([hr(f"pop@{attack}", s) - hr("pop", s) for s in (0, 1)])
        assert gains.loc[("pop", kind), "gain"] == pytest.approx(gain)
        assert gains.loc[("pop", kind), "seeds"] == 2
        row = defs.loc[("feature-outlier", "pop", kind)]
        assert row["gain"] == pytest.approx(gain)
        assert row["gain_defended"] == pytest.approx(np.mean([hr(f"pop+d@{attack}", s) - hr("pop", s) for s in (0, 1)]))
        assert row["cost"] == pytest.approx((ndcg(f"pop@{attack}") - ndcg(f"pop+d@{attack}")) / ndcg(f"pop@{attack}"))
        assert row["peace_cost"] == pytest.approx((ndcg("pop") - ndcg("pop+d")) / ndcg("pop"))
    # MostPop is lifted by the injected targets: a real gain for the report to show
    assert gains["gain"].max() > 0
    det = rep.detection_table(frame).set_index("attack")
    f1 = np.mean([runs[("pop+d@random-a", s)]["data_stages"][1]["detection"]["f1"] for s in (0, 1)])
    assert det.loc["random", "f1"][0] == pytest.approx(f1) and det.loc["random", "disagree"] == 0


def test_report_lists_missing_runs_and_leaves_them_out(finished, tmp_path):
    rep = _report_module()
    cfg, done, _ = finished
    root = tmp_path / "copy"
    shutil.copytree(done, root)
    (run_folder(root, cfg.datasets[0], "pop+d@random-a", 1) / "result.json").unlink()
    text = rep.report(cfg, root, k=5, budget="10%")
    assert "**Missing runs (1)**" in text and "pop+d@random-a: seed 1" in text
    defs = rep.defence_table(*_pairs(rep, cfg, root)).set_index(["attack"])
    assert defs.loc["random", "seeds"] == 1 and defs.loc["popular", "seeds"] == 2
    assert "feature-outlier" in text and "## Detection" in text


def _pairs(rep, cfg, root):
    frame = rep.load_runs(cfg, root, 5)[0]
    return rep.paired_rows(frame), frame


def test_halving_check_needs_every_positive_gain_halved_within_the_cost():
    rep = _report_module()
    base = {"dataset": "d", "pool": "unpopular", "budget": "3%", "victim": "v"}
    rows = [("ok", "random", 0.10, 0.05, 0.01), ("ok", "bandwagon", 0.0, 0.0, 0.0),
            ("weak", "random", 0.10, 0.06, 0.0), ("dear", "random", 0.10, 0.0, 0.03),
            ("idle", "random", 0.0, 0.0, 0.0), ("ok", "random", 0.5, 0.5, 0.5)]
    frame = pd.DataFrame([{**base, "defence": d, "attack": a, "gain": g, "gain_defended": gd, "cost": c}
                          for d, a, g, gd, c in rows])
    frame.loc[5, "budget"] = "5%"  # another budget never counts
    popular = {**base, "pool": "popular", "defence": "ok", "attack": "random", "gain": 0.2, "gain_defended": 0.2,
               "cost": 0.0}
    frame = pd.concat([frame, pd.DataFrame([popular])], ignore_index=True)  # judged apart: its own row
    check = rep.halving_check(frame, "3%", 0.02).set_index(["pool", "defence"])
    assert check["passes"].to_dict() == {("popular", "ok"): False, ("unpopular", "dear"): False,
                                         ("unpopular", "idle"): False, ("unpopular", "ok"): True,
                                         ("unpopular", "weak"): False}
    assert check.loc[("unpopular", "ok"), "attacks"] == 2 and check.loc[("unpopular", "ok"), "with_gain"] == 1


@pytest.mark.parametrize("name", ["defence_ml100k.toml", "defence_ml100k_smoke.toml"])
def test_the_defence_benchmarks_pair_every_attack_with_each_defence(name):
    rep = _report_module()
    cfg = load_experiment(ROOT / "benchmarks" / name)
    stages = {d.name: d for d in cfg.data}
    rows = [rep.classify(cfg, m) for m in cfg.models]
    assert all(r is not None for r in rows)
    attacks = [d for d in cfg.data if d.kind.startswith("inject-")]
    victims = {r["victim"] for r in rows}
    for v in victims - {"apr"}:
        for defence in ("supervised", "pca-varselect"):
            mine = [m for m, r in zip(cfg.models, rows) if r["victim"] == v and r["defence"] == defence]
            assert sorted(m.data[0] for m in mine if len(m.data) == 2) == sorted(a.name for a in attacks)
            assert any(len(m.data) == 1 for m in mine)  # the defence alone on clean data
            for m in mine:
                p, a = stages[m.data[-1]].params, stages[m.data[0]].params
                if defence == "pca-varselect" and len(m.data) == 2:  # flags the attack's share
                    assert (p.get("fraction"), p.get("n_flag")) == (a.get("fraction"), a.get("n_fake"))
                assert m.params_from == v
                # the supervised detector never trains on the GAN attack nor (checked by the stage) the tested kind
                assert "inject-gan" not in (p.get("train_attacks") or ["inject-random"])
    assert len([m for m in cfg.models if m.name == "apr" and len(m.data) == 1 and m.data[0] in stages
                and stages[m.data[0]].kind.startswith("inject-")]) == len(attacks)
    assert json.dumps(cfg.model_dump(mode="json"))  # serialisable for the worker pool


#: a BPR-MF / APR small enough to fit in a test
SMALL = {"factors": 4, "epochs": 2, "optimizer": "sgd", "batch_size": 1}


def _ratings_csv(tmp_path):
    """The synthetic data as a ratings file (experiments read data by path)."""
    path = tmp_path / "ratings.csv"
    make_synthetic().to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    return path


def test_each_placeholder_in_init_warm_starts_from_the_fit_on_the_same_poisoned_data(tmp_path):
    path = _ratings_csv(tmp_path)
    cfg = ExperimentConfig(
        name="warm", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[5],
        data=[{"name": "random-a", "kind": "inject-random", "fraction": 0.1, **ATTACK}],
        models=[{"name": "bpr", **SMALL}, {"name": "bpr", "each_data": ["*"], **SMALL},
                {"name": "apr", "each_data": ["*"], "init": "bpr@{each}", **SMALL}])
    by_key = {m.key: m for m in cfg.models}
    assert by_key["apr@random-a"].init == "bpr@random-a" and by_key["apr@random-a"].data == ["random-a"]
    runs = {r["label"]: r for r in run_experiment(cfg, tmp_path / "out", show_progress=False)["runs"]}
    record = runs["apr@random-a"]
    stage = record["data_stages"][0]
    assert record["init"]["n_users"] == stage["n_real_users"] + stage["n_fake_users"]  # the poisoned bpr's id space
    assert record["data_stages"][0]["train_sha256"] == runs["bpr@random-a"]["data_stages"][0]["train_sha256"]


@pytest.mark.parametrize("jobs", [1, 2])
def test_runs_taking_params_from_or_init_are_refit_when_their_source_is(tmp_path, jobs):
    path = _ratings_csv(tmp_path)

    def cfg(bpr_epochs: int) -> ExperimentConfig:
        return ExperimentConfig(
            name="stale", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[5],
            data=[{"name": "random-a", "kind": "inject-random", "fraction": 0.1, **ATTACK}],
            models=[{"name": "bpr", **SMALL, "epochs": bpr_epochs},
                    {"name": "bpr", "each_data": ["*"], "params_from": "bpr"},
                    {"name": "apr", "each_data": ["*"], "init": "bpr@{each}", **SMALL}])

    def epochs(out) -> dict[str, tuple[int, int | None]]:
        return {r["label"]: (r["hyperparameters"]["epochs"], r["init"]["config"]["epochs"] if r.get("init") else None)
                for r in out["runs"]}

    first = epochs(run_experiment(cfg(2), tmp_path / "out", show_progress=False, jobs=jobs))
    assert first == {"bpr": (2, None), "bpr@random-a": (2, None), "apr@random-a": (2, 2)}
    # only bpr's settings change: the refit that copies them, and the APR that starts from that refit, follow
    later = epochs(run_experiment(cfg(3), tmp_path / "out", show_progress=False, jobs=jobs))
    assert later == {"bpr": (3, None), "bpr@random-a": (3, None), "apr@random-a": (2, 3)}


def test_params_from_takes_the_sources_values_and_own_ones_override_them(tmp_path):
    path = _ratings_csv(tmp_path)
    cfg = ExperimentConfig(
        name="override", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[5],
        models=[{"name": "bpr", **SMALL}, {"name": "bpr", "label": "bpr-3", "params_from": "bpr", "epochs": 3}])
    runs = {r["label"]: r["hyperparameters"] for r in run_experiment(cfg, tmp_path / "out", show_progress=False)["runs"]}
    assert runs["bpr-3"] == {**runs["bpr"], "epochs": 3}
    with pytest.raises(ValueError, match="drop tune"):
        ExperimentConfig(name="x", datasets=[str(path)], seeds=[0], split="random:0.8",
                         models=[{"name": "bpr"}, {"name": "bpr", "label": "b", "params_from": "bpr", "tune": 2}])
