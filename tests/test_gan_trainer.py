"""The generic min-max step, run through the shared training loop."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from advrec.errors import ConfigError
from advrec.gan import DOut, GANLoss, GOut, MinMaxSettings, minmax_epoch
from advrec.train.loop import LoopSettings, train_loop


class Toy1D:
    """A 1-D GAN: G(z) = a z + b, real data N(3, 0.5^2); a Trainable via minmax_epoch."""

    name = "toy1d"

    def __init__(self, settings: MinMaxSettings, lr: float = 0.05, n_batches: int = 5) -> None:
        torch.manual_seed(0)
        self.history: list[dict[str, float]] = []
        self.g = nn.Linear(1, 1)
        with torch.no_grad():
            self.g.weight.fill_(1.0)
            self.g.bias.fill_(0.0)
        self.d = nn.Sequential(nn.Linear(1, 16), nn.Tanh(), nn.Linear(16, 1))
        self.settings, self.n_batches, self.batch = settings, n_batches, 64
        self.opts = {k: torch.optim.Adam(m.parameters(), lr=lr, betas=(0.5, 0.999))
                     for k, m in (("g", self.g), ("d", self.d))}

    def d_batches(self, gen):
        return range(self.n_batches)

    def g_batches(self, gen):
        return range(self.n_batches)

    def d_parameters(self):
        return list(self.d.parameters())

    def g_parameters(self):
        return list(self.g.parameters())

    def d_loss(self, batch, gen):
        real = 3.0 + 0.5 * torch.randn(self.batch, 1, generator=gen)
        fake = self.g(torch.randn(self.batch, 1, generator=gen))
        rl, fl = self.d(real).squeeze(1), self.d(fake).squeeze(1)
        loss = self.settings.loss
        return DOut(loss.d_loss(rl, fl) + loss.penalty(self.d, real, fake, gen), rl, fl)

    def g_loss(self, batch, gen):
        fake = self.g(torch.randn(self.batch, 1, generator=gen))
        return GOut(self.settings.loss.g_loss(self.d(fake).squeeze(1)), self.batch)

    def train_epoch(self, epoch, gen):
        return minmax_epoch(self, self.opts, self.settings, gen)

    def train_tensors(self):
        return {**{f"g.{k}": v for k, v in self.g.named_parameters()},
                **{f"d.{k}": v for k, v in self.d.named_parameters()}}

    def optimizers(self):
        return self.opts

    def weights_changed(self):
        pass

    def samples(self) -> torch.Tensor:
        with torch.no_grad():
            return self.g(torch.randn(4000, 1, generator=torch.Generator().manual_seed(1)))


@pytest.mark.parametrize("loss", ["nonsaturating", "minimax"])
def test_toy_gan_moves_samples_to_the_target(loss):
    model = Toy1D(MinMaxSettings(loss=GANLoss(loss)))
    assert abs(float(model.samples().mean()) - 3.0) > 2.9
    train_loop(model, LoopSettings(epochs=60, seed=0))  # 300 G steps
    assert abs(float(model.samples().mean()) - 3.0) < 0.3


def test_toy_wgan_gp_interleaved():
    settings = MinMaxSettings(d_steps=5, schedule="interleaved", loss=GANLoss("wgan-gp"))
    model = Toy1D(settings, lr=0.01)
    train_loop(model, LoopSettings(epochs=60, seed=0))
    x = model.samples()
    assert abs(float(x.mean()) - 3.0) < 0.3
    assert 0.2 < float(x.std()) < 0.8
    assert model.history[-1]["d_updates"] == 25 and model.history[-1]["g_updates"] == 5


def test_history_has_curves_and_runs_are_seeded():
    a = Toy1D(MinMaxSettings())
    train_loop(a, LoopSettings(epochs=4, seed=3))
    assert [h["epoch"] for h in a.history] == [1, 2, 3, 4]
    for key in ("d_loss", "g_loss", "loss", "d_acc_real", "d_acc_fake", "d_acc"):
        assert all(key in h for h in a.history), key
    assert all(0.0 <= h["d_acc_real"] <= 1.0 for h in a.history)
    b = Toy1D(MinMaxSettings())
    train_loop(b, LoopSettings(epochs=4, seed=3))
    c = Toy1D(MinMaxSettings())
    train_loop(c, LoopSettings(epochs=4, seed=4))
    assert [h["g_loss"] for h in a.history] == [h["g_loss"] for h in b.history]
    torch.testing.assert_close(a.g.bias, b.g.bias, rtol=0, atol=0)
    assert [h["g_loss"] for h in a.history] != [h["g_loss"] for h in c.history]


class Counting:
    """Records the order of D and G updates; scalar 'networks' with SGD."""

    def __init__(self, n_d: int, n_g: int, scale: float = 1.0) -> None:
        self.n_d, self.n_g, self.scale = n_d, n_g, scale
        self.gp = nn.Parameter(torch.zeros(4))
        self.dp = nn.Parameter(torch.zeros(4))
        self.calls: list[str] = []
        self.frozen_ok = True

    def d_batches(self, gen):
        return [f"d{i}" for i in range(self.n_d)]

    def g_batches(self, gen):
        return [f"g{i}" for i in range(self.n_g)]

    def d_parameters(self):
        return [self.dp]

    def g_parameters(self):
        return [self.gp]

    def d_loss(self, batch, gen):
        self.calls.append("D")
        self.frozen_ok &= not self.gp.requires_grad and self.dp.requires_grad
        logits = (self.dp + self.gp).sum().reshape(1)  # would leak into G if G were not frozen
        return DOut(self.scale * logits.sum(), logits, -logits)

    def g_loss(self, batch, gen):
        self.calls.append("G")
        self.frozen_ok &= self.gp.requires_grad and not self.dp.requires_grad
        return GOut(self.scale * (self.gp + self.dp).sum(), 2, {"extra": torch.tensor(7.0)})


def _opts(p: Counting, lr: float = 0.1) -> dict[str, torch.optim.Optimizer]:
    return {"g": torch.optim.SGD([p.gp], lr=lr), "d": torch.optim.SGD([p.dp], lr=lr)}


def test_pass_schedule_honours_step_ratios():
    p = Counting(n_d=3, n_g=4)
    logs = minmax_epoch(p, _opts(p), MinMaxSettings(d_steps=2, g_steps=3), torch.Generator())
    assert p.calls == ["D"] * 6 + ["G"] * 12
    assert (logs["d_updates"], logs["g_updates"]) == (6, 12)
    assert logs["extra"] == 7.0
    assert p.frozen_ok
    # each network moved by its own loss only: G got 12 steps of -0.1, D 6 steps of -0.1
    torch.testing.assert_close(p.gp.detach(), torch.full((4,), -1.2))
    torch.testing.assert_close(p.dp.detach(), torch.full((4,), -0.6))


def test_interleaved_schedule_honours_step_ratios():
    p = Counting(n_d=3, n_g=4)
    logs = minmax_epoch(p, _opts(p), MinMaxSettings(d_steps=2, g_steps=3, schedule="interleaved"),
                        torch.Generator())
    assert "".join(p.calls) == "DDGGGDDG"
    assert (logs["d_updates"], logs["g_updates"]) == (4, 4)
    assert p.frozen_ok


@pytest.mark.parametrize("schedule", ["pass", "interleaved"])
def test_generator_alone(schedule):
    p = Counting(n_d=3, n_g=4)
    opts = _opts(p)
    logs = minmax_epoch(p, {"g": opts["g"]}, MinMaxSettings(d_steps=2, schedule=schedule), torch.Generator())
    assert set(p.calls) == {"G"} and "d_loss" not in logs
    p2 = Counting(n_d=3, n_g=4)
    minmax_epoch(p2, _opts(p2), MinMaxSettings(d_steps=0, schedule=schedule), torch.Generator())
    assert set(p2.calls) == {"G"}


def test_gradient_clipping_is_applied():
    p = Counting(n_d=1, n_g=1, scale=1000.0)  # gradient 1000 per coordinate: norm 2000
    settings = MinMaxSettings(clip_norm_g=0.5, clip_norm_d=0.25)
    logs = minmax_epoch(p, _opts(p, lr=1.0), settings, torch.Generator())
    assert float(p.gp.detach().norm()) == pytest.approx(0.5, rel=1e-5)
    assert float(p.dp.detach().norm()) == pytest.approx(0.25, rel=1e-5)
    assert logs["g_grad_norm"] == pytest.approx(2000.0) and logs["d_grad_norm"] == pytest.approx(2000.0)
    q = Counting(n_d=1, n_g=1, scale=1000.0)
    minmax_epoch(q, _opts(q, lr=1.0), MinMaxSettings(), torch.Generator())
    assert float(q.gp.detach().norm()) == pytest.approx(2000.0)


def test_settings_are_validated():
    with pytest.raises(ConfigError, match="g_steps"):
        MinMaxSettings(g_steps=0)
    with pytest.raises(ConfigError, match="clip_norm_g"):
        MinMaxSettings(clip_norm_g=-1.0)
    with pytest.raises(ConfigError, match="schedule"):
        MinMaxSettings(schedule="random")  # type: ignore[arg-type]
    p = Counting(1, 1)
    with pytest.raises(ConfigError, match="'g'"):
        minmax_epoch(p, {"d": _opts(p)["d"]}, MinMaxSettings(), torch.Generator())
    empty = Counting(n_d=0, n_g=2)
    with pytest.raises(ConfigError, match="d_batches yielded no batch"):
        minmax_epoch(empty, _opts(empty), MinMaxSettings(schedule="interleaved"), torch.Generator())


def test_bf16_precision_autocasts_the_losses_and_still_learns():
    seen: list[torch.dtype] = []

    class Spy(Toy1D):
        def g_loss(self, batch, gen):
            seen.append(self.g(torch.randn(2, 1, generator=gen)).dtype)
            return super().g_loss(batch, gen)

    model = Spy(MinMaxSettings(precision="bf16"))
    train_loop(model, LoopSettings(epochs=60, seed=0))
    assert set(seen) == {torch.bfloat16}  # products ran in bfloat16 ...
    assert all(p.dtype == torch.float32 for p in model.g.parameters())  # ... weights stayed float32
    assert abs(float(model.samples().mean()) - 3.0) < 0.3
    with pytest.raises(ConfigError, match="precision"):
        MinMaxSettings(precision="fp16")  # type: ignore[arg-type]
