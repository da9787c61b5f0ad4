"""GAN objectives on logits, the gradient penalty, and the Gaussian generator head."""

from __future__ import annotations

import math

import pytest
import torch

from advrec.errors import ConfigError
from advrec.gan import GANLoss, GaussianHead, gradient_penalty, kl_standard_normal
from advrec.gan.losses import (
    bce_d_loss,
    minimax_g_loss,
    nonsaturating_g_loss,
    wgan_d_loss,
    wgan_g_loss,
)


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


REAL = torch.tensor([0.0, 2.0])
FAKE = torch.tensor([0.0, -1.0])


def test_discriminator_loss_by_hand():
    want = -(math.log(sig(0.0)) + math.log(sig(2.0))) / 2 - (math.log(1 - sig(0.0)) + math.log(1 - sig(-1.0))) / 2
    assert float(bce_d_loss(REAL, FAKE)) == pytest.approx(want, rel=1e-6)
    assert float(GANLoss("minimax").d_loss(REAL, FAKE)) == pytest.approx(want, rel=1e-6)


def test_generator_losses_by_hand():
    ns = -(math.log(sig(0.0)) + math.log(sig(-1.0))) / 2
    mm = (math.log(1 - sig(0.0)) + math.log(1 - sig(-1.0))) / 2
    assert float(nonsaturating_g_loss(FAKE)) == pytest.approx(ns, rel=1e-6)
    assert float(minimax_g_loss(FAKE)) == pytest.approx(mm, rel=1e-6)
    assert float(GANLoss("nonsaturating").g_loss(FAKE)) == pytest.approx(ns, rel=1e-6)
    assert float(GANLoss("minimax").g_loss(FAKE)) == pytest.approx(mm, rel=1e-6)


def test_losses_are_finite_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0])
    assert float(nonsaturating_g_loss(torch.tensor([-200.0]))) == pytest.approx(200.0)
    assert float(minimax_g_loss(torch.tensor([200.0]))) == pytest.approx(-200.0)
    assert torch.isfinite(bce_d_loss(big, big))


def test_minimax_saturates_where_nonsaturating_does_not():
    # D confidently rejects the fake (logit -10): the minimax gradient nearly vanishes
    l1 = torch.tensor([-10.0], requires_grad=True)
    minimax_g_loss(l1).backward()
    l2 = torch.tensor([-10.0], requires_grad=True)
    nonsaturating_g_loss(l2).backward()
    assert abs(float(l1.grad)) == pytest.approx(sig(-10.0), rel=1e-5)
    assert abs(float(l2.grad)) == pytest.approx(sig(10.0), rel=1e-5)


def test_wgan_losses_by_hand():
    real, fake = torch.tensor([1.0, 3.0]), torch.tensor([-1.0, 0.0])
    assert float(wgan_d_loss(real, fake)) == pytest.approx(-0.5 - 2.0)
    assert float(wgan_g_loss(fake)) == pytest.approx(0.5)
    assert float(GANLoss("wgan-gp").d_loss(real, fake)) == pytest.approx(-2.5)


def test_gradient_penalty_of_linear_critics():
    real = torch.randn(16, 2, generator=torch.Generator().manual_seed(0))
    fake = torch.randn(16, 2, generator=torch.Generator().manual_seed(1))
    unit = torch.tensor([0.6, 0.8])  # ||w|| = 1: the critic is 1-Lipschitz with gradient norm 1 everywhere
    assert float(gradient_penalty(lambda x: x @ unit, real, fake)) == pytest.approx(0.0, abs=1e-10)
    w = torch.tensor([3.0, 4.0], requires_grad=True)  # ||w|| = 5: penalty (5 - 1)^2 = 16
    gp = gradient_penalty(lambda x: x @ w, real, fake)
    assert float(gp.detach()) == pytest.approx(16.0, rel=1e-6)
    gp.backward()  # d/dw (||w|| - 1)^2 = 2 (||w|| - 1) w / ||w||
    torch.testing.assert_close(w.grad, torch.tensor([2 * 4 * 3 / 5, 2 * 4 * 4 / 5]))
    loss = GANLoss("wgan-gp", gp_weight=10.0)
    assert float(loss.penalty(lambda x: x @ w, real, fake).detach()) == pytest.approx(160.0, rel=1e-6)


def test_penalty_is_zero_without_wgan_and_shapes_are_checked():
    w = torch.tensor([3.0, 4.0])
    x = torch.ones(4, 2)
    assert float(GANLoss("nonsaturating").penalty(lambda v: v @ w, x, x)) == 0.0
    assert not GANLoss("wgan-gp", gp_weight=0.0).uses_penalty
    with pytest.raises(ValueError, match="shape"):
        gradient_penalty(lambda v: v.sum(1), torch.ones(4, 2), torch.ones(3, 2))


def test_selection_by_name_and_errors():
    assert GANLoss().name == "nonsaturating"
    with pytest.raises(ConfigError, match="nonsaturating, minimax, wgan-gp"):
        GANLoss("hinge")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="gp_weight"):
        GANLoss("wgan-gp", gp_weight=-1.0)


def test_accuracy_thresholds():
    assert GANLoss().accuracy(torch.tensor([1.0, -1.0]), torch.tensor([-2.0, -3.0, 4.0, -1.0])) == (0.5, 0.75)
    # WGAN: midpoint of the mean scores (here (5 + 1) / 2 = 3)
    assert GANLoss("wgan-gp").accuracy(torch.tensor([4.0, 6.0]), torch.tensor([0.0, 2.0])) == (1.0, 1.0)


# ------------------------------------------------------------------ heads
def test_gaussian_head_reparameterisation():
    torch.manual_seed(0)
    head = GaussianHead(3, 2, init_log_sigma=math.log(0.5))
    h = torch.randn(4, 3)
    mean_only = head(h, sample=False)
    torch.testing.assert_close(mean_only.sample, head.mu(h))
    a = head(h, torch.Generator().manual_seed(7))
    b = head(h, torch.Generator().manual_seed(7))
    torch.testing.assert_close(a.sample, b.sample)
    z = torch.randn(4, 2, generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(a.sample, a.mu + 0.5 * z)  # sigma = exp(log 0.5) at init
    a.sample.sum().backward()  # gradients flow into both mu and sigma
    assert head.mu.weight.grad is not None and head.log_sigma.bias.grad is not None
    torch.testing.assert_close(head.log_sigma.bias.grad, (0.5 * z).sum(0))


def test_kl_standard_normal():
    assert float(kl_standard_normal(torch.zeros(3, 4), torch.zeros(3, 4))) == 0.0
    # one feature, mu = 1, sigma = 1: KL = mu^2 / 2
    assert float(kl_standard_normal(torch.ones(1, 1), torch.zeros(1, 1))) == pytest.approx(0.5)
