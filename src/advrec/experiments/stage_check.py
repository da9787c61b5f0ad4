"""Cross-checks of an experiment's stages: names exist, kinds and parameters are valid, no cycles."""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from advrec.experiments.config import ExperimentConfig


def match_names(patterns: str | list[str], names: list[str]) -> list[str]:
    """The ``names`` matching any of ``patterns`` (exact names or shell patterns such as
    ``"random-*"``), in the order of ``names``, each once."""
    pats = [patterns] if isinstance(patterns, str) else list(patterns)
    return [n for n in names if any(fnmatchcase(n, p) for p in pats)]


def _unique(names: list[str], what: str) -> None:
    dup = sorted({x for x in names if names.count(x) > 1})
    if dup:
        raise ValueError(f"{what} names must be unique; repeated: {dup}")


def check_stages(cfg: ExperimentConfig) -> None:
    """Raise ValueError (pydantic turns it into the file's error) for any inconsistent stage reference."""
    from advrec.experiments.data_stages import make_stage
    from advrec.experiments.evaluations import make_evaluation

    data = [d.name for d in cfg.data]
    evals = [e.name for e in cfg.evaluations]
    _unique(data, "data stage")
    _unique(evals, "evaluation")
    for d in cfg.data:
        make_stage(d.name, d.kind, d.params)
    for i, e in enumerate(cfg.evaluations):
        make_evaluation(e.name, e.kind, e.params)
        earlier = e.params.get("of")
        if earlier is not None and earlier not in evals[:i]:
            raise ValueError(f"evaluation {e.name!r}: of={earlier!r} must name an earlier evaluation")
        stage = e.params.get("stage")
        if stage is not None and not match_names(stage, data):
            raise ValueError(f"evaluation {e.name!r}: stage={stage!r} is not a data stage ({data or 'none'})")
    labels = [m.key for m in cfg.models]
    for m in cfg.models:
        unknown = [d for d in m.data if d not in data]
        if unknown:
            raise ValueError(f"model {m.key!r}: data stages {unknown} are not defined (have {data or 'none'})")
        for ref, what in ((m.init, "init"), (m.params_from, "params_from")):
            if ref is not None and (ref not in labels or ref == m.key):
                raise ValueError(f"model {m.key!r}: {what}={ref!r} must be the label of another model {labels}")
    order = run_order(cfg)  # raises on cycles
    del order
    for t in cfg.tables:
        if t.evaluation not in evals:
            raise ValueError(f"table: evaluation {t.evaluation!r} is not one of {evals}")


def run_order(cfg: ExperimentConfig) -> list[str]:
    """Model labels in an order where every ``init`` / ``params_from`` comes before its user."""
    deps = {m.key: {r for r in (m.init, m.params_from) if r is not None} for m in cfg.models}
    order: list[str] = []
    while len(order) < len(deps):
        ready = [k for k in deps if k not in order and deps[k] <= set(order)]
        if not ready:
            left = sorted(set(deps) - set(order))
            raise ValueError(f"models {left} depend on each other in a cycle (init / params_from)")
        order.extend(ready)
    return order
