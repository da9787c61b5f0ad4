import pytest

import advrec.experiments.evaluations as evaluations_mod
from advrec.data.splits import make_split
from advrec.errors import ConfigError, LeakageError
from advrec.experiments.tuning import search_space, tunable, tune, tuning_settings
from advrec.models.registry import available, get_model_class


@pytest.mark.parametrize("name", available())
def test_every_model_is_untunable_or_its_space_samples_config_fields(name):
    import optuna

    space = search_space(name)
    klass = get_model_class(name)
    fields = klass.config_class.model_fields
    assert set(tuning_settings(name)) <= set(fields), (name, set(tuning_settings(name)) - set(fields))
    if space is None:
        assert not tuning_settings(name)  # fixed trial settings without a space would be unused
        return
    for seed in range(3):  # a few draws: categorical and log ranges cover different values
        params = space(optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed)).ask())
        assert params and set(params) <= set(fields), (name, set(params) - set(fields))
        klass(**{**params, **tuning_settings(name)})  # every sampled value passes validation


def test_search_spaces_live_on_the_model_classes():
    assert set(tunable()) >= {"ease", "itemknn", "puresvd", "slim", "bpr", "lightgcn", "multvae", "irgan", "cfgan"}
    assert "pop" not in tunable()
    # iterative models stop early while tuning; the others have nothing to fix
    assert tuning_settings("bpr")["patience"] >= 1 and tuning_settings("cfgan")["epochs"] >= 1
    assert tuning_settings("ease") == {}


def test_tune_scores_validation_never_test(synthetic, monkeypatch):
    split = make_split(synthetic, "random:0.7", seed=0)
    seen = []
    real = evaluations_mod.evaluate

    def spy(model, train, test, **kw):
        seen.append(test.checksum())
        return real(model, train, test, **kw)

    monkeypatch.setattr(evaluations_mod, "evaluate", spy)  # what tuning scores with
    best, trials = tune("itemknn", split, 4, seed=0)
    assert len(trials) == 4 and len(seen) == 4
    assert set(seen) == {split.valid.checksum()}
    assert split.test.checksum() not in seen
    assert best["k"] == max(trials, key=lambda t: t["value"])["params"]["k"]


def test_tune_iterative_sets_epochs_from_early_stopping(synthetic):
    split = make_split(synthetic, "random:0.7", seed=0)
    best, trials = tune("bpr", split, 2, seed=0, base_params={"epochs": 10, "eval_every": 2, "batch_size": 256})
    assert 2 <= best["epochs"] <= 10 and best["epochs"] % 2 == 0
    assert all(t["selected"]["epochs"] % 2 == 0 for t in trials)
    assert all(t["selected"]["epochs"] <= t["epochs_run"] <= 10 and t["train_seconds"] > 0 for t in trials)


def test_tune_errors(synthetic):
    split = make_split(synthetic, "random:0.7", seed=0, valid_ratio=0)
    with pytest.raises(LeakageError, match="no validation"):
        tune("itemknn", split, 2)
    with pytest.raises(ConfigError, match="no search space"):
        tune("pop", make_split(synthetic, "random:0.7"), 2)


def test_fixed_parameters_are_not_searched(synthetic):
    split = make_split(synthetic, "random:0.7", seed=0)
    best, trials = tune("itemknn", split, 3, seed=0, base_params={"k": 7})
    assert best["k"] == 7
    # the record shows what a trial used: the overridden sampled k is not reported
    assert all("k" not in t["params"] and "shrink" in t["params"] for t in trials)


def test_tuned_list_parameters_come_back_as_lists(synthetic):
    split = make_split(synthetic, "random:0.7", seed=0)
    best, _trials = tune("cfgan", split, 2, seed=0,
                        base_params={"epochs": 2, "eval_every": 1, "d_hidden": [8], "g_steps": 1, "d_steps": 1})
    assert isinstance(best["g_hidden"], list) and best["g_hidden"][0] in (200, 400, 800)
    get_model_class("cfgan")(**best)


def test_tuning_records_the_scores_of_the_candidates_a_fit_chose_among(synthetic):
    split = make_split(synthetic, "random:0.7", seed=0)
    fixed = {"epochs": 2, "eval_every": 1, "d_hidden": [8], "g_hidden": [16], "g_steps": 1, "d_steps": 1,
             "mode": "item", "prior": "ease", "prior_l2": 50.0}
    best, trials = tune("cfgan", split, 1, seed=0, base_params=fixed)
    (trial,) = trials
    grid = trial["selection_scores"]["prior_weight"]
    assert len(grid) == 21 and trial["selected"]["prior_weight"] == best["prior_weight"]
    assert grid[f"{best['prior_weight']:g}"] == max(grid.values())
    # the trial's value is the chosen blend's validation score
    assert trial["value"] == pytest.approx(max(grid.values()), abs=1e-9)
    # models that choose nothing on a grid report nothing
    _, plain = tune("itemknn", split, 1, seed=0)
    assert "selection_scores" not in plain[0]


def test_tuning_on_a_cold_item_split_scores_the_cold_setting(synthetic):
    from advrec.data.splits import carve_validation, make_split
    from advrec.eval.cold import evaluate_cold_items
    from advrec.experiments.tuning import _validation_score
    from advrec.models import create

    split = carve_validation(make_split(synthetic, "cold-item:0.2", seed=0, valid_ratio=0.0), 0.2, seed=0)
    tuning = split.tuning()
    model = create("contentknn").fit(tuning.train)
    settings = evaluate_cold_items(model, tuning.train, tuning.test, tuning.cold_items, ks=(5,))
    assert settings["cold"].summary["ndcg@5"] != settings["all"].summary["ndcg@5"]
    assert _validation_score(model, tuning, "ndcg@5") == settings["cold"].summary["ndcg@5"]
