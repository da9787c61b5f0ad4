"""Evaluation: full ranking over all items, per-user metric vectors, significance.

>>> from advrec.eval import Evaluator, evaluate_split  # doctest: +SKIP
>>> result = evaluate_split(model, split, "test", ks=(10, 20))  # doctest: +SKIP
>>> result.summary["ndcg@20"]  # doctest: +SKIP
"""

from advrec.eval.beyond import BeyondAccumulator, gini
from advrec.eval.evaluator import EvalResult, Evaluator, evaluate, evaluate_split
from advrec.eval.groups import group_report
from advrec.eval.metrics import CUTOFF_METRICS, DEFAULT_METRICS
from advrec.eval.stats import (
    compare,
    format_mean_std,
    mean_std,
    paired_test,
    significance_mark,
)

__all__ = [
    "CUTOFF_METRICS",
    "DEFAULT_METRICS",
    "BeyondAccumulator",
    "EvalResult",
    "Evaluator",
    "compare",
    "evaluate",
    "evaluate_split",
    "format_mean_std",
    "gini",
    "group_report",
    "mean_std",
    "paired_test",
    "significance_mark",
]
