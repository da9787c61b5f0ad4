"""Interrupted experiment runs resume their fits and tuning trials from checkpoints."""

from __future__ import annotations

import json

import pytest

from advrec.data.splits import make_split
from advrec.experiments.config import ExperimentConfig
from advrec.experiments.fitting import fit_resumable
from advrec.experiments.pipeline import train_and_evaluate
from advrec.experiments.runner import run_experiment
from advrec.experiments.tuning import tune
from advrec.models import torch_base
from advrec.models.registry import create

BPR = {"batch_size": 256, "factors": 8, "eval_every": 2, "patience": None}


@pytest.fixture
def resumed(monkeypatch):
    """The epoch each fit resumed from (0: started afresh), in call order."""
    seen: list[int] = []
    real = torch_base.train_loop

    def spy(*args, **kwargs):
        out = real(*args, **kwargs)
        seen.append(out.resumed_from)
        return out

    monkeypatch.setattr(torch_base, "train_loop", spy)
    return seen


def _csv(tmp_path, synthetic):
    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    return str(path)


def test_final_fit_resumes_and_equals_an_uninterrupted_run(tmp_path, synthetic, resumed):
    data = _csv(tmp_path, synthetic)
    whole = train_and_evaluate("bpr", data, split="random:0.8", params={**BPR, "epochs": 6})
    # an "interrupted" run: the same fit stopped after 4 epochs left its checkpoint behind
    cut = train_and_evaluate("bpr", data, split="random:0.8", params={**BPR, "epochs": 4},
                             checkpoints=tmp_path / "ck", checkpoint_every=2)
    assert (tmp_path / "ck" / "final" / "checkpoint.json").is_file()
    again = train_and_evaluate("bpr", data, split="random:0.8", params={**BPR, "epochs": 6},
                               checkpoints=tmp_path / "ck", checkpoint_every=2)
    assert resumed == [0, 0, 4]
    assert again.record["metrics"] == whole.record["metrics"]
    assert cut.record["metrics"] != whole.record["metrics"]
    # the resumed run's fit time counts the 4 epochs run before the interruption as well
    assert again.record["resumed_from_epoch"] == 4 and whole.record["resumed_from_epoch"] == 0
    history = again.model.history
    assert [h["epoch"] for h in history] == list(range(1, 7))
    assert again.record["fit_seconds"] >= round(sum(h["seconds"] for h in history), 3) - 1e-3


def test_tuning_trials_resume(synthetic, tmp_path, resumed):
    split = make_split(synthetic, "random:0.7", seed=0)
    base = {**BPR, "epochs": 4}
    first = tune("bpr", split, 2, seed=0, base_params=base, checkpoints=tmp_path / "ck", checkpoint_every=2)
    assert sorted(p.name for p in (tmp_path / "ck").iterdir() if p.is_dir()) == ["trial0", "trial1"]
    for record in (tmp_path / "ck").glob("trial*.json"):  # interrupted before the trials' records were written
        record.unlink()
    again = tune("bpr", split, 2, seed=0, base_params=base, checkpoints=tmp_path / "ck", checkpoint_every=2)
    assert resumed == [0, 0, 4, 4]  # the rerun found both fits finished in their checkpoints
    assert again == first


def test_finished_trials_are_taken_from_their_records_without_a_fit(synthetic, tmp_path, resumed):
    import shutil

    split = make_split(synthetic, "random:0.7", seed=0)
    base = {**BPR, "epochs": 4}
    first = tune("bpr", split, 2, seed=0, base_params=base, checkpoints=tmp_path / "ck", checkpoint_every=2)
    assert sorted(p.name for p in (tmp_path / "ck").glob("trial*.json")) == ["trial0.json", "trial1.json"]
    for folder in ("trial0", "trial1"):  # weights gone (as after --pack / --unpack): the records remain
        shutil.rmtree(tmp_path / "ck" / folder)
    again = tune("bpr", split, 2, seed=0, base_params=base, checkpoints=tmp_path / "ck", checkpoint_every=2)
    assert resumed == [0, 0]  # only the first search fit anything
    assert again == first
    # a record of other settings (here: another epoch budget) does not stand for this search's trial
    tune("bpr", split, 1, seed=0, base_params={**BPR, "epochs": 2}, checkpoints=tmp_path / "ck", checkpoint_every=2)
    assert resumed == [0, 0, 0]  # fit afresh, and its record replaces the other one
    assert json.loads((tmp_path / "ck" / "trial0.json").read_text())["key"]["params"]["epochs"] == 2


def test_experiment_removes_checkpoints_of_finished_runs(tmp_path, synthetic):
    cfg = ExperimentConfig(datasets=[_csv(tmp_path, synthetic)], split="random:0.8",
                           models=[{"name": "bpr", **BPR, "epochs": 2}], checkpoint_every=1)
    run_experiment(cfg, tmp_path / "res", show_progress=False)
    run_dir = next((tmp_path / "res").glob("*/bpr/seed0"))
    assert (run_dir / "result.json").is_file() and not (run_dir / "checkpoints").exists()


def test_bad_checkpoint_every(synthetic):
    from advrec.errors import ConfigError

    with pytest.raises(ConfigError, match="checkpoint_every"):
        fit_resumable(create("bpr", **BPR, epochs=1), synthetic, checkpoints="x", every=0)


def test_status_reports_done_in_progress_and_pending(tmp_path, synthetic, capsys):
    from advrec.cli import main
    from advrec.experiments.status import experiment_status

    data = _csv(tmp_path, synthetic)
    exp = tmp_path / "exp.toml"
    exp.write_text(f'datasets = ["{data}"]\nseeds = [0, 1]\nsplit = "random:0.8"\n'
                   f'[[models]]\nname = "pop"\n[[models]]\nname = "bpr"\nepochs = 4\nbatch_size = 256\n')
    cfg = ExperimentConfig(datasets=[data], seeds=[0, 1], split="random:0.8",
                           models=[{"name": "pop"}, {"name": "bpr", "epochs": 4, "batch_size": 256}])
    run_experiment(cfg.model_copy(update={"seeds": [0]}), tmp_path / "res", show_progress=False)
    # seed 1's bpr was interrupted after 2 epochs: its checkpoint is all there is
    run_dir = next((tmp_path / "res").glob("*/bpr")) / "seed1"
    train_and_evaluate("bpr", data, split="random:0.8", seed=1, params={"epochs": 2, "batch_size": 256},
                       checkpoints=run_dir / "checkpoints", checkpoint_every=1)
    rows = {(r["model"], r["seed"]): r for r in experiment_status(cfg, tmp_path / "res")}
    assert rows[("pop", 0)]["state"] == "done" and rows[("pop", 0)]["detail"].startswith("ndcg@20 ")
    assert rows[("bpr", 1)]["state"] == "in progress" and rows[("bpr", 1)]["detail"] == "final: epoch 2"
    assert rows[("pop", 1)]["state"] == "pending"
    assert main(["run", str(exp), "--out", str(tmp_path / "res"), "--status"]) == 0
    out = capsys.readouterr().out
    assert "| bpr | 1 | in progress | final: epoch 2 |" in out and "2 done, 1 in progress, 1 pending" in out


def test_seconds_before_resume_counts_the_epochs_run_before_the_interruption():
    from types import SimpleNamespace

    from advrec.experiments.stages import _seconds_before_resume

    history = [{"epoch": e, "seconds": 100.0 * e} for e in range(1, 7)]
    resumed = SimpleNamespace(loop_result_=SimpleNamespace(resumed_from=4), history=history)
    assert _seconds_before_resume(resumed) == 100.0 + 200.0 + 300.0 + 400.0
    fresh = SimpleNamespace(loop_result_=SimpleNamespace(resumed_from=0), history=history)
    assert _seconds_before_resume(fresh) == 0.0
    assert _seconds_before_resume(SimpleNamespace()) == 0.0  # models without a training loop


def test_a_checkpoint_of_earlier_settings_of_a_run_is_replaced_not_fatal(tmp_path, synthetic, capsys):
    from advrec.experiments.runs import run_folder

    data = _csv(tmp_path, synthetic)
    cfg = ExperimentConfig(datasets=[data], seeds=[0], split="random:0.8",
                           models=[{"name": "bpr", **BPR, "epochs": 4, "factors": 16}])
    # an interrupted run of this model with other settings (8 factors) left its checkpoint behind
    ck = run_folder(tmp_path / "res", data, "bpr", 0) / "checkpoints"
    train_and_evaluate("bpr", data, split="random:0.8", params={**BPR, "epochs": 2}, checkpoints=ck,
                       checkpoint_every=1)
    got = run_experiment(cfg, tmp_path / "res", show_progress=False)["runs"][0]
    assert got["hyperparameters"]["factors"] == 16 and got["resumed_from_epoch"] == 0
    assert "checkpoint of earlier settings of this run; removed" in capsys.readouterr().err
    fresh = run_experiment(cfg, tmp_path / "fresh", show_progress=False)["runs"][0]
    assert got["metrics"] == fresh["metrics"]


def test_status_lists_trials_in_number_order_and_trials_known_by_their_record(tmp_path):
    from advrec.experiments.status import _checkpointed_fits

    for name, state in [("trial10", {"epoch": 5}), ("trial2", {"epoch": 7, "best": 0.5, "best_epoch": 5,
                                                                 "stopped": True}), ("final", {"epoch": 3})]:
        (tmp_path / name).mkdir()
        (tmp_path / name / "checkpoint.json").write_text(json.dumps({"state": state}))
    (tmp_path / "trial1.json").write_text(json.dumps({"value": 0.25}))
    (tmp_path / "trial3.json").write_text("{broken")
    assert _checkpointed_fits(tmp_path) == [
        "trial1: finished, valid 0.2500", "trial2: epoch 7, best valid 0.5000 at 5 (stopped early)",
        "trial3: unreadable trial record", "trial10: epoch 5", "final: epoch 3"]
