"""Cold-item evaluation in three settings (GAR, Chen et al. SIGIR 2022): cold, warm and all."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError
from advrec.eval.evaluator import Evaluator
from advrec.eval.result import EvalResult
from advrec.models.base import Recommender

SETTINGS = ("cold", "warm", "all")
"""The keys of :func:`evaluate_cold_items`' result, in order."""


def evaluate_cold_items(
    model: Recommender,
    exclude: Interactions,
    test: Interactions,
    cold_items: np.ndarray,
    *,
    ks: Iterable[int] = (20,),
    **kwargs: Any,
) -> dict[str, EvalResult]:
    """Evaluate a cold-start recommender with cold, warm and all items as candidates.

    ``"cold"``: only the cold items may be recommended and only the test
    records of cold items count; ``"warm"``: the same with the other items;
    ``"all"``: every item (the hybrid setting). Each is an :class:`Evaluator`
    run with ``candidates`` (see there for who is evaluated). A cold-item split
    made with ``cold-item:F:W`` (``W > 0``) has test records for all three.

    Parameters
    ----------
    model
        A fitted recommender that scores every item, cold ones included.
    exclude
        The interactions masked from ranking (what the model was fit on).
    test
        Held-out records (e.g. ``split.test`` of a cold-item split).
    cold_items
        Indices of the cold items (e.g. ``split.cold_items``).
    ks
        Cutoffs.
    **kwargs
        Further :class:`Evaluator` parameters (``metrics``, ``chunk_size``, ``beyond`` ...).

    Returns
    -------
    dict
        ``{"cold": EvalResult, "warm": EvalResult, "all": EvalResult}``; each
        result's ``meta["setting"]`` names its setting.

    Raises
    ------
    DataError
        If ``cold_items`` is empty, out of range or covers every item, or a
        setting has no test user (naming the setting).
    """
    if "candidates" in kwargs:
        raise ConfigError("evaluate_cold_items: candidates are set per setting; do not pass candidates=")
    n_items = exclude.n_items
    cold = np.unique(np.asarray(cold_items, dtype=np.int64))
    if not len(cold) or cold[0] < 0 or cold[-1] >= n_items:
        raise DataError(f"cold_items: expected indices in [0, {n_items}), got {len(cold)} items "
                        f"{'' if not len(cold) else f'from {cold[0]} to {cold[-1]}'}")
    warm = np.setdiff1d(np.arange(n_items, dtype=np.int64), cold, assume_unique=True)
    if not len(warm):
        raise DataError(f"cold_items: all {n_items} items are cold; the warm setting has no candidates")
    out: dict[str, EvalResult] = {}
    for setting, candidates in zip(SETTINGS, (cold, warm, None)):
        try:
            result = Evaluator(ks, candidates=candidates, **kwargs).evaluate(model, exclude, test)
        except DataError as exc:
            raise DataError(f"evaluate_cold_items, {setting} setting: {exc}") from None
        result.meta["setting"] = setting
        out[setting] = result
    return out
