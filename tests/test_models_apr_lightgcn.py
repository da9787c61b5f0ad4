"""APR on LightGCN: the ablation is LightGCN, the adversarial term changes training, warm starts."""

from __future__ import annotations

import json

import pytest
import torch

from advrec.errors import CapabilityError
from advrec.models import Recommender, create

FAST = {"epochs": 4, "factors": 8, "layers": 2, "batch_size": 64, "lr": 0.01}


def test_without_the_adversarial_term_it_is_lightgcn(synthetic):
    plain = create("lightgcn", **FAST).fit(synthetic)
    for params in ({"adversarial": False}, {"pretrain_epochs": FAST["epochs"]}):
        ablation = create("apr-lightgcn", **FAST, **params).fit(synthetic)
        assert torch.equal(ablation.ego, plain.ego), params
        assert ablation.history[-1]["loss"] == plain.history[-1]["loss"]


def test_the_adversarial_term_changes_training(synthetic):
    plain = create("lightgcn", **FAST).fit(synthetic)
    apr = create("apr-lightgcn", **FAST, eps=0.5, reg_adv=1.0, pretrain_epochs=2).fit(synthetic)
    assert not torch.equal(apr.ego, plain.ego)
    # the first two epochs are plain LightGCN, then the loss includes the (larger) adversarial BPR term
    assert [h["loss"] for h in apr.history[:2]] == [h["loss"] for h in plain.history[:2]]
    assert all(a["loss"] > p["loss"] for a, p in zip(apr.history[2:], plain.history[2:], strict=True))


def test_warm_start_from_lightgcn_save_and_load(synthetic, tmp_path):
    init = create("lightgcn", **FAST).fit(synthetic)
    frozen = create("apr-lightgcn", **{**FAST, "epochs": 1, "lr": 1e-12}).fit(synthetic, init=init)
    torch.testing.assert_close(frozen.ego, init.ego, rtol=0, atol=1e-6)
    loaded = Recommender.load(frozen.save(tmp_path / "apr"))
    assert loaded.name == "apr-lightgcn" and loaded.config.eps == frozen.config.eps
    torch.testing.assert_close(loaded.score([0, 1]), frozen.score([0, 1]))
    with pytest.raises(CapabilityError, match="cannot start from a 'bpr'"):
        create("apr-lightgcn", **FAST).fit(synthetic, init=create("bpr", epochs=1).fit(synthetic))


def test_experiment_warm_starts_apr_from_lightgcn_and_writes_the_perturb_evaluation(synthetic, tmp_path):
    from advrec.experiments.config import ExperimentConfig
    from advrec.experiments.runner import run_experiment
    from advrec.experiments.runs import run_folder

    data = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(data, index=False)
    cfg = ExperimentConfig(
        name="apr", datasets=[str(data)], seeds=[0], split="random:0.8", ks=[10],
        evaluations=[{"name": "test", "kind": "ranking"},
                     {"name": "fgsm", "kind": "perturb", "attack": "fgsm", "eps": 0.3}],
        models=[{"name": "lightgcn", **FAST},
                {"name": "apr-lightgcn", "init": "lightgcn", **FAST, "epochs": 2, "eps": 0.3}])
    out = run_experiment(cfg, tmp_path / "out", show_progress=False)
    runs = {r["model"]: r for r in out["runs"]}
    assert runs["apr-lightgcn"]["init"]["model"] == "lightgcn"
    for name in ("lightgcn", "apr-lightgcn"):
        folder = run_folder(tmp_path / "out", str(data), name, 0)
        record = json.loads((folder / "eval.fgsm.json").read_text())
        assert record["metrics"] == record["perturbed"] and record["eps"] == 0.3
        assert record["clean"]["ndcg@10"] == pytest.approx(runs[name]["evaluations"]["test"]["metrics"]["ndcg@10"])
