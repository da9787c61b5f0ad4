"""Every experiment file under benchmarks/ loads: known models, data stages, evaluations and tables."""

from __future__ import annotations

from pathlib import Path

import pytest

from advrec.experiments.config import load_experiment
from advrec.models import available

FILES = sorted((Path(__file__).resolve().parents[1] / "benchmarks").glob("*.toml"))


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_benchmark_file_loads(path):
    cfg = load_experiment(path)
    assert cfg.models and {m.name for m in cfg.models} <= set(available())
