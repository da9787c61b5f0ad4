"""Staged experiments: a data stage poisons the training part, models fit (one from another's
model), two evaluations run on each fitted model, and an interrupted run resumes."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advrec.errors import ConfigError
from advrec.experiments import evaluations as evaluations_mod
from advrec.experiments.config import ExperimentConfig, StageSpec, load_experiment
from advrec.experiments.runner import run_experiment
from advrec.experiments.runs import run_folder
from advrec.models.base import Recommender

BPR = {"epochs": 4, "batch_size": 64, "factors": 8, "lr": 0.05}


def _csv(tmp_path, synthetic):
    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    return str(path)


def _config(data: str) -> ExperimentConfig:
    return ExperimentConfig(
        name="staged", datasets=[data], seeds=[0], split="random:0.8", ks=[5], baseline="pop",
        data=[{"name": "poison", "kind": "inject-random", "fraction": 0.2, "filler": 3, "targets": 2}],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "targets", "kind": "target-items", "stage": "poison"}],
        tables=[{"evaluation": "test"}, {"evaluation": "targets", "metrics": ["hr@5", "ndcg@5"]}],
        models=[{"name": "pop"}, {"name": "pop", "label": "pop-poisoned", "data": ["poison"]},
                {"name": "bpr", "label": "bpr-poisoned", "data": ["poison"], **BPR},
                {"name": "bpr", "label": "bpr-continued", "data": ["poison"], "init": "bpr-poisoned",
                 "params_from": "bpr-poisoned"}],
    )


def test_poison_fit_two_evaluations_and_resume_after_an_interruption(tmp_path, synthetic, monkeypatch):
    cfg = _config(_csv(tmp_path, synthetic))
    real_run = evaluations_mod.TargetItems.run
    calls: list[str] = []

    def interrupted(self, model, ctx):
        calls.append(model.name)
        raise KeyboardInterrupt  # the process dies during the second evaluation of the first run

    monkeypatch.setattr(evaluations_mod.TargetItems, "run", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(cfg, tmp_path / "out", show_progress=False)
    first = run_folder(tmp_path / "out", cfg.datasets[0], "pop", 0)
    assert (first / "fit.json").is_file() and (first / "eval.test.json").is_file()
    assert not (first / "result.json").is_file() and calls == ["pop"]

    monkeypatch.setattr(evaluations_mod.TargetItems, "run", real_run)
    fits: list[str] = []
    real_fit = Recommender.fit

    def counting_fit(self, *args, **kwargs):
        fits.append(self.name)
        return real_fit(self, *args, **kwargs)

    monkeypatch.setattr(Recommender, "fit", counting_fit)
    resumed = run_experiment(cfg, tmp_path / "out", show_progress=False)
    # pop's fit was reused from its folder; the other three runs had not started
    assert fits.count("pop") == 1 and fits.count("bpr") == 2
    monkeypatch.setattr(Recommender, "fit", real_fit)
    fresh = run_experiment(cfg, tmp_path / "again", show_progress=False)
    for a, b in zip(resumed["runs"], fresh["runs"], strict=True):
        assert a["evaluations"].keys() == b["evaluations"].keys() == {"test", "targets"}
        for name in ("test", "targets"):
            assert a["evaluations"][name]["metrics"] == pytest.approx(b["evaluations"][name]["metrics"])

    runs = {r["label"]: r for r in resumed["runs"]}
    poison = runs["pop-poisoned"]["data_stages"][0]
    n_real = runs["pop"]["data"]["split"]["n_users"]
    assert poison["n_fake_users"] == round(0.2 * n_real) and poison["n_real_users"] == n_real
    assert runs["pop"]["data_stages"] == [] and runs["pop"]["data"]["split"]["n_users"] == n_real
    # the same targets are measured on the clean and the poisoned model; injecting them lifts MostPop's hits
    assert runs["pop"]["evaluations"]["targets"]["targets"] == poison["target_index"]
    assert runs["pop-poisoned"]["evaluations"]["targets"]["metrics"]["hr@5"] > \
        runs["pop"]["evaluations"]["targets"]["metrics"]["hr@5"]
    # the warm-started model took the source's hyper-parameters and started from its fitted model
    assert runs["bpr-continued"]["hyperparameters"] == runs["bpr-poisoned"]["hyperparameters"]
    assert runs["bpr-continued"]["init"]["model"] == "bpr"
    # fake users have no test data: both evaluations are over real users only
    assert runs["pop-poisoned"]["n_test_users"] == runs["pop"]["n_test_users"]
    md = (tmp_path / "out" / "results.md").read_text()
    assert "/ targets" in md and "hr@5" in md
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert set(saved["tables"]) == {cfg.datasets[0], f"{cfg.datasets[0]} / targets"}


def test_a_changed_evaluation_list_reuses_the_fitted_model(tmp_path, synthetic, monkeypatch):
    data = _csv(tmp_path, synthetic)
    base = ExperimentConfig(name="e", datasets=[data], seeds=[0], split="random:0.8", ks=[5],
                            models=[{"name": "bpr", **BPR}])
    run_experiment(base, tmp_path / "out", show_progress=False)
    fits: list[str] = []
    real_fit = Recommender.fit
    monkeypatch.setattr(Recommender, "fit", lambda self, *a, **k: fits.append(self.name) or real_fit(self, *a, **k))
    hits = StageSpec(name="hits", kind="target-items", items=[1000, 1001])
    more = base.model_copy(update={"evaluations": [*base.evaluations, hits]})
    out = run_experiment(more, tmp_path / "out", show_progress=False)
    assert fits == []  # only the new evaluation ran
    assert set(out["runs"][0]["evaluations"]) == {"test", "hits"}


@pytest.mark.parametrize(("toml", "message"), [
    ('[[data]]\nname = "p"\nkind = "inject-random"\nfracton = 0.1\n', "fracton"),
    ('[[data]]\nname = "p"\nkind = "inject-randm"\n', "unknown kind"),
    ('[[evaluations]]\nname = "t"\nkind = "target-items"\nstage = "nope"\n', "not a data stage"),
    ('[[tables]]\nevaluation = "nope"\n', "not one of"),
])
def test_experiment_files_with_bad_stages_are_refused_naming_the_file(tmp_path, toml, message):
    f = tmp_path / "exp.toml"
    f.write_text('datasets = ["x"]\n[[models]]\nname = "pop"\n' + toml)
    with pytest.raises(ConfigError, match=message) as err:
        load_experiment(f)
    assert str(f) in str(err.value)


@pytest.mark.parametrize(("model", "message"), [
    ({"name": "pop", "data": ["nope"]}, "not defined"),
    ({"name": "pop", "init": "pop"}, "another model"),
    ({"name": "pop", "params_from": "ghost"}, "another model"),
])
def test_dangling_model_references_are_refused(tmp_path, model, message):
    f = tmp_path / "exp.toml"
    lines = [f"{k} = {json.dumps(v)}" for k, v in model.items()]
    f.write_text('datasets = ["x"]\n[[models]]\n' + "\n".join(lines) + "\n")
    with pytest.raises(ConfigError, match=message):
        load_experiment(f)


def test_the_readme_example_is_a_valid_experiment(tmp_path):
    from pathlib import Path

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = text[text.index("## Experiments in stages"):]
    start = block.index("```toml") + len("```toml")
    f = tmp_path / "readme.toml"
    f.write_text(block[start:block.index("```", start)])
    cfg = load_experiment(f)
    assert [m.key for m in cfg.models] == ["pop", "pop-attacked", "bpr-clean", "bpr-more"]
    assert [e.kind for e in cfg.evaluations] == ["ranking", "target-items", "attribute"]


def test_tuning_a_model_without_search_space_is_refused_at_load(tmp_path):
    f = tmp_path / "exp.toml"
    f.write_text('datasets = ["x"]\n[[models]]\nname = "pop"\ntune = 5\n')
    with pytest.raises(ConfigError, match="no search space"):
        load_experiment(f)


def test_a_model_that_cannot_fold_in_is_refused_before_fitting_on_cold_users(tmp_path, synthetic, monkeypatch):
    from advrec.errors import CapabilityError
    from advrec.experiments.pipeline import train_and_evaluate

    fits: list[str] = []
    real_fit = Recommender.fit
    monkeypatch.setattr(Recommender, "fit", lambda self, *a, **k: fits.append(self.name) or real_fit(self, *a, **k))
    with pytest.raises(CapabilityError, match="mode='user'"):
        train_and_evaluate("cfgan", _csv(tmp_path, synthetic), split="cold-user:0.3:2", params={"epochs": 1})
    assert fits == []
    from advrec.experiments.pipeline import load_cached, resolve_split

    data = _csv(tmp_path, synthetic)
    res = train_and_evaluate("cfgan", data, split="cold-user:0.3:2",
                             params={"epochs": 1, "mode": "user", "g_hidden": [8], "d_hidden": [8]})
    split = resolve_split(load_cached(data), "cold-user:0.3:2", 0)
    with_test = np.intersect1d(split.cold_users, split.test.users)
    np.testing.assert_array_equal(res.users, with_test)  # the metrics are over the cold users only


def test_cold_users_are_folded_in_with_their_side_features(synthetic):
    from advrec.data.splits import make_split
    from advrec.experiments.evaluations import rank_test
    from advrec.models import create

    split = make_split(synthetic, "cold-user:0.3:2", seed=0)
    fit_data = split.train_full()
    model = create("grouppop", columns=["gender"], shrink=0.0).fit(fit_data)
    with_features = rank_test(model, split, fit_data, (5,)).result
    model.user_features_ = None  # the same model without the demographics: global popularity for everyone
    without = rank_test(model, split, fit_data, (5,)).result
    np.testing.assert_array_equal(with_features.users, without.users)
    assert not np.array_equal(with_features.per_user["ndcg@5"], without.per_user["ndcg@5"])


def test_a_saved_fit_is_reused_when_only_inert_options_differ(tmp_path, synthetic, monkeypatch):
    from advrec.experiments.pipeline import train_and_evaluate

    data, out = _csv(tmp_path, synthetic), tmp_path / "run"
    first = train_and_evaluate("bpr", data, params={**BPR, "adv_weight": 1.0}, out=out)
    fits: list[str] = []
    real_fit = Recommender.fit
    monkeypatch.setattr(Recommender, "fit", lambda self, *a, **k: fits.append(self.name) or real_fit(self, *a, **k))
    again = train_and_evaluate("bpr", data, params={**BPR, "adv_weight": 0.3}, out=out)  # no adversary: inert
    assert fits == [] and again.record["metrics"] == first.record["metrics"]
    train_and_evaluate("bpr", data, params={**BPR, "lr": 0.01}, out=out)  # a real change refits
    assert fits == ["bpr"]
