"""Typed experiment files: TOML over pydantic, misspelt keys are errors.

Example
-------
.. code-block:: toml

    name = "baselines-ml100k"
    datasets = ["ml-100k-cfgan"]
    seeds = [0, 1, 2, 3, 4]
    ks = [20]
    baseline = "ease"          # label of the model the others are tested against
    metric = "ndcg@20"         # metric of the significance tests (and of tuning)
    checkpoint_every = 10      # iterative fits checkpoint every 10 epochs (default), so a rerun resumes

    [[models]]
    name = "ease"              # registered model name
    l2 = 300.0                 # any other key is a hyper-parameter of that model

    [[models]]
    name = "bpr"
    label = "bpr-64"           # optional, to run one model with several settings
    tune = 20                  # optional: Optuna trials on validation data first
    tune_once = true           # optional: tune on the first seed only, refit the others

Run with ``advrec run FILE [--jobs N] [--baseline LABEL] [--out DIR] [--status]``: finished
runs are reused, interrupted fits and tuning trials resume from their checkpoints, unfinished
runs can go to N worker processes, ``--baseline`` tests against another model without
re-running anything, and ``--status`` shows what is done, in progress or pending.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from advrec.errors import ConfigError
from advrec.experiments.stage_check import check_stages, match_names
from advrec.models.base import upgrade_names
from advrec.models.registry import get_model_class

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


EACH = "{each}"
"""In a model's ``data``: where each stage matched by its ``each_data`` goes."""


class ModelSpec(BaseModel):
    """One model of an experiment: its registry name, a label, and hyper-parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str
    label: str | None = None
    tune: int = Field(0, ge=0)
    tune_once: bool = False
    """Tune on the first seed only; the other seeds refit with the values it chose."""
    data: list[str] = Field(default_factory=list)
    """Names of the experiment's data stages applied, in this order, to this model's training part."""
    init: str | None = None
    """Label of another model of this experiment whose fitted model (same dataset and seed) starts
    this fit (a warm start: fine-tuning, continued training)."""
    init_path: str | None = None
    """A saved model folder that starts this fit (instead of ``init``)."""
    params_from: str | None = None
    """Label of another model of this experiment whose chosen hyper-parameters (same dataset and
    seed, tuned or not) this model uses, e.g. to refit a victim on poisoned data unchanged; the
    model's own values override them (``calibrate = true`` over a tuned ``itemgan``)."""
    each_data: list[str] = Field(default_factory=list)
    """Data-stage names or patterns (``"random-*"``, ``"*"``): the experiment expands this entry
    into one model per matching stage (in ``[[data]]`` order), labelled ``<label>@<stage>``, with
    that stage put into its ``data`` (e.g. one victim refit per attack and budget): in place of
    the entry ``"{each}"`` when ``data`` has one (``data = ["{each}", "defend"]``: each attack,
    then a defence that reads its record), else appended. ``"{each}"`` in ``init`` or
    ``params_from`` becomes the stage's name too: ``init = "bpr@{each}"`` warm-starts each
    expansion from the fit of ``bpr`` on the same poisoned data."""

    @property
    def params(self) -> dict[str, Any]:
        """Hyper-parameters: every key that is not a field of the spec."""
        return dict(self.model_extra or {})

    @property
    def key(self) -> str:
        """Label shown in tables (defaults to the model name)."""
        return self.label or self.name

    @model_validator(mode="after")
    def _check_model(self) -> ModelSpec:
        cls = get_model_class(self.name)
        unknown = set(upgrade_names(cls.config_class, self.params)) - set(cls.config_class.model_fields)
        if unknown:
            raise ValueError(
                f"model {self.name!r} has no parameter(s) {sorted(unknown)}; "
                f"known: {sorted(cls.config_class.model_fields)}"
            )
        if self.tune and not callable(getattr(cls, "search_space", None)):
            raise ValueError(f"model {self.key!r}: tune = {self.tune}, but {self.name!r} has no search space "
                             "(drop tune, or set its hyper-parameters)")
        if self.init is not None and self.init_path is not None:
            raise ValueError(f"model {self.key!r}: give init (a label) or init_path (a folder), not both")
        if self.params_from is not None and self.tune:
            raise ValueError(f"model {self.key!r}: params_from takes the hyper-parameters of "
                             f"{self.params_from!r}; drop tune (own values override single ones)")
        return self


class StageSpec(BaseModel):
    """A named data stage or evaluation: ``name``, registered ``kind``, and its parameters."""

    model_config = ConfigDict(extra="allow", frozen=True)

    name: str = Field(min_length=1)
    kind: str

    @property
    def params(self) -> dict[str, Any]:
        """The stage's parameters: every key other than name and kind."""
        return dict(self.model_extra or {})


class TableSpec(BaseModel):
    """One results table: an evaluation and the metric columns to show."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    evaluation: str = "test"
    metrics: list[str] | None = None
    """Columns, e.g. ``["hr@20", "ndcg@20"]``; default: NDCG, recall, precision and MRR at every cutoff
    (or every metric the evaluation reports when it has none of those)."""


class ExperimentConfig(BaseModel):
    """A grid of models x datasets x seeds, evaluated on each dataset's test split."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = "experiment"
    datasets: list[str] = Field(min_length=1)
    models: list[ModelSpec] = Field(min_length=1)
    seeds: list[int] = Field(default_factory=lambda: [0], min_length=1)
    split: str | None = None
    ks: list[int] = Field(default_factory=lambda: [20], min_length=1)
    baseline: str | None = None
    metric: str = "ndcg@20"
    output: str | None = None
    notes: str | None = None
    """Free text printed under the table (protocol details, models left out and why)."""
    data: list[StageSpec] = Field(default_factory=list)
    """Named data stages (``[[data]]``: name, kind, parameters) that models list in their ``data``."""
    evaluations: list[StageSpec] = Field(default_factory=lambda: [StageSpec(name="test", kind="ranking")])
    """Named evaluations (``[[evaluations]]``: name, kind, parameters) run on every fitted model;
    default: one full-ranking evaluation on the test part, named ``test``."""
    tables: list[TableSpec] = Field(default_factory=lambda: [TableSpec()])
    """Which evaluations (and metrics) the results tables show; default: the ``test`` evaluation."""
    checkpoint_every: int | None = Field(10, ge=1)
    """Iterative models checkpoint every this many epochs under their run's folder
    (``checkpoints/``, removed when the run has finished), so rerunning an
    interrupted experiment resumes unfinished fits and tuning trials; None writes none."""

    def root(self, out: str | Path | None = None) -> Path:
        """The run folders' root: ``out`` (``--out``), else ``output``, else ``runs/NAME``."""
        return Path(out or self.output or Path("runs") / self.name)

    @model_validator(mode="before")
    @classmethod
    def _expand_each_data(cls, raw: Any) -> Any:
        """One model per data stage matching an entry's ``each_data`` (see :class:`ModelSpec`)."""
        if not isinstance(raw, dict) or not isinstance(raw.get("models"), list):
            return raw
        stages = [d.get("name") if isinstance(d, dict) else getattr(d, "name", None) for d in raw.get("data", [])]
        models: list[Any] = []
        for m in raw["models"]:
            spec = m.model_dump() if isinstance(m, ModelSpec) else m
            patterns = spec.get("each_data") if isinstance(spec, dict) else None
            data = list(spec.get("data") or []) if isinstance(spec, dict) else []
            base = spec.get("label") or spec.get("name") if isinstance(spec, dict) else None
            if data.count(EACH) > (1 if patterns else 0):
                raise ValueError(f"model {base!r}: data may hold {EACH!r} once, and only with each_data "
                                 f"(the place of each matched stage); got data={data}")
            if not patterns:
                models.append(m)
                continue
            matched = match_names(patterns, [s for s in stages if isinstance(s, str)])
            if not matched:
                raise ValueError(f"model {base!r}: each_data={patterns} matches no data stage "
                                 f"(have {stages or 'none'})")
            for name in matched:
                placed = [name if d == EACH else d for d in data] if EACH in data else [*data, name]
                refs = {k: spec[k].replace(EACH, name) for k in ("init", "params_from")
                        if isinstance(spec.get(k), str) and EACH in spec[k]}
                models.append({**spec, "label": f"{base}@{name}", "data": placed, "each_data": [], **refs})
        return {**raw, "models": models}

    @model_validator(mode="after")
    def _check(self) -> ExperimentConfig:
        labels = [m.key for m in self.models]
        dup = {x for x in labels if labels.count(x) > 1}
        if dup:
            raise ValueError(f"model labels must be unique; repeated: {sorted(dup)} (add label = ...)")
        if self.baseline is not None and self.baseline not in labels:
            raise ValueError(f"baseline {self.baseline!r} is not one of the models {labels}")
        check_stages(self)
        return self


def load_experiment(path: str | Path) -> ExperimentConfig:
    """Read and validate an experiment TOML file.

    Raises
    ------
    ConfigError
        Naming the file and the offending key or line.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"experiment file not found: {p}")
    try:
        raw = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    try:
        return ExperimentConfig(**raw)
    except ValidationError as exc:
        msgs = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"])
            msgs.append(f"{loc}: {err['msg']}" if loc else err["msg"])
        raise ConfigError(f"{p}: " + "; ".join(msgs)) from None
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
