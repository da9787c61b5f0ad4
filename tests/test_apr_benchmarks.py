"""The APR benchmark files (benchmarks/apr_*.toml): valid, warm-started from the tuned BPR-MF / LightGCN,
the ablation identical but for the adversarial term, and the perturbation grid of the issue."""

from __future__ import annotations

from pathlib import Path

import pytest

from advrec.experiments.config import load_experiment
from advrec.models.registry import default_params

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
#: (file, reference model, adversarial model, the reference's hyper-parameters the warm start repeats)
FILES = [
    ("apr_ml100k_cfgan.toml", "bpr", "apr", ("factors", "lr", "l2", "batch_size")),
    ("apr_lightgcn_ml100k_cfgan.toml", "lightgcn", "apr-lightgcn", ("factors", "layers", "lr", "l2", "batch_size")),
]
EPS = [0.25, 0.5, 1.0, 2.0]


@pytest.mark.parametrize(("file", "ref", "adv", "shared"), FILES)
def test_apr_benchmark_warm_starts_from_the_reference_with_its_tuned_values(file, ref, adv, shared):
    cfg = load_experiment(BENCH / file)
    (dataset,) = cfg.datasets
    models = {m.key: m for m in cfg.models}
    assert list(models) == [ref, adv, f"{adv}-noadv"] and cfg.baseline == ref
    assert models[ref].name == ref and not models[ref].params  # the reference runs its tuned defaults
    tuned = default_params(ref, dataset)
    assert tuned, f"{ref} has no tuned defaults on {dataset}"
    full = {"factors": 64, **tuned}  # LightGCN's tuned entries leave factors at the config default
    for key in (adv, f"{adv}-noadv"):
        m = models[key]
        assert m.name == adv and m.init == ref and m.params_from is None and not m.tune
        assert {k: m.params[k] for k in shared} == {k: full[k] for k in shared}, key
    on, off = models[adv].params, models[f"{adv}-noadv"].params
    assert off.pop("adversarial") is False and on.get("adversarial", True) is True
    assert {k: v for k, v in on.items() if k != "adversarial"} == off  # the same schedule


@pytest.mark.parametrize(("file", "ref", "adv", "shared"), FILES)
def test_apr_benchmark_evaluates_clean_then_fgsm_and_random_at_the_same_budgets(file, ref, adv, shared):
    cfg = load_experiment(BENCH / file)
    evs = cfg.evaluations
    assert (evs[0].name, evs[0].kind) == ("test", "ranking") and cfg.ks == [20]
    grid = sorted((e.params["attack"], e.params["eps"]) for e in evs[1:] if e.kind == "perturb")
    assert grid == sorted((a, e) for a in ("fgsm", "random") for e in EPS)
    assert all(e.name == f"{e.params['attack']}-{e.params['eps']}" for e in evs[1:])
    assert cfg.seeds == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(("file", "ref", "adv", "shared"), FILES[:1])
def test_apr_epochs_are_the_adversarial_part_of_the_validation_tuned_schedule(file, ref, adv, shared):
    """With ``init`` every APR epoch is adversarial; tuning ran from scratch with ``pretrain_epochs`` =
    BPR's epochs, where ``epochs`` counts both. Checked once ``[apr."<dataset>"]`` is tuned."""
    cfg = load_experiment(BENCH / file)
    (dataset,) = cfg.datasets
    tuned = default_params("apr", dataset)
    if "eps" not in tuned:
        pytest.skip(f"no tuned APR defaults on {dataset} yet")
    params = next(m for m in cfg.models if m.key == adv).params
    assert tuned["pretrain_epochs"] == default_params("bpr", dataset)["epochs"]
    assert params["epochs"] == tuned["epochs"] - tuned["pretrain_epochs"] > 0
    assert (params["eps"], params["reg_adv"]) == (tuned["eps"], tuned["reg_adv"])


KERNEL_FILES = sorted(BENCH.glob("apr_kernel_*.toml"))


@pytest.mark.parametrize("file", KERNEL_FILES, ids=lambda f: f.stem)
def test_kernel_benchmark_and_apr_defaults_are_one_protocol(file):
    """The kernel files: APR warm-started from the kernel BPR-MF, the control the same schedule without
    the adversarial term; where ``[apr."<dataset>"]`` holds the kernel protocol (``adv_lr``), one
    ``advrec train apr`` fit runs exactly that schedule: BPR-MF's epochs at its lr as pre-training."""
    cfg = load_experiment(file)
    (dataset,) = cfg.datasets
    m = {x.key: x for x in cfg.models}
    assert list(m) == ["bpr-kernel", "apr", "apr-noadv"] and cfg.baseline == "bpr-kernel"
    bpr, apr, off = m["bpr-kernel"].params, dict(m["apr"].params), dict(m["apr-noadv"].params)
    assert m["apr"].init == m["apr-noadv"].init == "bpr-kernel"
    assert off.pop("adversarial") is False and {k: v for k, v in apr.items() if k not in ("eps", "reg_adv")} == off
    for p in (bpr, apr):
        assert (p["optimizer"], p["batch_size"]) == ("sgd", 1)
    grid = sorted((e.params["attack"], e.params["eps"]) for e in cfg.evaluations if e.kind == "perturb")
    assert grid == sorted((a, e) for a in ("fgsm", "random") for e in EPS)  # the curve
    assert all(e.name == f"{e.params['attack']}-{e.params['eps']}" for e in cfg.evaluations if e.kind == "perturb")
    assert {k: apr[k] for k in ("factors", "l2")} == {k: bpr[k] for k in ("factors", "l2")}
    tuned = default_params("apr", dataset)
    if "adv_lr" not in tuned:
        pytest.skip(f"[apr.{dataset!r}] is not the kernel protocol")
    assert tuned == {"optimizer": "sgd", "batch_size": 1, "factors": bpr["factors"], "l2": bpr["l2"], "lr": bpr["lr"],
                     "pretrain_epochs": bpr["epochs"], "epochs": bpr["epochs"] + apr["epochs"],
                     "adv_lr": apr["lr"], "eps": apr["eps"], "reg_adv": apr["reg_adv"]}
