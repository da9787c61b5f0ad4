"""The shared training loop: early stopping, callbacks, checkpoints and resume."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest
import torch

from advrec.errors import ConfigError, ModelFileError
from advrec.train.checkpoint import (
    flatten_optimizer,
    load_checkpoint,
    restore_optimizer,
    rng_json,
    rng_tensors,
    set_rng,
)
from advrec.train.loop import LoopSettings, parse_metric, train_loop


class Toy:
    """A 3-weight regression that uses the loop generator and the global RNGs."""

    name = "toy"

    def __init__(self) -> None:
        self.history: list[dict[str, float]] = []
        self.w = torch.nn.Parameter(torch.zeros(3))
        self.opt = torch.optim.Adam([self.w], lr=0.1)
        self.snapshots: dict[int, torch.Tensor] = {}
        self.epoch = 0
        self.changed = 0

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        target = torch.tensor([1.0, -2.0, 0.5]) + torch.randn(3, generator=generator)
        target = target + 0.1 * torch.randn(3) + 0.01 * float(np.random.rand()) + 0.01 * random.random()
        loss = ((self.w - target) ** 2).sum()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        self.epoch = epoch
        self.snapshots[epoch] = self.w.detach().clone()
        return {"loss": loss.item()}

    def train_tensors(self) -> dict[str, torch.Tensor]:
        return {"w": self.w}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"main": self.opt}

    def weights_changed(self) -> None:
        self.changed += 1


def scripted(scores: dict[int, float]):
    return lambda model: scores[model.epoch]


class Stopper:
    def __init__(self, at: int) -> None:
        self.at, self.calls = at, []

    def on_epoch_end(self, model, epoch, logs):
        self.calls.append((epoch, dict(logs)))
        return epoch == self.at


class Crash:
    def __init__(self, at: int) -> None:
        self.at = at

    def on_epoch_end(self, model, epoch, logs):
        if epoch == self.at:
            raise KeyboardInterrupt


def test_runs_all_epochs_and_logs():
    m = Toy()
    res = train_loop(m, LoopSettings(epochs=4, seed=1))
    assert [h["epoch"] for h in m.history] == [1, 2, 3, 4]
    assert all({"loss", "seconds"} <= set(h) for h in m.history)
    assert res.last_epoch == 4 and res.best_epoch is None and not res.stopped_early
    # without validation the final weights are kept
    torch.testing.assert_close(m.w.detach(), m.snapshots[4], rtol=0, atol=0)


def test_early_stopping_restores_best_epoch():
    m = Toy()
    scores = {1: 0.1, 2: 0.5, 3: 0.4, 4: 0.45, 5: 0.9, 6: 1.0}
    res = train_loop(m, LoopSettings(epochs=6, patience=2), validate=scripted(scores))
    assert res.stopped_early and res.last_epoch == 4
    assert res.best_epoch == 2 and res.best_score == 0.5
    assert [h["valid_ndcg@20"] for h in m.history] == [0.1, 0.5, 0.4, 0.45]
    torch.testing.assert_close(m.w.detach(), m.snapshots[2], rtol=0, atol=0)
    assert not torch.equal(m.snapshots[2], m.snapshots[4])
    assert m.changed == 1


def test_best_after_skips_a_pretraining_phase():
    m = Toy()
    scores = {1: 0.1, 2: 0.9, 3: 0.4, 4: 0.45, 5: 0.3, 6: 0.2}
    res = train_loop(m, LoopSettings(epochs=6, patience=2, best_after=2), validate=scripted(scores))
    # epoch 2 scores best but lies in the phase; the best of epochs 3.. is 4, patience runs from there
    assert res.best_epoch == 4 and res.best_score == 0.45
    assert res.stopped_early and res.last_epoch == 6
    torch.testing.assert_close(m.w.detach(), m.snapshots[4], rtol=0, atol=0)


def test_min_delta_and_eval_every():
    m = Toy()
    scores = {2: 0.5, 4: 0.52, 5: 0.8}
    res = train_loop(m, LoopSettings(epochs=5, eval_every=2, min_delta=0.05), validate=scripted(scores))
    # evaluated at 2, 4 and at the last epoch 5; +0.02 at epoch 4 is no improvement
    assert ["valid_ndcg@20" in h for h in m.history] == [False, True, False, True, True]
    assert res.best_epoch == 5
    m2 = Toy()
    res2 = train_loop(m2, LoopSettings(epochs=5, eval_every=2, min_delta=0.05, patience=1),
                      validate=scripted(scores))
    assert res2.stopped_early and res2.last_epoch == 4 and res2.best_epoch == 2


def test_restore_best_off_keeps_last_weights():
    m = Toy()
    train_loop(m, LoopSettings(epochs=3, restore_best=False), validate=scripted({1: 1.0, 2: 0.0, 3: 0.0}))
    torch.testing.assert_close(m.w.detach(), m.snapshots[3], rtol=0, atol=0)


def test_callback_stops_and_sees_logs():
    m = Toy()
    cb = Stopper(at=2)
    res = train_loop(m, LoopSettings(epochs=10), callbacks=[cb])
    assert res.last_epoch == 2 and res.stopped_early
    assert [e for e, _ in cb.calls] == [1, 2]
    assert cb.calls[0][1]["loss"] == m.history[0]["loss"]


def test_same_seed_same_run_different_seed_differs():
    a, b, c = Toy(), Toy(), Toy()
    train_loop(a, LoopSettings(epochs=3, seed=5))
    train_loop(b, LoopSettings(epochs=3, seed=5))
    train_loop(c, LoopSettings(epochs=3, seed=6))
    assert torch.equal(a.w, b.w) and not torch.equal(a.w, c.w)


@pytest.mark.parametrize("with_valid", [False, True])
def test_resume_equals_uninterrupted(tmp_path, with_valid):
    scores = {1: 0.2, 2: 0.7, 3: 0.3, 4: 0.4, 5: 0.5, 6: 0.6}
    val = scripted(scores) if with_valid else None
    full = Toy()
    train_loop(full, LoopSettings(epochs=6, seed=3), validate=val)
    part = Toy()
    with pytest.raises(KeyboardInterrupt):
        train_loop(part, LoopSettings(epochs=6, seed=3, checkpoint_dir=tmp_path), validate=val,
                   callbacks=[Crash(at=4)])
    assert json.loads((tmp_path / "checkpoint.json").read_text())["state"]["epoch"] == 3
    resumed = Toy()
    res = train_loop(resumed, LoopSettings(epochs=6, seed=3, checkpoint_dir=tmp_path), validate=val)
    assert res.resumed_from == 3
    torch.testing.assert_close(resumed.w.detach(), full.w.detach(), rtol=0, atol=0)
    drop = lambda hs: [{k: v for k, v in h.items() if k != "seconds"} for h in hs]
    assert drop(resumed.history) == drop(full.history)
    if with_valid:
        torch.testing.assert_close(resumed.w.detach(), full.snapshots[2], rtol=0, atol=0)
    # a finished checkpoint resumes to the same result without training again
    again = Toy()
    res = train_loop(again, LoopSettings(epochs=6, seed=3, checkpoint_dir=tmp_path), validate=val)
    assert again.snapshots == {} and torch.equal(again.w, full.w) and res.resumed_from == 6


def test_checkpoint_files_are_atomic_and_checked(tmp_path):
    m = Toy()
    train_loop(m, LoopSettings(epochs=3, checkpoint_dir=tmp_path, checkpoint_every=2))
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["checkpoint-000003.safetensors", "checkpoint.json"]
    assert not list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.pt"))
    ck = load_checkpoint(tmp_path)
    assert ck is not None and ck.state["epoch"] == 3
    assert {"model.w", "rng.torch", "rng.loop", "optim.main.0.exp_avg"} <= set(ck.tensors)
    (tmp_path / "checkpoint-000003.safetensors").write_bytes(b"garbage")
    with pytest.raises(ModelFileError, match="checksum"):
        load_checkpoint(tmp_path)
    (tmp_path / "checkpoint.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="corrupted"):
        load_checkpoint(tmp_path)
    assert load_checkpoint(tmp_path / "none") is None


def test_checkpoint_of_another_run_is_refused(tmp_path):
    train_loop(Toy(), LoopSettings(epochs=1, checkpoint_dir=tmp_path, fingerprint={"config": {"lr": 1}}))
    with pytest.raises(ConfigError, match="another run"):
        train_loop(Toy(), LoopSettings(epochs=2, checkpoint_dir=tmp_path, fingerprint={"config": {"lr": 2}}))


def test_optimizer_flatten_round_trip():
    p = torch.nn.Parameter(torch.randn(4, 2))
    opt = torch.optim.Adam([p], lr=0.05, betas=(0.8, 0.9))
    for _ in range(3):
        opt.zero_grad()
        (p**2).sum().backward()
        opt.step()
    tensors, meta = flatten_optimizer("o", opt)
    json.dumps(meta)  # the non-tensor part is plain JSON
    assert set(tensors) == {"o.0.step", "o.0.exp_avg", "o.0.exp_avg_sq"}
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = torch.optim.Adam([q], lr=1.0)
    restore_optimizer("o", opt2, tensors, json.loads(json.dumps(meta)))
    assert opt2.param_groups[0]["lr"] == 0.05 and opt2.param_groups[0]["betas"] == (0.8, 0.9)
    for o, prm in ((opt, p), (opt2, q)):
        o.zero_grad()
        (prm**2).sum().backward()
        o.step()
    torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_rng_state_round_trip():
    gen = torch.Generator().manual_seed(9)
    tensors, state = rng_tensors(gen), json.loads(json.dumps(rng_json()))
    first = (torch.rand(2).tolist(), torch.rand(2, generator=gen).tolist(), np.random.rand(), random.random())
    set_rng(tensors, state, gen)
    second = (torch.rand(2).tolist(), torch.rand(2, generator=gen).tolist(), np.random.rand(), random.random())
    assert first == second


def test_progress_bar_shows_loss(capsys):
    train_loop(Toy(), LoopSettings(epochs=2, show_progress=True))
    err = capsys.readouterr().err
    assert "toy" in err and "loss=" in err
    train_loop(Toy(), LoopSettings(epochs=2, show_progress=False))
    assert capsys.readouterr().err == ""


def test_parse_metric():
    assert parse_metric("ndcg@20") == ("ndcg", 20)
    for bad in ("ndcg", "@5", "recall@x", "hit@0"):
        with pytest.raises(ConfigError, match="valid_metric"):
            parse_metric(bad)
