"""The Recommender contract on MostPop; every model's own test reuses ``check_contract``."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from advrec.errors import ConfigError, ModelFileError
from advrec.models import Recommender, create
from advrec.data import Interactions


def check_contract(name: str, train: Interactions, tmp_path, **params) -> Recommender:
    """Fit, score shape/dtype, seen items excluded, save/load identity, determinism."""
    model = create(name, **params).fit(train)
    users = np.arange(train.n_users)
    scores = model.score(users)
    assert scores.shape == (train.n_users, train.n_items)
    assert scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    items, _ = model.recommend(users, k=5)
    seen = train.binary_csr
    for u in range(train.n_users):
        assert not set(items[u]).intersection(seen[u].indices[: seen[u].nnz])
    loaded = Recommender.load(model.save(tmp_path / name))
    assert type(loaded) is type(model)
    torch.testing.assert_close(loaded.score(users), scores, rtol=0, atol=0)
    again = create(name, **params).fit(train)
    torch.testing.assert_close(again.score(users), scores, rtol=1e-5, atol=1e-6)
    return model


def test_pop_contract(synthetic, tmp_path):
    model = check_contract("pop", synthetic, tmp_path)
    counts = synthetic.item_counts().astype(np.float32)
    np.testing.assert_allclose(model.score([0])[0].numpy(), counts)


def test_unknown_param_is_error():
    with pytest.raises(ConfigError, match="sed"):
        create("pop", sed=3)


def test_unknown_model_is_error():
    with pytest.raises(ConfigError, match="available"):
        create("nope")


def test_load_errors(synthetic, tmp_path):
    with pytest.raises(ModelFileError, match="not a saved advrec model"):
        Recommender.load(tmp_path)
    d = create("pop").fit(synthetic).save(tmp_path / "m")
    (d / "model.safetensors").write_bytes(b"corrupt")
    with pytest.raises(ModelFileError, match="cannot read weights"):
        Recommender.load(d)
    meta = json.loads((d / "meta.json").read_text())
    meta["format_version"] = 99
    (d / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ModelFileError, match="unsupported format"):
        Recommender.load(d)


def test_score_requires_fit():
    with pytest.raises(RuntimeError, match="fit"):
        create("pop").score([0])
