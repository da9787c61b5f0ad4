"""Split specs (``"random:0.8"``, ``"loo"``, ...) and :func:`make_split`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from advrec.data.interactions import Interactions
from advrec.data.splits.arrays import duplicate_pairs
from advrec.data.splits.cold_item import cold_items
from advrec.data.splits.cold_user import cold_users
from advrec.data.splits.holdout import leave_one_out, random_holdout, temporal
from advrec.data.splits.split import Split
from advrec.data.splits.validation import carve_validation
from advrec.errors import ConfigError, DataError

SPEC_GRAMMAR = (
    "random[:TRAIN_RATIO] | loo[:time|:random] | temporal[:TRAIN_FRAC] | "
    "cold-item[:FRAC[:WARM_TEST]] | cold-user[:FRAC[:REVEAL[:time|:random]]] | fixed  "
    "(ratios in (0, 1), WARM_TEST in [0, 1), REVEAL an integer >= 0 revealed earliest first, or at "
    "random for data without timestamps; e.g. 'random:0.8', 'cold-item:0.2:0.2', 'cold-user:0.2:5')"
)

# kind -> (names of the positional arguments, defaults)
_ARGS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "random": (("train_ratio",), {"train_ratio": 0.8}),
    "loo": (("by",), {"by": "time"}),
    "temporal": (("train_frac",), {"train_frac": 0.8}),
    "cold-item": (("frac", "warm_test"), {"frac": 0.2, "warm_test": 0.2}),
    "cold-user": (("frac", "reveal", "by"), {"frac": 0.2, "reveal": 0, "by": "time"}),
    "fixed": ((), {}),
}


def _bad(spec: str, why: str) -> ConfigError:
    return ConfigError(f"bad split spec {spec!r}: {why}; the grammar is {SPEC_GRAMMAR}")


def parse_spec(spec: str) -> tuple[str, dict[str, Any]]:
    """Parse a split spec into ``(kind, params)``.

    ``params`` are keyword arguments of the matching splitter, with defaults
    filled in: ``"random:0.7" -> ("random", {"train_ratio": 0.7})``,
    ``"loo" -> ("loo", {"by": "time"})``,
    ``"cold-user:0.2:5" -> ("cold-user", {"frac": 0.2, "reveal": 5, "by": "time"})``,
    ``"cold-item:0.3" -> ("cold-item", {"frac": 0.3, "warm_test": 0.2})``.

    Raises
    ------
    ConfigError
        Naming the spec and the grammar, for anything that does not parse.
    """
    if not isinstance(spec, str):
        raise _bad(str(spec), f"expected a string, got {type(spec).__name__}")
    head, *args = spec.strip().lower().split(":")
    if head not in _ARGS:
        raise _bad(spec, f"unknown kind {head!r}")
    names, defaults = _ARGS[head]
    if len(args) > len(names):
        raise _bad(spec, f"{head!r} takes at most {len(names)} argument(s), got {len(args)}")
    params = dict(defaults)
    for name, raw in zip(names, args):
        raw = raw.strip()
        if name == "by":
            if raw not in ("time", "random"):
                raise _bad(spec, f"by must be 'time' or 'random', got {raw!r}")
            params[name] = raw
        elif name == "reveal":
            if not raw.isdigit():
                raise _bad(spec, f"REVEAL must be an integer >= 0, got {raw!r}")
            params[name] = int(raw)
        else:
            zero_ok = name == "warm_test"  # 0: no warm records in test
            try:
                value = float(raw)
            except ValueError:
                raise _bad(spec, f"{name} must be a number, got {raw!r}") from None
            if not (value >= 0.0 if zero_ok else value > 0.0) or value >= 1.0:
                span = "[0, 1)" if zero_ok else "(0, 1)"
                raise _bad(spec, f"{name} must be in {span}, got {raw!r}")
            params[name] = value
    return head, params


def _build(inter: Interactions, kind: str, params: dict[str, Any], seed: int) -> Split:
    if kind == "random":
        return random_holdout(inter, params["train_ratio"], seed=seed)
    if kind == "loo":
        return leave_one_out(inter, by=params["by"], seed=seed)
    if kind == "temporal":
        return temporal(inter, params["train_frac"])
    if kind == "cold-item":
        return cold_items(inter, params["frac"], params["warm_test"], seed=seed)
    return cold_users(inter, params["frac"], reveal=params["reveal"], seed=seed, by=params["by"])


def make_split(
    inter: Interactions,
    spec: str = "random:0.8",
    *,
    seed: int = 0,
    fixed: Split | None = None,
    valid_ratio: float = 0.1,
) -> Split:
    """Build the split that ``spec`` names, with a validation part, checked for leakage.

    Steps: parse ``spec``; build the split (``"fixed"`` returns ``fixed``);
    unless it already has one, carve a validation part with
    :func:`carve_validation` (``by="time"`` for ``temporal`` and ``loo:time``,
    ``by="random"`` for everything else, including ``loo:random``);
    run :meth:`Split.check_leakage`; record ``spec``, ``seed``, ``params`` and
    ``valid_ratio`` in ``Split.meta``.

    Parameters
    ----------
    inter
        The records; repeated (user, item) pairs are refused (deduplicate first).
        Ignored for ``"fixed"``.
    spec
        See :func:`parse_spec`.
    seed
        Seed of the split and of the validation carving.
    fixed
        The split to use for ``spec="fixed"``.
    valid_ratio
        Fraction carved for validation; ``0`` skips the carving.

    Raises
    ------
    ConfigError
        Bad spec, bad ``valid_ratio``, or ``"fixed"`` without ``fixed``.
    DataError
        Repeated pairs, or data too small for the split.
    LeakageError
        If the result leaks (always a bug or a bad ``fixed`` split).
    """
    kind, params = parse_spec(spec)
    if not 0.0 <= float(valid_ratio) < 1.0:
        raise ConfigError(f"valid_ratio must be in [0, 1), got {valid_ratio!r}")
    if kind == "fixed":
        if fixed is None:
            raise ConfigError("split spec 'fixed' needs the fixed= split to be given")
        split = replace(fixed, meta={**fixed.meta, "fixed_name": fixed.name})
    else:
        dups = duplicate_pairs(inter)
        if dups:
            raise DataError(
                f"{inter.name}: {dups} records repeat a (user, item) pair, so a split would put "
                "the same pair on both sides; call .deduplicate(policy) first"
            )
        split = _build(inter, kind, params, seed)
    if split.valid is None and valid_ratio > 0:
        time_based = kind == "temporal" or (kind == "loo" and params["by"] == "time")
        split = carve_validation(
            split, valid_ratio, seed=seed, by="time" if time_based else "random"
        )
    meta = {
        **split.meta,
        "spec": spec.strip(),
        "seed": int(seed),
        "params": params,
        "valid_ratio": float(valid_ratio),
    }
    return replace(split, name=spec.strip(), meta=meta).check_leakage()
