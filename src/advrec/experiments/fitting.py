"""Fitting a model so that an interrupted fit resumes from its checkpoints."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from advrec.models.base import Recommender


def fit_resumable(rec: Recommender, train: Any, valid: Any = None, *, checkpoints: str | Path | None = None,
                  every: int = 10, show_progress: bool = False, init: Recommender | None = None,
                  validator: Any = None) -> Recommender:
    """Fit ``rec`` (from ``init``'s parameters when given); an iterative (PyTorch) model
    checkpoints into ``checkpoints`` every ``every`` epochs and resumes from what it finds there,
    and stops early by ``validator`` (``model -> score``) when given instead of its default
    scoring of ``valid``."""
    from advrec.models.torch_base import TorchRecommender

    if isinstance(rec, TorchRecommender):
        return rec.fit(train, valid, show_progress=show_progress, checkpoint_dir=checkpoints,
                       checkpoint_every=every if checkpoints is not None else None, init=init,
                       validator=validator)
    return rec.fit(train, valid, show_progress=show_progress, init=init)
