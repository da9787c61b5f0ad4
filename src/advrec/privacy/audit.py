"""One privacy audit of a fitted model: the record ``advrec privacy audit`` prints and the
``privacy`` evaluation of an experiment saves (the same dict, so both read alike)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError
from advrec.models.base import Recommender
from advrec.privacy.attributes import PRIVATE_ATTRIBUTES

__all__ = ["check_audit", "privacy_audit", "summary_metrics"]


def check_audit(model: Recommender, data: Interactions, attributes: Sequence[str], *, membership: bool,
                folds: int, bootstrap: int, dataset: str | None = None) -> None:
    """Refuse, before any work, an audit that cannot run.

    Raises
    ------
    ConfigError
        Bad ``folds`` / ``bootstrap``, or ``membership`` on a model without ``fold_in``.
    DataError
        Data without a user side table or without an attribute's column (naming the dataset).
    """
    if folds < 2:
        raise ConfigError(f"--folds must be at least 2, got {folds}")
    if bootstrap < 0:
        raise ConfigError(f"--bootstrap must be 0 or more, got {bootstrap}")
    name = dataset or data.name
    table = data.user_features
    if table is None:
        raise DataError(f"dataset {name!r} has no user side table, so it has no private attributes to infer "
                        f"({', '.join(PRIVATE_ATTRIBUTES)}); built-in datasets with one: ml-100k, ml-1m")
    missing = [a for a in attributes if a not in table.columns]
    if missing:
        raise DataError(f"dataset {name!r}: the user side table has no {missing[0]!r} column "
                        f"(it has {list(table.columns)})")
    if membership:
        from advrec.privacy.membership import require_fold_in

        require_fold_in(model)


def privacy_audit(model: Recommender, data: Interactions, attributes: Sequence[str], *, membership: bool = False,
                  seed: int = 0, folds: int = 5, bootstrap: int = 1000, dataset: str | None = None,
                  model_dir: str | None = None) -> dict[str, Any]:
    """Attribute-inference (and optionally membership-inference) audit of a fitted model.

    Parameters
    ----------
    model, data
        The fitted model and its training data (with a user side table).
    attributes
        Attribute names, each reported under its own key.
    membership
        Also run :func:`~advrec.privacy.membership.membership_audit` (refits the model's class).
    seed, folds, bootstrap
        See :func:`~advrec.privacy.inference.attribute_audit`.
    dataset, model_dir
        Recorded as ``data`` (default: the data's name) and ``model_dir``.

    Returns
    -------
    dict
        ``{"model", "data", "model_dir", "seed", "folds", "bootstrap", "attributes",
        <attribute>: {...}, ["membership": {...}], "seconds"}``.
    """
    import time

    from advrec.privacy.inference import attribute_audit

    check_audit(model, data, attributes, membership=membership, folds=folds, bootstrap=bootstrap, dataset=dataset)
    t0 = time.perf_counter()
    out: dict[str, Any] = {"model": model.name, "data": dataset or data.name, "model_dir": model_dir, "seed": seed,
                           "folds": folds, "bootstrap": bootstrap, "attributes": list(attributes)}
    out.update(attribute_audit(model, data, attributes, seed=seed, folds=folds, bootstrap=bootstrap))
    if membership:
        from advrec.privacy.membership import membership_audit

        out["membership"] = membership_audit(model, data, seed=seed, bootstrap=bootstrap)
    out["seconds"] = round(time.perf_counter() - t0, 1)
    return out


def summary_metrics(record: dict[str, Any]) -> dict[str, float]:
    """Flat numbers of a :func:`privacy_audit` record for results tables: ``gender_auc``,
    ``gender_ci_low``, ``gender_ci_high``, ``gender_majority`` per attribute and ``membership_*``."""
    out: dict[str, float] = {}
    for name in [*record.get("attributes", []), *(["membership"] if "membership" in record else [])]:
        got = record[name]
        out[f"{name}_auc"] = float(got["auc"])
        out[f"{name}_ci_low"], out[f"{name}_ci_high"] = (float(v) for v in got["ci"])
        if "majority" in got:
            out[f"{name}_majority"] = float(got["majority"])
    return out
