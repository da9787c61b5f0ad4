"""The Recommender contract on MostPop, and errors of the base class."""

from __future__ import annotations

import json

import numpy as np
import pytest
from contract import check_contract

from advrec.errors import ConfigError, ModelFileError
from advrec.models import Recommender, create


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


def test_external_ids_survive_save(synthetic, tmp_path):
    d = create("pop").fit(synthetic).save(tmp_path / "m")
    loaded = Recommender.load(d)
    assert loaded.user_ids.tolist() == synthetic.user_ids.tolist()
    assert loaded.item_ids.tolist() == synthetic.item_ids.tolist()


def test_atomic_writes_get_the_umask_mode(tmp_path):
    import os
    import stat

    from advrec.utils.io import atomic_write_text

    old = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "a.txt").stat().st_mode) == 0o640
