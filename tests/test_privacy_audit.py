"""Privacy audits: attribute inference, membership inference, ``advrec privacy audit``, the ``privacy`` kind."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import roc_auc_score

from advrec.cli import main
from advrec.data import Interactions
from advrec.errors import ConfigError, DataError
from advrec.models.registry import create
from advrec.privacy.auc import auc_ci, macro_auc, weighted_auc
from advrec.privacy.inference import attribute_audit
from advrec.privacy.membership import membership_audit

torch.set_num_threads(1)


def planted(n_users: int = 240, n_items: int = 60, seed: int = 0) -> Interactions:
    """Gender planted in the items (men mostly take the first half, women the second half);
    occupation drawn independently of everything."""
    rng = np.random.default_rng(seed)
    gender = rng.choice(["M", "F"], n_users)
    half = (np.arange(n_items) >= n_items // 2)[None, :]
    p = np.where((gender == "F")[:, None] == half, 0.25, 0.06)
    mask = rng.random((n_users, n_items)) < p
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    u, i = np.nonzero(mask)
    inter = Interactions.from_records(u, i, user_ids=np.arange(n_users), item_ids=np.arange(n_items), name="planted")
    feats = pd.DataFrame({"gender": gender, "age": rng.integers(15, 70, n_users),
                          "occupation": rng.choice(["a", "b", "c"], n_users)})
    return replace(inter, user_features=feats)


# ------------------------------------------------------------------ AUC helpers
def test_weighted_auc_matches_sklearn_with_ties_and_counts():
    rng = np.random.default_rng(0)
    s = rng.integers(0, 5, 200).astype(float)  # many ties
    y = rng.random(200) < 0.4
    assert weighted_auc(s, y, np.ones((1, 200)))[0] == pytest.approx(roc_auc_score(y, s))
    counts = rng.integers(0, 3, 200)
    rep = np.repeat(np.arange(200), counts)  # a bootstrap count is the same as repeating the user
    assert weighted_auc(s, y, counts[None, :])[0] == pytest.approx(roc_auc_score(y[rep], s[rep]))


def test_macro_auc_is_one_vs_rest_mean():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 4, 300)
    p = rng.random((300, 4))
    want = roc_auc_score(y, p / p.sum(1, keepdims=True), multi_class="ovr", average="macro")
    assert macro_auc(p / p.sum(1, keepdims=True), y, np.ones((1, 300)))[0] == pytest.approx(want)


def test_bootstrap_interval_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 400)
    s = y + rng.normal(0, 1.5, 400)
    auc, ci = auc_ci(s, y, bootstrap=500, seed=3)
    assert ci[0] < auc < ci[1] and ci[1] - ci[0] < 0.2
    assert auc_ci(s, y, bootstrap=500, seed=3) == (auc, ci)


# ------------------------------------------------------------------ attribute inference
@pytest.fixture(scope="module")
def planted_audit():
    data = planted()
    model = create("puresvd", factors=8).fit(data)
    return attribute_audit(model, data, ["gender", "occupation"], seed=0, folds=4, bootstrap=300)


def test_planted_attribute_is_found(planted_audit):
    g = planted_audit["gender"]
    assert g["source"] == "embeddings" and g["attacker"] in ("logreg", "mlp")
    assert g["auc"] > 0.8 and g["ci"][0] > 0.7
    assert g["auc"] == max(g["sources"]["embeddings"][a]["auc"] for a in ("logreg", "mlp"))
    assert g["sources"]["raw"]["logreg"]["auc"] > 0.8  # the raw data carry it too
    assert g["n_users"] == 240 and g["n_classes"] == 2
    assert g["majority"] == pytest.approx(max(np.mean(planted().user_features["gender"] == v) for v in "MF"))
    assert g["sources"]["embeddings"]["logreg"]["accuracy"] > g["majority"]
    assert set(g["sources"]) == {"embeddings", "recommendations", "raw"}


def test_independent_attribute_is_not_found(planted_audit):
    o = planted_audit["occupation"]
    assert o["n_classes"] == 3
    for source in o["sources"].values():
        for got in source.values():
            assert got["ci"][0] < 0.5 < got["ci"][1]


def test_models_without_embeddings_are_audited_on_scores():
    data = planted(n_users=120, seed=1)
    got = attribute_audit(create("itemknn").fit(data), data, ["gender"], folds=3, bootstrap=50)["gender"]
    assert got["source"] == "scores" and set(got["sources"]) == {"scores", "recommendations", "raw"}
    assert got["auc"] > 0.75


def test_models_with_an_encoder_are_audited_on_their_codes():
    data = planted(n_users=120, seed=1)
    model = create("multvae", dims=[32, 8], epochs=30, batch_size=32, seed=0).fit(data)
    got = attribute_audit(model, data, ["gender"], folds=3, bootstrap=50)["gender"]
    assert got["source"] == "encodings" and set(got["sources"]) == {"encodings", "recommendations", "raw"}
    assert got["auc"] == max(got["sources"]["encodings"][a]["auc"] for a in ("logreg", "mlp"))
    assert got["auc"] > 0.75  # the planted taste reaches the 8-dimensional code


def test_raw_source_is_attacked_once_per_data(monkeypatch):
    from advrec.privacy import inference

    data = planted(n_users=120, seed=2)
    calls: list[int] = []
    real = inference.auc_ci  # once per attack computed
    monkeypatch.setattr(inference, "auc_ci", lambda p, *a, **k: calls.append(len(p)) or real(p, *a, **k))
    first = attribute_audit(create("pop").fit(data), data, ["gender"], folds=3, bootstrap=20)["gender"]
    n_first = len(calls)
    second = attribute_audit(create("itemknn").fit(data), data, ["gender"], folds=3, bootstrap=20)["gender"]
    assert n_first == 6 and len(calls) == n_first + 4  # scores and lists anew, the raw items memoised
    assert second["sources"]["raw"] == first["sources"]["raw"]
    other = attribute_audit(create("pop").fit(data), data, ["gender"], folds=4, bootstrap=20)["gender"]
    assert len(calls) == n_first + 10 and other["sources"]["raw"] != first["sources"]["raw"]  # keyed on folds


def test_attribute_audit_errors():
    data = planted(n_users=60)
    model = create("pop").fit(data)
    with pytest.raises(DataError, match="no user side table"):
        attribute_audit(model, replace(data, user_features=None), ["gender"])
    with pytest.raises(DataError, match="two classes"):
        attribute_audit(model, replace(data, user_features=data.user_features.assign(gender="M")), ["gender"])


# ------------------------------------------------------------------ membership inference
def test_overfitting_model_leaks_membership():
    from conftest import make_synthetic

    data = make_synthetic(n_users=400, n_items=120, density=0.1, seed=5)
    got = membership_audit(create("ease", l2=1e-3).fit(data), data, seed=0, bootstrap=200)
    assert got["level"] == "user" and got["n_members"] == got["n_non_members"] == 100
    assert got["auc"] > 0.9 and got["ci"][0] > 0.8
    assert got["auc"] == max(got["threshold"]["auc"], got["shadow"]["auc"])
    assert got[got["attack"]]["auc"] == got["auc"]
    assert got["target"].startswith("ease refit on a quarter")
    again = membership_audit(create("ease", l2=1e-3).fit(data), data, seed=0, bootstrap=200)
    assert again == got


def test_indistinguishable_members_give_chance():
    """Every user has the same history, so a member's scores equal a folded-in non-member's."""
    n_users, items = 80, np.arange(8)
    u = np.repeat(np.arange(n_users), len(items))
    data = Interactions.from_records(u, np.tile(items, n_users), user_ids=np.arange(n_users),
                                     item_ids=np.arange(20), name="same")
    got = membership_audit(create("ease", l2=1.0).fit(data), data, seed=1, bootstrap=100)
    for attack in ("threshold", "shadow"):
        assert got[attack]["auc"] == pytest.approx(0.5)
        assert got[attack]["ci"][0] <= 0.5 <= got[attack]["ci"][1]


def test_membership_needs_fold_in():
    from advrec.models.registry import get_model_class

    cls = get_model_class("itemgan")
    assert "fold_in" not in cls.capabilities
    with pytest.raises(ConfigError, match="fold_in"):
        membership_audit(cls(), planted(n_users=40))


# ------------------------------------------------------------------ the evaluation kind
def test_privacy_evaluation_kind_records_the_audit():
    from advrec.data import Split
    from advrec.experiments.evaluations import EvalContext, make_evaluation

    data = planted(n_users=120, seed=2)
    model = create("puresvd", factors=8).fit(data)
    ev = make_evaluation("privacy", "privacy", {"attributes": ["gender"], "folds": 3, "bootstrap": 50,
                                                "membership": True})
    out = ev.run(model, EvalContext(Split(train=data, test=data.subset(np.zeros(len(data), bool)), name="s"),
                                    data, (20,), seed=0))
    assert out.extra["gender"]["auc"] == out.result.summary["gender_auc"] > 0.75
    assert out.result.summary["membership_auc"] == out.extra["membership"]["auc"]
    assert [out.result.summary["gender_ci_low"], out.result.summary["gender_ci_high"]] == out.extra["gender"]["ci"]
    assert out.extra["model"] == "puresvd" and out.extra["seed"] == 0 and out.result.n_evaluated == 0
    with pytest.raises(ConfigError, match="unknown attribute 'salary'"):
        make_evaluation("privacy", "privacy", {"attributes": ["salary"]})


# ------------------------------------------------------------------ command line
def test_cli_errors(tmp_path, capsys):
    from conftest import make_synthetic

    assert main(["privacy", "audit", str(tmp_path / "nowhere")]) == 2
    assert "no such folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["privacy", "audit", str(tmp_path / "empty")]) == 2
    assert "not a saved advrec model" in capsys.readouterr().err
    assert main(["privacy", "audit", str(tmp_path), "--attributes", "gender,salary"]) == 2
    assert "unknown attribute 'salary'" in capsys.readouterr().err
    saved = tmp_path / "saved"
    create("pop").fit(make_synthetic()).save(saved)
    assert main(["privacy", "audit", str(saved)]) == 2
    assert "no result.json" in capsys.readouterr().err
    csv = tmp_path / "ratings.csv"  # own files carry no user side table
    make_synthetic().to_frame(external=True).rename(columns={"value": "rating"}).to_csv(csv, index=False)
    out = tmp_path / "pop"
    assert main(["train", "pop", "--data", str(csv), "--out", str(out), "--json"]) == 0
    capsys.readouterr()
    assert main(["privacy", "audit", str(out), "--attributes", "gender"]) == 2
    assert "dataset 'ratings' has no user side table" in capsys.readouterr().err


@pytest.mark.realdata
@pytest.mark.slow
def test_cli_json_contract_on_ml100k(shared_data, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ADVREC_DATA", str(shared_data))
    bpr = tmp_path / "bpr"
    assert main(["train", "bpr", "--data", "ml-100k", "--out", str(bpr), "--set", "epochs=5", "--json"]) == 0
    capsys.readouterr()
    dest = tmp_path / "audit.json"
    assert main(["privacy", "audit", str(bpr), "--attributes", "gender,age", "--bootstrap", "200",
                 "--json", "--out", str(dest)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out == json.loads(dest.read_text())
    assert out["model"] == "bpr" and out["data"] == "ml-100k" and out["seed"] == 0 and out["model_dir"] == str(bpr)
    for name in ("gender", "age"):
        got = out[name]
        assert got["source"] == "embeddings" and got["n_users"] == 943
        assert got["ci"][0] <= got["auc"] <= got["ci"][1]
        assert 0.5 < got["auc"] < 1.0 and 0 < got["majority"] < 1
    assert out["gender"]["majority"] == pytest.approx(670 / 943)  # ML-100K: 670 men, 273 women
    assert "occupation" not in out and "membership" not in out
    assert main(["privacy", "audit", str(bpr), "--attributes", "gender", "--bootstrap", "50"]) == 0
    text = capsys.readouterr().out
    assert "gender" in text and "embeddings*" in text and "raw" in text


@pytest.mark.realdata
@pytest.mark.slow
def test_cli_membership_on_ml100k(shared_data, monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("ADVREC_DATA", str(shared_data))
    ease = tmp_path / "ease"
    assert main(["train", "ease", "--data", "ml-100k", "--out", str(ease), "--json"]) == 0
    capsys.readouterr()
    assert main(["privacy", "audit", str(ease), "--attributes", "gender", "--membership", "--bootstrap", "100",
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["gender"]["source"] == "scores" and out["gender"]["n_classes"] == 2
    m = out["membership"]
    assert m["ci"][0] <= m["auc"] <= m["ci"][1] and m["attack"] in ("threshold", "shadow")
    assert m["n_members"] == m["n_non_members"] == 943 // 4


def test_privacy_evaluation_in_an_experiment_run(tmp_path, monkeypatch):
    from advrec.data.sources import Dataset
    from advrec.experiments import pipeline
    from advrec.experiments.config import ExperimentConfig
    from advrec.experiments.runner import run_experiment

    ds = Dataset("planted", planted(n_users=120, seed=3), None, {"dir": "", "files": {}, "origin": "path"}, "")
    monkeypatch.setattr(pipeline, "load_cached", lambda name: ds)
    cfg = ExperimentConfig(
        name="audit", datasets=["planted"], seeds=[0], split="random:0.8", ks=[5],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "privacy", "kind": "privacy", "attributes": ["gender"], "folds": 3, "bootstrap": 50}],
        tables=[{"evaluation": "test"}, {"evaluation": "privacy"}],
        models=[{"name": "pop"}, {"name": "puresvd", "factors": 8}],
    )
    out = run_experiment(cfg, tmp_path / "out", show_progress=False)
    runs = {r["label"]: r for r in out["runs"]}
    rec = runs["puresvd"]["evaluations"]["privacy"]
    assert rec["gender"]["source"] == "embeddings" and rec["metrics"]["gender_auc"] == rec["gender"]["auc"] > 0.7
    assert runs["pop"]["evaluations"]["privacy"]["gender"]["source"] == "scores"
    table = out["tables"]["planted / privacy"]
    assert {row["model"] for row in table} == {"pop", "puresvd"} and "gender_auc" in table[0]
    assert "gender_auc" in (tmp_path / "out" / "results.md").read_text()
    again = run_experiment(cfg, tmp_path / "out", show_progress=False)  # finished evaluations are reused
    assert again["runs"][1]["evaluations"]["privacy"] == rec
