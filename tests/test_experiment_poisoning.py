"""The poisoning protocol as an experiment: one victim entry expanded over every attack stage
(``each_data``), refit with the clean fit's hyper-parameters, targets measured per applied attack."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from advrec.errors import ConfigError
from advrec.experiments.config import ExperimentConfig, ModelSpec, load_experiment
from advrec.experiments.runner import run_experiment

ATTACK = {"filler": 4, "targets": 2}


def _csv(tmp_path, synthetic) -> str:
    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    return str(path)


def _config(data: str, **extra) -> ExperimentConfig:
    return ExperimentConfig(
        name="poison", datasets=[data], seeds=[0], split="random:0.8", ks=[5],
        data=[{"name": "random-a", "kind": "inject-random", "fraction": 0.2, **ATTACK},
              {"name": "bandwagon-a", "kind": "inject-bandwagon", "fraction": 0.2, **ATTACK},
              {"name": "popular-b", "kind": "inject-popular", "n_fake": 20, **ATTACK},
              {"name": "other", "kind": "inject-average", "fraction": 0.2, "filler": 4, "target_pool": "popular"}],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "targets", "kind": "target-items", "stage": ["*-a", "*-b"]}],
        tables=[{"evaluation": "test"}, {"evaluation": "targets", "metrics": ["hr@5"]}],
        models=[{"name": "pop"}, {"name": "pop", "each_data": ["*-a", "popular-*"], "params_from": "pop"}],
        **extra,
    )


def test_each_data_expands_one_model_per_matching_stage_in_data_order(tmp_path):
    cfg = _config("x")
    assert [m.key for m in cfg.models] == ["pop", "pop@random-a", "pop@bandwagon-a", "pop@popular-b"]
    assert [m.data for m in cfg.models[1:]] == [["random-a"], ["bandwagon-a"], ["popular-b"]]
    assert all(m.params_from == "pop" and m.each_data == [] for m in cfg.models[1:])
    # a spec object expands the same way, and the dumped config (as workers receive it) round-trips
    spec = ModelSpec(name="pop", label="mp", each_data=["other"])
    again = ExperimentConfig(datasets=["x"], data=cfg.data, models=[spec])
    assert [(m.key, m.data) for m in again.models] == [("mp@other", ["other"])]
    assert ExperimentConfig.model_validate(cfg.model_dump(mode="json")) == cfg


def test_each_data_matching_no_stage_is_refused_naming_the_file(tmp_path):
    f = tmp_path / "exp.toml"
    f.write_text('datasets = ["x"]\n[[data]]\nname = "a"\nkind = "inject-random"\n'
                 '[[models]]\nname = "pop"\neach_data = ["b*"]\n')
    with pytest.raises(ConfigError, match="matches no data stage") as err:
        load_experiment(f)
    assert str(f) in str(err.value)


def test_victims_refit_on_each_attack_and_measured_on_its_targets(tmp_path, synthetic):
    cfg = _config(_csv(tmp_path, synthetic))
    out = run_experiment(cfg, tmp_path / "out", show_progress=False)
    runs = {r["label"]: r for r in out["runs"]}
    clean = runs["pop"]
    targets = clean["evaluations"]["targets"]["targets"]
    n_test = clean["n_test_users"]
    for label in ("pop@random-a", "pop@bandwagon-a", "pop@popular-b"):
        run = runs[label]
        stage = run["data_stages"][0]
        assert stage["name"] == label.split("@")[1] and stage["craft_seconds"] >= 0
        # each attacked run is measured on the targets of the attack it applied, the clean run on the same draw
        assert run["evaluations"]["targets"]["targets"] == stage["target_index"] == targets
        # fake users have no test data: the same real users are evaluated
        assert run["n_test_users"] == n_test
        assert run["hyperparameters"] == clean["hyperparameters"] and run["params_from"] == "pop"
        # injecting the targets into MostPop's counts lifts them into the real users' top-5
        assert run["evaluations"]["targets"]["metrics"]["hr@5"] > clean["evaluations"]["targets"]["metrics"]["hr@5"]
    n_real = runs["pop@random-a"]["data_stages"][0]["n_real_users"]
    assert runs["pop@popular-b"]["data_stages"][0]["n_fake_users"] == 20
    assert runs["pop@random-a"]["data_stages"][0]["n_fake_users"] == round(0.2 * n_real)
    md = (tmp_path / "out" / "results.md").read_text()
    assert "pop@bandwagon-a" in md


def test_a_pattern_matching_two_applied_attacks_is_refused(tmp_path, synthetic):
    base = _config(_csv(tmp_path, synthetic))
    cfg = base.model_copy(update={"models": [ModelSpec(name="pop", data=["random-a", "bandwagon-a"])]})
    with pytest.raises(ConfigError, match="several applied"):
        run_experiment(cfg, tmp_path / "out", show_progress=False)


def _check_refits(cfg: ExperimentConfig, victims: list[str], few: tuple[str, ...]) -> None:
    """Every victim: its clean fit, then one refit per attack stage (``few``: the 3 % stages only),
    with the clean fit's hyper-parameters; APR instead warm-starts each refit from BPR-MF's refit on
    the same poisoned data, with its own clean fit's explicit settings."""
    stages = [d.name for d in cfg.data]

    def refits(victim: str) -> list[str]:
        return [s for s in stages if victim not in few or s.endswith("-0.03")]

    assert [m.key for m in cfg.models] == [x for v in victims for x in [v, *(f"{v}@{s}" for s in refits(v))]]
    models = {m.key: m for m in cfg.models}
    for m in cfg.models:
        if m.name == "apr":
            assert m.params == models["apr"].params and m.params_from is None
            assert m.init == (f"bpr@{m.data[0]}" if m.data else "bpr")
        elif m.data:
            assert m.params_from == m.name and m.data == [m.key.split("@")[1]]
    kernel = {"optimizer": "sgd", "batch_size": 1}
    for key in ("bpr", "apr"):
        assert {k: models[key].params[k] for k in kernel} == kernel
    assert models["apr"].params["factors"] == models["bpr"].params["factors"]


def test_the_poisoning_benchmark_is_a_valid_experiment():
    cfg = load_experiment(Path(__file__).resolve().parents[1] / "benchmarks" / "poisoning_ml100k.toml")
    kinds = {d.kind for d in cfg.data}
    assert kinds == {"inject-random", "inject-average", "inject-bandwagon", "inject-popular", "inject-gan"}
    assert len(cfg.data) == 20 and all(d.params["filler"] == 36 for d in cfg.data)
    assert sorted(d.params.get("fraction", d.params.get("n_fake")) for d in cfg.data) == \
        sorted([0.01, 0.03, 0.05, 50] * 5)
    _check_refits(cfg, ["pop", "itemknn", "ease", "bpr", "lightgcn", "apr", "cfgan"], ("lightgcn", "cfgan"))
    assert np.all([e.kind for e in cfg.evaluations] == ["ranking", "target-items"])


def test_victim_refits_run_in_the_pool_after_their_clean_fit_and_not_after_a_failed_one(tmp_path, synthetic):
    import json

    from advrec.errors import AdvrecError
    from advrec.experiments.runs import run_folder

    cfg = _config(_csv(tmp_path, synthetic))
    seq = {r["label"]: r for r in run_experiment(cfg, tmp_path / "seq", show_progress=False)["runs"]}
    broken = [{"name": "lightgcn", "device": "cuda:99", "epochs": 1},
              {"name": "lightgcn", "each_data": ["random-a"], "params_from": "lightgcn"}]
    both = ExperimentConfig(**{**cfg.model_dump(exclude={"models"}),
                               "models": [*(m.model_dump() for m in cfg.models), *broken]})
    # the pool fails (the sequential pass never starts), so every finished run ran in the pool
    with pytest.raises(AdvrecError, match="2 of 6 runs failed") as err:
        run_experiment(both, tmp_path / "par", show_progress=False, jobs=2)
    assert "lightgcn@random-a seed=0: not run, " in str(err.value) and "lightgcn seed=0 failed" in str(err.value)
    for label, clean in seq.items():
        f = run_folder(tmp_path / "par", cfg.datasets[0], label, 0) / "result.json"
        run = json.loads(f.read_text())
        assert run["evaluations"]["targets"]["metrics"] == clean["evaluations"]["targets"]["metrics"]


def test_stage_cache_crafts_an_attack_once(tmp_path, monkeypatch):
    from conftest import make_synthetic

    from advrec.data.splits import make_split
    from advrec.experiments.data_stages import apply_stages, make_stage
    from advrec.robust.attacks import InjectRandom

    calls = []
    real = InjectRandom.profiles

    def counting(self, data, rng):
        calls.append(self.name)
        return real(self, data, rng)

    monkeypatch.setattr(InjectRandom, "profiles", counting)
    split = make_split(make_synthetic(), "random:0.8", seed=0)
    stage = make_stage("poison", "inject-random", {"fraction": 0.1, "filler": 5})
    first, rec1 = apply_stages(split, [stage], 3, cache=tmp_path)
    again, rec2 = apply_stages(split, [stage], 3, cache=tmp_path)
    other, _ = apply_stages(split, [stage], 4, cache=tmp_path)  # another seed: crafted anew
    assert calls == ["poison", "poison"]
    assert again.train.checksum() == first.train.checksum() and again.n_users == first.n_users
    assert rec2[0]["cached"] and rec2[0]["fake_user_ids"] == rec1[0]["fake_user_ids"]
    assert other.train.checksum() != first.train.checksum()


def test_the_ml1m_poisoning_benchmark_refits_every_victim_under_every_attack():
    cfg = load_experiment(Path(__file__).resolve().parents[1] / "benchmarks" / "poisoning_ml1m.toml")
    assert {d.kind for d in cfg.data} == {"inject-random", "inject-average", "inject-bandwagon", "inject-popular",
                                          "inject-gan"}
    assert cfg.datasets == ["ml-1m-lgcn"] and cfg.seeds == [0, 1, 2, 3, 4]
    _check_refits(cfg, ["pop", "itemknn", "ease", "bpr", "apr"], ())
