"""Shared fixtures: small synthetic data sets made by the tests themselves."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest

from advrec.data import Interactions, Split


def make_synthetic(
    n_users: int = 60, n_items: int = 40, density: float = 0.15, seed: int = 0
) -> Interactions:
    """Clustered implicit-feedback data with ratings, timestamps and side features.

    Users and items fall into 3 taste groups; a user interacts mostly with items of
    their own group, so real models beat popularity on it.
    """
    rng = np.random.default_rng(seed)
    ug = rng.integers(0, 3, n_users)
    ig = rng.integers(0, 3, n_items)
    p = np.where(ug[:, None] == ig[None, :], density * 2.5, density * 0.25)
    mask = rng.random((n_users, n_items)) < p
    mask[np.arange(n_users), rng.integers(0, n_items, n_users)] = True  # >= 1 record per user
    u, i = np.nonzero(mask)
    ratings = rng.integers(1, 6, len(u)).astype(np.float32)
    ts = 1_000_000 + rng.permutation(len(u)).astype(np.int64) * 60
    inter = Interactions.from_records(
        u + 100, i + 1000, ratings, ts, name="synthetic",
        user_ids=np.arange(n_users) + 100, item_ids=np.arange(n_items) + 1000,
    )
    from dataclasses import replace

    uf = pd.DataFrame({"gender": rng.choice(["M", "F"], n_users), "age": rng.integers(15, 70, n_users)})
    itf = pd.DataFrame({"genre": ig, "year": rng.integers(1950, 2000, n_items)})
    return replace(inter, user_features=uf, item_features=itf)


@pytest.fixture
def synthetic() -> Interactions:
    """60 users x 40 items, clustered, with ratings 1-5, timestamps and side features."""
    return make_synthetic()


@pytest.fixture
def synthetic_split(synthetic: Interactions) -> Split:
    """A per-user random 80/20 split of :func:`synthetic` made without the splits module."""
    rng = np.random.default_rng(1)
    test_mask = rng.random(len(synthetic)) < 0.2
    return Split(
        train=synthetic.subset(~test_mask, name="train"),
        test=synthetic.subset(test_mask, name="test"),
        name="synthetic-random",
    )


def shared_data_dir() -> Path | None:
    """``$ADVREC_DATA`` or ``../shared/data`` when present, else None."""
    env = os.environ.get("ADVREC_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).resolve().parents[2] / "shared" / "data")
    for c in candidates:
        if c.is_dir():
            return c
    return None


@pytest.fixture
def shared_data() -> Path:
    """The real data folder; skips the test with a reason when it is absent."""
    d = shared_data_dir()
    if d is None:
        pytest.skip("real data not available: set ADVREC_DATA to a copy of shared/data")
    return d


def load_script(name: str) -> ModuleType:
    """``benchmarks/<name>.py`` imported as a module (benchmark scripts are not a package)."""
    path = Path(__file__).resolve().parents[1] / "benchmarks" / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod  # dataclasses in a script look their module up by name
    spec.loader.exec_module(mod)
    return mod
