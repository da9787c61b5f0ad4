"""The shared epoch loop of every PyTorch model: seeding, early stopping, checkpoints.

A model plugs in by following :class:`Trainable` (one method runs an epoch, two
expose its tensors and optimizers); :func:`train_loop` does the rest:

* seeds Python, NumPy and PyTorch and owns one :class:`torch.Generator` that the
  model must use for all its sampling (so a resumed run draws the same numbers);
* evaluates a validation metric every ``eval_every`` epochs (and at the last one),
  stops after ``patience`` evaluations without an improvement of more than
  ``min_delta``, and puts the best weights back at the end;
* writes an atomic checkpoint every ``checkpoint_every`` epochs and resumes from
  it, giving the same result as an uninterrupted run with the same seed;
* shows a tqdm epoch bar and calls the callbacks; per-epoch logs go to ``model.history``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch
from tqdm.auto import tqdm

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, ModelFileError, StaleCheckpointError
from advrec.train.callbacks import Callback
from advrec.train.checkpoint import (
    Checkpoint,
    flatten_optimizer,
    load_checkpoint,
    restore_optimizer,
    rng_json,
    rng_tensors,
    save_checkpoint,
    set_rng,
)
from advrec.utils.seed import seed_everything

Validator = Callable[[Any], float]


class Trainable(Protocol):
    """What :func:`train_loop` needs from a model."""

    name: str
    history: list[dict[str, float]]

    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        """Run one epoch (1-based ``epoch``) drawing randomness from ``generator``; return logs."""
        ...

    def train_tensors(self) -> dict[str, torch.Tensor]:
        """Every tensor that training changes, by name (live objects, restored in place)."""
        ...

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """The optimizers whose state must survive a checkpoint, by name."""
        ...

    def weights_changed(self) -> None:
        """Drop caches that depend on the weights (called after they are replaced)."""
        ...


@dataclass(frozen=True)
class LoopSettings:
    """Settings of :func:`train_loop` (models fill them from their config).

    Attributes
    ----------
    epochs
        Last epoch to run (1-based, inclusive).
    seed
        Seed of every RNG; the loop generator starts from it.
    patience
        Evaluations without improvement before stopping; None never stops early.
    min_delta
        An evaluation improves on the best only if larger by more than this.
    eval_every
        Evaluate every this many epochs (and always at the last epoch).
    valid_metric
        Evaluator metric, ``"<name>@<k>"``, e.g. ``"ndcg@20"``.
    restore_best
        Put the weights of the best evaluation back at the end.
    checkpoint_dir
        Where to write and resume checkpoints; None disables them.
    checkpoint_every
        Write a checkpoint every this many epochs (and when training ends).
    show_progress
        Show a tqdm bar over epochs with the loss in its postfix.
    fingerprint
        JSON-able identity of the run (model, config, data checksums); a checkpoint
        written by a run with another fingerprint is refused.
    same_run
        Decides whether a checkpoint's fingerprint is this run's (e.g. tolerating
        options added since at their defaults); None: the fingerprints must be equal.
    min_epochs
        Never stop early before this epoch (e.g. the end of a pre-training phase);
        evaluations before it still count for the best weights.
    best_after
        Evaluations at or before this epoch count neither for the best weights nor for early
        stopping (e.g. a pre-training phase the model must leave, as APR's plain BPR epochs).
    """

    epochs: int
    seed: int = 0
    patience: int | None = None
    min_delta: float = 0.0
    eval_every: int = 1
    valid_metric: str = "ndcg@20"
    restore_best: bool = True
    checkpoint_dir: str | Path | None = None
    checkpoint_every: int = 1
    show_progress: bool = False
    fingerprint: dict[str, Any] | None = None
    min_epochs: int = 0
    best_after: int = 0
    same_run: Callable[[dict[str, Any] | None], bool] | None = None


@dataclass
class LoopResult:
    """Outcome of :func:`train_loop`."""

    last_epoch: int
    best_epoch: int | None
    best_score: float | None
    stopped_early: bool
    resumed_from: int


def evaluator_validator(train: Interactions, valid: Interactions, metric: str) -> Validator:
    """A validator computing ``metric`` (e.g. ``"ndcg@20"``) with :func:`advrec.eval.evaluate`.

    Full ranking over all items with the training items excluded; only the one
    metric is computed (no beyond-accuracy metrics) to keep validation cheap.
    """
    name, k = parse_metric(metric)

    def validate(model: Any) -> float:
        from advrec.eval import evaluate  # lazy: the evaluator imports the models

        summary = evaluate(model, train, valid, ks=(k,), metrics=(name,), beyond=False).summary
        if metric not in summary:
            raise ConfigError(f"valid_metric {metric!r} is not computed; available: {sorted(summary)}")
        return float(summary[metric])

    return validate


def parse_metric(metric: str) -> tuple[str, int]:
    """Split ``"ndcg@20"`` into ``("ndcg", 20)``; raise :class:`ConfigError` otherwise."""
    name, sep, k = metric.partition("@")
    if not sep or not name or not k.isdigit() or int(k) < 1:
        raise ConfigError(f"valid_metric {metric!r}: expected '<metric>@<k>', e.g. 'ndcg@20'")
    return name, int(k)


def train_loop(
    model: Trainable,
    settings: LoopSettings,
    validate: Validator | None = None,
    callbacks: Sequence[Callback] = (),
) -> LoopResult:
    """Train ``model`` epoch by epoch under ``settings``.

    Parameters
    ----------
    model
        A :class:`Trainable` with its tensors and optimizers already built.
    settings
        Epochs, early stopping, checkpoints, progress.
    validate
        Returns the validation score (higher is better) of the model as it is;
        None disables evaluation, early stopping and best-weight restoring.
    callbacks
        Called after each epoch with ``(model, epoch, logs)``; ``True`` stops training.

    Returns
    -------
    LoopResult
        The last epoch run, the best epoch and score, and where training resumed.
    """
    seed_everything(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    live = model.train_tensors()
    st: dict[str, Any] = {"epoch": 0, "best": None, "best_epoch": None, "bad": 0, "stopped": False}
    best: dict[str, torch.Tensor] | None = None
    fingerprint = json.loads(json.dumps(settings.fingerprint)) if settings.fingerprint else None
    model.history = []
    ckpt_dir = Path(settings.checkpoint_dir) if settings.checkpoint_dir is not None else None
    if ckpt_dir is not None and (ckpt := load_checkpoint(ckpt_dir)) is not None:
        same = settings.same_run or (lambda saved: saved == fingerprint)
        best = _resume(model, ckpt, ckpt_dir, live, gen, st, same)
    resumed_from = st["epoch"]
    bar = tqdm(total=settings.epochs, initial=min(st["epoch"], settings.epochs), desc=model.name,
               unit="epoch", disable=not settings.show_progress, leave=False)
    metric_key = f"valid_{settings.valid_metric}"
    try:
        for epoch in range(st["epoch"] + 1, settings.epochs + 1):
            if st["stopped"]:
                break
            t0 = time.perf_counter()
            logs: dict[str, float] = {"epoch": epoch}
            logs.update({k: float(v) for k, v in model.train_epoch(epoch, gen).items()})
            if validate is not None and (epoch % settings.eval_every == 0 or epoch == settings.epochs):
                score = float(validate(model))
                logs[metric_key] = score
                if epoch <= settings.best_after:
                    pass
                elif st["best"] is None or score > st["best"] + settings.min_delta:
                    st.update(best=score, best_epoch=epoch, bad=0)
                    best = {k: v.detach().clone() for k, v in live.items()}
                else:
                    st["bad"] += 1
                    if (settings.patience is not None and st["bad"] >= settings.patience
                            and epoch >= settings.min_epochs):
                        st["stopped"] = True
            logs["seconds"] = time.perf_counter() - t0
            model.history.append(logs)
            for cb in callbacks:
                if cb.on_epoch_end(model, epoch, logs):
                    st["stopped"] = True
            st["epoch"] = epoch
            bar.update(1)
            bar.set_postfix({k: f"{v:.4g}" for k, v in logs.items() if k in ("loss", metric_key)})
            done = st["stopped"] or epoch == settings.epochs
            if ckpt_dir is not None and (epoch % settings.checkpoint_every == 0 or done):
                _save(model, ckpt_dir, live, best, gen, st, fingerprint)
    finally:
        bar.close()
    if settings.restore_best and best is not None:
        with torch.no_grad():
            for k, v in live.items():
                v.copy_(best[k])
        model.weights_changed()
    return LoopResult(st["epoch"], st["best_epoch"], st["best"], bool(st["stopped"]), resumed_from)


def _save(
    model: Trainable,
    d: Path,
    live: dict[str, torch.Tensor],
    best: dict[str, torch.Tensor] | None,
    gen: torch.Generator,
    st: dict[str, Any],
    fingerprint: dict[str, Any] | None,
) -> None:
    tensors = {f"model.{k}": v for k, v in live.items()}
    if best is not None:
        tensors.update({f"best.{k}": v for k, v in best.items()})
    optim_meta = {}
    for name, opt in model.optimizers().items():
        t, m = flatten_optimizer(f"optim.{name}", opt)
        tensors.update(t)
        optim_meta[name] = m
    tensors.update(rng_tensors(gen))
    state = {**st, "history": model.history, "optimizers": optim_meta, "rng": rng_json(),
             "fingerprint": fingerprint}
    save_checkpoint(d, Checkpoint(tensors, state), st["epoch"])


def _resume(
    model: Trainable,
    ckpt: Checkpoint,
    d: Path,
    live: dict[str, torch.Tensor],
    gen: torch.Generator,
    st: dict[str, Any],
    same_run: Callable[[dict[str, Any] | None], bool],
) -> dict[str, torch.Tensor] | None:
    s = ckpt.state
    if not same_run(s.get("fingerprint")):
        raise StaleCheckpointError(
            f"{d}: the checkpoint there was written by another run (different model, config or data); "
            "delete it or choose another checkpoint_dir", d)
    t = ckpt.tensors
    best: dict[str, torch.Tensor] | None = {} if s.get("best_epoch") is not None else None
    try:
        with torch.no_grad():
            for k, v in live.items():
                saved = t[f"model.{k}"]
                if saved.shape != v.shape:
                    raise ValueError(f"{k}: shape {tuple(saved.shape)} != {tuple(v.shape)}")
                v.copy_(saved)
                if best is not None:
                    best[k] = t[f"best.{k}"].to(device=v.device, dtype=v.dtype)
        for name, opt in model.optimizers().items():
            restore_optimizer(f"optim.{name}", opt, t, s["optimizers"][name])
        set_rng(t, s["rng"], gen)
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{d}: checkpoint does not fit this model ({exc})") from None
    st.update({k: s[k] for k in ("epoch", "best", "best_epoch", "bad", "stopped")})
    model.history = [dict(h) for h in s.get("history", [])]
    model.weights_changed()
    return best
