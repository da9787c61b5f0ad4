"""The ``device`` setting of PyTorch models (CUDA cases run only where CUDA exists)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from advrec.errors import ConfigError
from advrec.eval.evaluator import evaluate
from advrec.models import Recommender, create
from advrec.models.torch_base import resolve_device

GPU_MODELS = {
    "lightgcn": {"epochs": 5, "batch_size": 64, "lr": 0.01},
    "multvae": {"epochs": 5, "batch_size": 16, "dims": [32, 8], "lr": 0.01},
    "cfgan": {"epochs": 3, "g_hidden": [16], "d_hidden": [8], "batch_size": 16, "batch_size_d": 16, "lr": 0.01},
    "cfgan-user-prior": {"epochs": 3, "g_hidden": [16], "d_hidden": [8], "batch_size": 16, "batch_size_d": 16, "mode": "user",
                             "prior": "ease", "prior_l2": 50.0, "gan_loss": "wgan-gp"},
}


def _create(key, **extra):
    return create(key.split("-")[0], **GPU_MODELS[key], **extra)
HAS_CUDA = torch.cuda.is_available()


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", "CUDA", ""])
def test_bad_device_names_are_refused(bad):
    with pytest.raises((ValidationError, ConfigError), match="device"):
        create("lightgcn", device=bad)


def test_auto_resolves_to_what_exists():
    assert resolve_device("auto").type == ("cuda" if HAS_CUDA else "cpu")
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(HAS_CUDA, reason="checks the error on machines without CUDA")
def test_cuda_without_cuda_is_a_clear_error(synthetic):
    with pytest.raises(ConfigError, match="CUDA is not available"):
        create("lightgcn", device="cuda", epochs=1).fit(synthetic)


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
def test_cpu_only_model_refuses_cuda(synthetic):
    with pytest.raises(ConfigError, match="trains on the CPU"):
        create("bpr", device="cuda", epochs=1).fit(synthetic)


@pytest.mark.parametrize("name", sorted(GPU_MODELS))
def test_auto_on_cpu_equals_cpu(name, synthetic):
    if HAS_CUDA:
        pytest.skip("auto means cuda here")
    a = _create(name, device="cpu").fit(synthetic)
    b = _create(name, device="auto").fit(synthetic)
    users = np.arange(synthetic.n_users)
    assert torch.equal(a.score(users), b.score(users))


@pytest.mark.skipif(not HAS_CUDA, reason="needs CUDA")
@pytest.mark.parametrize("name", sorted(GPU_MODELS))
def test_cuda_matches_cpu_and_saves_for_cpu(name, synthetic_split, tmp_path):
    """Same seed, same samples: CUDA and CPU training agree up to float rounding."""
    train, test = synthetic_split.train, synthetic_split.test
    cpu = _create(name).fit(train)
    gpu = _create(name, device="cuda").fit(train)
    users = np.arange(train.n_users)
    assert gpu.score(users).device.type == "cuda"
    torch.testing.assert_close(gpu.score(users).cpu(), cpu.score(users), rtol=1e-3, atol=1e-3)
    m_cpu = evaluate(cpu, train, test).summary["ndcg@20"]
    m_gpu = evaluate(gpu, train, test).summary["ndcg@20"]
    assert abs(m_cpu - m_gpu) < 0.02
    loaded = Recommender.load(gpu.save(tmp_path / name.split("-")[0]))
    assert loaded.score(users).device.type == "cpu"
    torch.testing.assert_close(loaded.score(users), gpu.score(users).cpu())
    items, _ = gpu.recommend(users[:5], k=3)
    assert isinstance(items, np.ndarray) and items.shape == (5, 3)
