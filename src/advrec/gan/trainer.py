"""The one min-max step of every adversarial model in advrec.

A model describes its game through :class:`MinMaxProblem` (its mini-batches and
the two losses) and calls :func:`minmax_epoch` from its ``train_epoch``; the
epochs, seeding, early stopping, checkpoints, progress bar and callbacks come
from :func:`advrec.train.loop.train_loop`, which calls ``train_epoch`` (see
:class:`advrec.models.gan_base.GANRecommender`). There is no second epoch loop.

Two schedules of the alternating updates:

``"pass"``
    ``d_steps`` full passes of discriminator updates over the D mini-batches,
    then ``g_steps`` full passes of generator updates (CFGAN's original code).
``"interleaved"``
    For each group of ``g_steps`` generator mini-batches of one pass, first
    ``d_steps`` discriminator updates on the next D mini-batches (cycling
    through D passes as needed), then the ``g_steps`` generator updates
    (Goodfellow et al.'s Algorithm 1 with ``k = d_steps``).

During a discriminator update the generator's parameters are frozen
(``requires_grad=False``) and vice versa, so a loss that forgets to detach
cannot leak gradients into the other network. Optional max-norm gradient
clipping is applied per network before its optimiser step. With
``precision="bf16"`` the two losses are computed under bfloat16 autocast (the
matrix products run in bfloat16, weights, gradients and optimiser states stay
float32): faster matrix products on CPUs with AVX512-BF16 or AMX
(docs/benchmarks/cfgan_cost.md).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple, Protocol

import torch

from advrec.errors import ConfigError
from advrec.gan.losses import GANLoss


class DOut(NamedTuple):
    """What a discriminator loss returns.

    ``loss`` is minimised; the logits feed the accuracy; ``parts`` are extra
    scalars to log (averaged over the epoch, weighted by batch size).
    """

    loss: torch.Tensor
    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    parts: dict[str, torch.Tensor] | None = None


class GOut(NamedTuple):
    """What a generator loss returns: the loss, the batch size, scalars to log."""

    loss: torch.Tensor
    size: int
    parts: dict[str, torch.Tensor] | None = None


class MinMaxProblem(Protocol):
    """The game :func:`minmax_epoch` plays."""

    def d_batches(self, generator: torch.Generator) -> Iterable[Any]:
        """One pass of discriminator mini-batches (may be empty)."""
        ...

    def g_batches(self, generator: torch.Generator) -> Iterable[Any]:
        """One pass of generator mini-batches."""
        ...

    def d_loss(self, batch: Any, generator: torch.Generator) -> DOut:
        """Discriminator loss on one mini-batch."""
        ...

    def g_loss(self, batch: Any, generator: torch.Generator) -> GOut:
        """Generator loss on one mini-batch."""
        ...

    def d_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters of the discriminator (empty without one)."""
        ...

    def g_parameters(self) -> list[torch.nn.Parameter]:
        """Parameters of the generator."""
        ...


@dataclass(frozen=True)
class MinMaxSettings:
    """How :func:`minmax_epoch` alternates the two players.

    Attributes
    ----------
    d_steps, g_steps
        Discriminator and generator updates (``"interleaved"``) or passes
        (``"pass"``) per round; ``d_steps = 0`` trains the generator alone.
    schedule
        ``"pass"`` or ``"interleaved"`` (see the module docstring).
    clip_norm_d, clip_norm_g
        Max-norm of each network's whole gradient; None disables clipping.
    loss
        The objective, used for the discriminator accuracy.
    precision
        ``"fp32"``, or ``"bf16"``: losses computed under bfloat16 autocast.
    device_type
        ``"cpu"`` or ``"cuda"``: where the autocast applies.
    """

    d_steps: int = 1
    g_steps: int = 1
    schedule: Literal["pass", "interleaved"] = "pass"
    clip_norm_d: float | None = None
    clip_norm_g: float | None = None
    loss: GANLoss = field(default_factory=GANLoss)
    precision: Literal["fp32", "bf16"] = "fp32"
    device_type: str = "cpu"

    def __post_init__(self) -> None:
        if self.precision not in ("fp32", "bf16"):
            raise ConfigError(f"precision {self.precision!r}: use 'fp32' or 'bf16'")
        if self.d_steps < 0 or self.g_steps < 1:
            raise ConfigError(f"need d_steps >= 0 and g_steps >= 1, got {self.d_steps} and {self.g_steps}")
        if self.schedule not in ("pass", "interleaved"):
            raise ConfigError(f"schedule {self.schedule!r}: use 'pass' or 'interleaved'")
        for name in ("clip_norm_d", "clip_norm_g"):
            v = getattr(self, name)
            if v is not None and v <= 0:
                raise ConfigError(f"{name} must be positive or None, got {v}")


class _Meter:
    """Batch-size weighted means of named scalars."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.weights: dict[str, float] = {}

    def add(self, key: str, value: float, weight: float) -> None:
        self.sums[key] = self.sums.get(key, 0.0) + value * weight
        self.weights[key] = self.weights.get(key, 0.0) + weight

    def means(self) -> dict[str, float]:
        return {k: self.sums[k] / max(self.weights[k], 1e-12) for k in self.sums}


@contextmanager
def frozen(params: Iterable[torch.nn.Parameter]) -> Iterator[None]:
    """Temporarily set ``requires_grad=False`` on ``params`` (restored afterwards)."""
    plist = [p for p in params if p.requires_grad]
    for p in plist:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p in plist:
            p.requires_grad_(True)


def _update(
    loss: torch.Tensor, params: list[torch.nn.Parameter], opt: torch.optim.Optimizer, clip: float | None
) -> float | None:
    opt.zero_grad(set_to_none=False)
    loss.backward()
    norm = None
    if clip is not None:
        norm = float(torch.nn.utils.clip_grad_norm_(params, clip))
    opt.step()
    return norm


class _Players:
    """Runs single D and G updates and records their statistics."""

    def __init__(self, problem: MinMaxProblem, optimizers: Mapping[str, torch.optim.Optimizer],
                 settings: MinMaxSettings, generator: torch.Generator) -> None:
        self.problem, self.s, self.gen = problem, settings, generator
        self.opt_g = optimizers["g"]
        self.opt_d = optimizers.get("d")
        self.g_params = list(problem.g_parameters())
        self.d_params = list(problem.d_parameters())
        self.meter = _Meter()
        self.counts = {"d_updates": 0, "g_updates": 0}

    @property
    def has_d(self) -> bool:
        return self.opt_d is not None and self.s.d_steps > 0

    def _cast(self) -> AbstractContextManager[object]:
        """bfloat16 autocast for the loss computation, or nothing."""
        if self.s.precision == "bf16":
            return torch.autocast(self.s.device_type, dtype=torch.bfloat16)
        return nullcontext()

    def d_update(self, batch: Any) -> None:
        assert self.opt_d is not None
        with frozen(self.g_params), self._cast():
            out = self.problem.d_loss(batch, self.gen)
        norm = _update(out.loss, self.d_params, self.opt_d, self.s.clip_norm_d)
        n = max(int(out.real_logits.shape[0]), 1)
        acc_real, acc_fake = self.s.loss.accuracy(out.real_logits, out.fake_logits)
        m = self.meter
        m.add("d_loss", float(out.loss.detach()), n)
        m.add("d_acc_real", acc_real, n)
        m.add("d_acc_fake", acc_fake, n)
        for key, val in (out.parts or {}).items():
            m.add(key, float(val.detach()), n)
        if norm is not None:
            m.add("d_grad_norm", norm, 1)
        self.counts["d_updates"] += 1

    def g_update(self, batch: Any) -> None:
        with frozen(self.d_params), self._cast():
            out = self.problem.g_loss(batch, self.gen)
        norm = _update(out.loss, self.g_params, self.opt_g, self.s.clip_norm_g)
        n = max(int(out.size), 1)
        self.meter.add("g_loss", float(out.loss.detach()), n)
        for key, val in (out.parts or {}).items():
            self.meter.add(key, float(val.detach()), n)
        if norm is not None:
            self.meter.add("g_grad_norm", norm, 1)
        self.counts["g_updates"] += 1


def minmax_epoch(
    problem: MinMaxProblem,
    optimizers: Mapping[str, torch.optim.Optimizer],
    settings: MinMaxSettings,
    generator: torch.Generator,
) -> dict[str, float]:
    """One epoch of alternating discriminator and generator updates.

    Parameters
    ----------
    problem
        The batches and the two losses.
    optimizers
        ``"g"`` (required) and ``"d"`` (absent: the generator trains alone).
    settings
        Step ratios, schedule, clipping, objective.
    generator
        The loop's generator: all randomness of the epoch must come from it.

    Returns
    -------
    dict
        Epoch means: ``g_loss``, ``loss`` (= ``g_loss``), and with a
        discriminator ``d_loss``, ``d_acc_real``, ``d_acc_fake``, ``d_acc``;
        the ``parts`` of the losses; ``*_grad_norm`` (pre-clipping) when
        clipping is on; the update counts ``d_updates`` and ``g_updates``.
    """
    if "g" not in optimizers:
        raise ConfigError("minmax_epoch needs a generator optimiser under the key 'g'")
    run = _Players(problem, optimizers, settings, generator)
    if settings.schedule == "pass":
        if run.has_d:
            for _ in range(settings.d_steps):
                for batch in problem.d_batches(generator):
                    run.d_update(batch)
        for _ in range(settings.g_steps):
            for batch in problem.g_batches(generator):
                run.g_update(batch)
    else:
        d_iter = _cycle_passes(problem, generator) if run.has_d else None
        g_list = list(problem.g_batches(generator))
        for start in range(0, len(g_list), settings.g_steps):
            if d_iter is not None:
                for _ in range(settings.d_steps):
                    run.d_update(next(d_iter))
            for batch in g_list[start:start + settings.g_steps]:
                run.g_update(batch)
    logs = run.meter.means()
    logs["loss"] = logs.get("g_loss", 0.0)
    if "d_acc_real" in logs:
        logs["d_acc"] = 0.5 * (logs["d_acc_real"] + logs["d_acc_fake"])
    logs.update({k: float(v) for k, v in run.counts.items()})
    return logs


def _cycle_passes(problem: MinMaxProblem, generator: torch.Generator) -> Iterator[Any]:
    """Discriminator batches pass after pass, for as long as they are asked for."""
    while True:
        empty = True
        for batch in problem.d_batches(generator):
            empty = False
            yield batch
        if empty:
            raise ConfigError("d_batches yielded no batch: the discriminator has nothing to train on")
