"""Seeding of every random source advrec uses."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python, NumPy and PyTorch and return a fresh NumPy generator.

    Parameters
    ----------
    seed
        Non-negative integer seed.

    Returns
    -------
    numpy.random.Generator
        A generator seeded with ``seed`` for code that takes explicit RNGs.
    """
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return np.random.default_rng(seed)
