"""Evaluation: full ranking over all items, per-user metric vectors, significance.

>>> from advrec.eval import Evaluator, evaluate_split  # doctest: +SKIP
>>> result = evaluate_split(model, split, "test", ks=(10, 20))  # doctest: +SKIP
>>> result.summary["ndcg@20"]  # doctest: +SKIP
"""

from advrec.eval.beyond import BeyondAccumulator, gini
from advrec.eval.cold import evaluate_cold_items
from advrec.eval.evaluator import Evaluator, evaluate, evaluate_split
from advrec.eval.groups import attribute_report, group_report
from advrec.eval.metrics import CUTOFF_METRICS, DEFAULT_METRICS
from advrec.eval.result import EvalResult
from advrec.eval.stats import (
    compare,
    format_mean_std,
    mean_std,
    paired_test,
    significance_mark,
)
from advrec.eval.targets import target_item_metrics

__all__ = [
    "CUTOFF_METRICS",
    "DEFAULT_METRICS",
    "BeyondAccumulator",
    "EvalResult",
    "Evaluator",
    "attribute_report",
    "compare",
    "evaluate",
    "evaluate_cold_items",
    "evaluate_split",
    "format_mean_std",
    "gini",
    "group_report",
    "mean_std",
    "paired_test",
    "significance_mark",
    "target_item_metrics",
]
