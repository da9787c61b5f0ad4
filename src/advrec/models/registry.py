"""Model names -> classes, loaded lazily, and documented per-dataset defaults."""

from __future__ import annotations

import importlib
import sys
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from advrec.errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

if TYPE_CHECKING:
    from advrec.models.base import Recommender

#: name -> "module:Class"; a model is imported only when asked for.
MODELS: dict[str, str] = {
    "pop": "advrec.models.pop:MostPop",
    "grouppop": "advrec.models.grouppop:GroupPop",
    "itemknn": "advrec.models.itemknn:ItemKNN",
    "puresvd": "advrec.models.puresvd:PureSVD",
    "ease": "advrec.models.ease:EASE",
    "slim": "advrec.models.slim:SLIM",
    "bpr": "advrec.models.bpr:BPRMF",
    "apr": "advrec.models.apr:APR",
    "lightgcn": "advrec.models.lightgcn:LightGCN",
    "apr-lightgcn": "advrec.models.apr_lightgcn:APRLightGCN",
    "multvae": "advrec.models.multvae:MultVAE",
    "cfgan": "advrec.models.cfgan:CFGAN",
    "irgan": "advrec.models.irgan:IRGAN",
    "usergan": "advrec.models.usergan:UserGAN",
    "dropoutnet": "advrec.models.dropoutnet:DropoutNet",
    "itemgan": "advrec.models.itemgan:ItemGAN",
    "pdgan": "advrec.models.pdgan:PDGAN",
    "dropoutnet-items": "advrec.models.dropoutnet_items:DropoutNetItems",
    "contentknn": "advrec.models.contentpop:ContentKNN",
    "genrepop": "advrec.models.contentpop:GenrePop",
    "rp3beta": "advrec.models.rp3beta:RP3beta",
}

_DEFAULTS_FILE = Path(__file__).with_name("defaults.toml")


def available() -> list[str]:
    """Names of all registered models."""
    return sorted(MODELS)


def get_model_class(name: str) -> type[Recommender]:
    """The class registered under ``name``.

    Raises
    ------
    ConfigError
        For an unknown name, listing the known ones.
    """
    key = name.lower()
    if key not in MODELS:
        raise ConfigError(f"unknown model {name!r}; available: {', '.join(available())}")
    module, cls = MODELS[key].split(":")
    return getattr(importlib.import_module(module), cls)  # type: ignore[no-any-return]


def create(name: str, **params: Any) -> Recommender:
    """Instantiate model ``name`` with validated parameters."""
    return get_model_class(name)(**params)


@cache
def _defaults_table() -> dict[str, Any]:
    if not _DEFAULTS_FILE.is_file():
        return {}
    with open(_DEFAULTS_FILE, "rb") as fh:
        return tomllib.load(fh)


def default_params(model: str, dataset: str | None) -> dict[str, Any]:
    """Per-dataset defaults chosen on validation data (``models/defaults.toml``).

    Returns the model's ``[model.dataset]`` table, or ``{}`` when none is recorded
    (then the config class defaults apply).
    """
    table = _defaults_table().get(model.lower(), {})
    if dataset is None:
        return {}
    return dict(table.get(dataset, {}))
