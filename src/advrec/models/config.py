"""Typed model configuration: :class:`ModelConfig`, old parameter names, comparing records."""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from advrec.errors import AdvrecDeprecationWarning, ConfigError


def same_hyperparameters(config: BaseModel, recorded: dict[str, Any] | None, *,
                         ignore: Iterable[str] = ()) -> bool:
    """Whether ``config`` equals a recorded one (its JSON form).

    An option added since (absent from the record) counts as equal when it is at its
    default, so records and checkpoints written before a new option stay usable.
    Fields in ``ignore`` are not compared, nor those the config calls inert (``inert_fields()``:
    options without effect in this config, e.g. the adversary's weight without an adversary).
    """
    if recorded is None:
        return False
    recorded = upgrade_names(type(config), recorded)
    inert = getattr(config, "inert_fields", None)
    skip = set(ignore) | (set(inert()) if callable(inert) else set())
    now = {k: v for k, v in config.model_dump(mode="json").items() if k not in skip}
    recorded = {k: v for k, v in recorded.items() if k not in skip}
    fields = type(config).model_fields
    added = set(now) - set(recorded)
    defaults = {k: fields[k].get_default(call_default_factory=True) for k in added}
    if set(recorded) - set(now) or any(now[k] != defaults[k] for k in added):
        return False
    return all(now[k] == recorded[k] for k in recorded)


Renamed = dict[str, "str | tuple[str, Callable[[Any], Any]]"]


def upgrade_names(config_class: type[ModelConfig], params: dict[str, Any], *,
                  warn: bool = False, where: str = "") -> dict[str, Any]:
    """``params`` with the config's old parameter names replaced by the current ones.

    ``config_class.renamed`` maps an old name to the new one, or to ``(new, convert)``
    where the value's meaning changed too. With ``warn`` each old name found gives an
    :class:`~advrec.errors.AdvrecDeprecationWarning` naming ``where`` it was read.
    """
    out = dict(params)
    for old, target in config_class.renamed.items():
        if old not in out:
            continue
        new, convert = (target, None) if isinstance(target, str) else target
        if new in out:
            raise ConfigError(f"{where or config_class.__name__}: both {old!r} (old name) and {new!r} are set")
        value = out.pop(old)
        out[new] = value if convert is None else convert(value)
        if warn:
            warnings.warn(f"{where + ': ' if where else ''}parameter {old!r} is now called {new!r}"
                          + ("" if convert is None else f" ({old} = {value!r} is {new} = {out[new]!r})"),
                          AdvrecDeprecationWarning, stacklevel=4)
    return out


class ModelConfig(BaseModel):
    """Base of every model's typed configuration.

    Unknown keys are errors (a misspelt hyper-parameter must never be silently
    ignored) and values are validated on construction. Across models, L2 strength is
    ``l2`` (``l2_d`` for a discriminator) and the scale of initial weights ``init_std``;
    old names listed in ``renamed`` are still read, with a deprecation warning.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: old parameter name -> new name (or ``(new name, value converter)``)
    renamed: ClassVar[Renamed] = {}

    seed: int = 0
    """Seed of every random choice the model makes."""

    @model_validator(mode="before")
    @classmethod
    def _upgrade_names(cls, data: Any) -> Any:
        if isinstance(data, dict) and cls.renamed:
            return upgrade_names(cls, data, warn=True, where=cls.__name__)
        return data


def format_validation(name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        parts.append(f"{loc}: {err['msg']}")
    return f"{name}: invalid parameters: " + "; ".join(parts)
