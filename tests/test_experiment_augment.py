"""Augmentation: generated records in a split, the ``augment`` data stage, evaluation of the sparsest users."""

from __future__ import annotations

import json

import numpy as np
import pytest

from advrec.data import Interactions
from advrec.data.splits import Split, load_split, save_split
from advrec.errors import ConfigError, DataError, LeakageError
from advrec.eval.groups import sparsest_users
from advrec.experiments.augment import Augment
from advrec.experiments.config import ExperimentConfig
from advrec.experiments.data_stages import make_stage
from advrec.experiments.runner import run_experiment
from advrec.experiments.runs import run_folder
from advrec.experiments.stage_base import records_like


def _records(like: Interactions, users, items) -> Interactions:
    return records_like(like, np.asarray(users), np.asarray(items), np.ones(len(users), np.float32))


def _test_pair_not_in_train(split: Split) -> tuple[int, int]:
    train = set(zip(split.train.users.tolist(), split.train.items.tolist(), strict=True))
    for u, i in zip(split.test.users.tolist(), split.test.items.tolist(), strict=True):
        if (u, i) not in train:
            return u, i
    raise AssertionError("no test pair")


def test_generated_records_join_train_may_meet_test_and_are_not_real(synthetic_split):
    u, i = _test_pair_not_in_train(synthetic_split)
    gen = _records(synthetic_split.train, [u], [i])
    with pytest.raises(LeakageError):  # as a plain training record it would be leakage
        synthetic_split.with_train(synthetic_split.train.concat(gen))
    out = synthetic_split.with_generated(gen, note="one generated pair")
    assert len(out.train) == len(synthetic_split.train) + 1 and len(out.generated) == 1
    assert out.real(out.train).checksum() == synthetic_split.train.checksum()
    assert "one generated pair" in out.meta["notes"][-1]
    with pytest.raises(DataError, match="repeat training pairs"):
        out.with_generated(_records(out.train, [out.train.users[0]], [out.train.items[0]]))


def test_a_generated_pair_that_is_also_a_validation_record_stays_real_once(synthetic_split):
    from advrec.data.splits import carve_validation

    split = carve_validation(synthetic_split, 0.2, seed=0)
    u, i = int(split.valid.users[0]), int(split.valid.items[0])
    out = split.with_generated(_records(split.train, [u], [i]))
    assert out.real(out.train).checksum() == split.train.checksum()
    full = out.real(out.train_full())
    assert len(full) == len(split.train_full())
    assert set(full.pair_keys().tolist()) == set(split.train_full().pair_keys().tolist())


def test_generated_records_survive_save_and_load(synthetic_split, tmp_path):
    u, i = _test_pair_not_in_train(synthetic_split)
    out = synthetic_split.with_generated(_records(synthetic_split.train, [u], [i]))
    back = load_split(save_split(out, tmp_path / "s"))
    assert back.generated is not None and back.generated.checksum() == out.generated.checksum()
    assert back.real(back.train).checksum() == synthetic_split.train.checksum()


def test_sparsest_users_are_the_fewest_counts_ties_by_index():
    counts = np.array([5, 1, 3, 1, 0, 2])
    np.testing.assert_array_equal(sparsest_users(counts, np.array([0, 1, 2, 3, 5]), 0.4), [1, 3])
    np.testing.assert_array_equal(sparsest_users(counts, np.array([0, 2, 5]), 0.5), [2, 5])
    np.testing.assert_array_equal(sparsest_users(counts, np.array([0, 2]), 0.01), [2])


def test_augment_adds_the_generators_best_unseen_items_for_the_sparsest_users(synthetic_split):
    stage = make_stage("aug", "augment", {"generator": "ease", "per_user": 3, "users": "sparsest:0.25"})
    out, record = stage.apply(synthetic_split, seed=0)
    train = synthetic_split.train
    counts = train.user_counts()
    chosen = sparsest_users(counts, np.flatnonzero(counts > 0), 0.25)
    gen = out.generated
    assert record["n_users_augmented"] == len(chosen) and record["records_added"] == 3 * len(chosen)
    assert set(gen.users.tolist()) == set(chosen.tolist())
    np.testing.assert_array_equal(np.bincount(gen.users, minlength=train.n_users)[chosen], 3)
    from advrec.models import create

    ease = create("ease").fit(train)
    for u in chosen[:5]:
        scores = ease.score([u])[0].numpy()
        scores[train.binary_csr[u].indices] = -np.inf
        assert set(gen.items[gen.users == u].tolist()) == set(np.argsort(-scores, kind="stable")[:3].tolist())
    assert out.test.checksum() == synthetic_split.test.checksum()
    assert set(record["diagnostics"]) == {"coverage", "real_coverage", "pop_js", "gen_pairwise", "real_pairwise"}
    assert 0 < record["diagnostics"]["coverage"] <= 1


def test_threshold_keeps_only_confident_proposals(synthetic_split):
    params = {"generator": "usergan", "params": {"epochs": 2, "g_hidden": [8], "d_hidden": [4]}, "users": "all"}
    _, everything = make_stage("a", "augment", params).apply(synthetic_split, seed=0)
    _, none = make_stage("b", "augment", {**params, "threshold": 1.01}).apply(synthetic_split, seed=0)
    assert everything["records_added"] == 10 * everything["n_users_augmented"]
    assert none["records_added"] == 0


def test_bad_users_rule_is_a_config_error():
    with pytest.raises(ConfigError, match="sparsest:F"):
        make_stage("a", "augment", {"users": "sparse:0.3"})
    assert isinstance(make_stage("a", "augment", {}), Augment)


def test_experiment_with_augmentation_evaluates_the_same_sparsest_users(tmp_path, synthetic):
    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    cfg = ExperimentConfig(
        name="aug", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[5], baseline="ease",
        data=[{"name": "aug", "kind": "augment", "generator": "ease", "per_user": 2, "users": "sparsest:0.5"}],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "sparse", "kind": "ranking", "users": "sparsest:0.25"}],
        models=[{"name": "ease"}, {"name": "ease", "label": "ease-aug", "data": ["aug"]}],
    )
    run_experiment(cfg, tmp_path / "out", show_progress=False)
    plain = run_folder(tmp_path / "out", cfg.datasets[0], "ease", 0)
    aug = run_folder(tmp_path / "out", cfg.datasets[0], "ease-aug", 0)
    a, b = (json.loads((d / "result.json").read_text()) for d in (plain, aug))
    assert b["data_stages"][0]["records_added"] > 0
    assert a["evaluations"]["sparse"]["n_users"] == b["evaluations"]["sparse"]["n_users"] < a["n_test_users"]
    def groups(r):  # the same users in the same activity groups: generated records are not activity
        return [(g["lo"], g["hi"], g["n_users"]) for g in r["activity_groups"]]

    assert groups(a) == groups(b)
