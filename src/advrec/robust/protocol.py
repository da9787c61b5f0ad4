"""The poisoning protocol for one victim: fit clean -> inject -> refit -> (defend -> refit) -> compare.

:func:`poisoning_protocol` is what ``advrec attack`` runs; experiment files run the same protocol
as a grid (``each_data`` and ``params_from``, see ``docs/robustness.md``). Every fit goes through
:func:`advrec.experiments.pipeline.train_and_evaluate`, so a number here and one in a benchmark
table come from the same code. The refits reuse the clean fit's hyper-parameters (its tuned
per-dataset defaults, or the fallback it chose by early stopping), so only the data differ.

Every phase is measured the same way: ``ndcg@K`` / ``recall@K`` of the real users on the test
part, and ``target_hr@K`` / ``target_ndcg@K`` of the attack's target items over the real users
who had not interacted with them (:func:`advrec.eval.targets.target_item_metrics`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from advrec.data.sources import Dataset
from advrec.errors import ConfigError
from advrec.experiments.data_stages import DataStage, make_stage
from advrec.robust.attacks import InjectParams

#: ``advrec attack --attack`` names and the attack data stages they run
ATTACK_KINDS: dict[str, str] = {"random": "inject-random", "average": "inject-average",
                                "bandwagon": "inject-bandwagon", "popular": "inject-popular", "gan": "inject-gan"}
#: ``advrec attack --defence`` names: (detector, action); ``detect`` is the default detector, then removal
DEFENCES: dict[str, tuple[str, str]] = {"detect": ("supervised", "remove"), "downweight": ("supervised", "downweight"),
                                        "detect-pca": ("pca-varselect", "remove"),
                                        "detect-outlier": ("feature-outlier", "remove")}
#: heuristic attack kinds: what the default (supervised) detector may train on
HEURISTIC = ("inject-random", "inject-average", "inject-bandwagon", "inject-popular")
ATTACK_STAGE, DEFENCE_STAGE = "attack", "defence"


@dataclass
class PoisoningResult:
    """Metrics of the clean fit, the attacked refit and (with a defence) the defended refit."""

    clean: dict[str, float | None]
    attacked: dict[str, float | None]
    defended: dict[str, float | None] | None = None
    detection: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the info fields, ``clean``, ``attacked``, ``gain`` and, with a defence,
        ``defended``, ``defended_gain``, ``defence_cost`` and ``detection``."""
        out: dict[str, Any] = {**self.info, "clean": self.clean, "attacked": self.attacked,
                               "gain": _gain(self.attacked, self.clean)}
        if self.defended is not None:
            out.update(defended=self.defended, defended_gain=_gain(self.defended, self.clean),
                       defence_cost=_cost(self.defended, self.attacked), detection=self.detection)
        return out


def _gain(after: dict[str, float | None], before: dict[str, float | None]) -> dict[str, float | None]:
    """``after - before`` of every target metric."""
    out: dict[str, float | None] = {}
    for k, a in after.items():
        b = before[k]
        if k.startswith("target_"):
            out[k] = None if a is None or b is None else a - b
    return out


def _cost(defended: dict[str, float | None], attacked: dict[str, float | None]) -> dict[str, float | None]:
    """Relative loss of every clean-accuracy metric of the defended refit against the attacked one."""
    out: dict[str, float | None] = {}
    for k, v in defended.items():
        base = attacked[k]
        if not k.startswith("target_"):
            out[k] = None if v is None or not base else (base - v) / base
    return out


def attack_stage(attack: str, *, budget: float, filler: int = 36, targets: int = 5,
                 target_pool: str = "unpopular", params: dict[str, Any] | None = None) -> DataStage:
    """The attack data stage of ``advrec attack``.

    Parameters
    ----------
    attack
        A name of :data:`ATTACK_KINDS` (or the stage kind itself, e.g. ``inject-gan``).
    budget
        Fake users: a fraction of the real users with training data when below 1, else their number
        (a whole number, e.g. 50).
    filler, targets, target_pool
        Filler items per fake profile; target items drawn by the seed from the least (``unpopular``)
        or most (``popular``) popular half of the items.
    params
        Further parameters of the attack (e.g. the GAN attack's ``epochs``).
    """
    kind = ATTACK_KINDS.get(attack, attack)
    if kind not in ATTACK_KINDS.values():
        raise ConfigError(f"unknown attack {attack!r}; choose from {sorted(ATTACK_KINDS)}")
    if not (budget > 0 and math.isfinite(budget)):
        raise ConfigError(f"--budget must be a fraction in (0, 1) or a number of fake users >= 1, got {budget}")
    if budget >= 1 and budget != int(budget):
        raise ConfigError(f"--budget {budget}: a budget of 1 or more is a number of fake users, so a whole number")
    size = {"fraction": budget} if budget < 1 else {"n_fake": int(budget)}
    return make_stage(ATTACK_STAGE, kind, {**size, "filler": filler, "targets": targets,
                                           "target_pool": target_pool, **(params or {})})


def defence_stage(defence: str, attack: DataStage) -> DataStage:
    """The ``defend-detect`` stage of ``advrec attack --defence``.

    ``detect`` / ``downweight``: the supervised detector, trained on the heuristic attack kinds other
    than the tested one (3 seeds each, never the tested seed, with the attack's filler size: the
    defender is assumed to know the typical size of a new profile), flagging P(fake) >= 0.5; it never
    sees the GAN attack. ``detect-pca`` / ``detect-outlier``: unsupervised, flagging as many users as
    the attack injected (they are assumed to know the attack size, as in Mehta & Nejdl 2009).
    """
    if defence not in DEFENCES:
        raise ConfigError(f"unknown defence {defence!r}; choose from {sorted(DEFENCES)}")
    detector, action = DEFENCES[defence]
    p = _inject_params(attack)
    if detector == "supervised":
        kinds = [k for k in HEURISTIC if k != attack.kind]
        params: dict[str, Any] = {"train_attacks": kinds, "train_repeats": 3, "train_params": {"filler": p.filler}}
    else:
        params = {"n_flag": p.n_fake} if p.n_fake is not None else {"fraction": p.fraction}
    return make_stage(DEFENCE_STAGE, "defend-detect", {"detector": detector, "action": action, **params})


def poisoning_protocol(victim: str, dataset: str | Dataset, *, attack: DataStage, defence: DataStage | None = None,
                       split: str | None = None, seed: int = 0, params: dict[str, Any] | None = None,
                       ks: tuple[int, ...] = (20,), out: str | Path | None = None,
                       show_progress: bool = False, log: Any = None) -> PoisoningResult:
    """Fit ``victim`` clean, refit it on the poisoned training part and (with ``defence``) on the
    defended one; measure each on the same real test users and the attack's targets.

    Parameters
    ----------
    victim, dataset, split, seed
        Registered model name; dataset name or loaded dataset; split spec (default: the dataset's
        published split, else ``random:0.8``); seed of the split, the attack and every fit.
    attack, defence
        Stages from :func:`attack_stage` and :func:`defence_stage`.
    params
        Hyper-parameters of the clean fit over the victim's per-dataset defaults; the refits reuse
        every hyper-parameter of the clean fit.
    ks, out, show_progress, log
        Metric cutoffs; a folder for the three runs (``clean/``, ``attacked/``, ``defended/``;
        finished ones are reused); progress bars; ``log(str)`` receives one line per phase.
    """
    from advrec.experiments.evaluations import Ranking, TargetItems
    from advrec.experiments.pipeline import train_and_evaluate

    p = _inject_params(attack)
    say = log or (lambda _msg: None)
    evals = [Ranking("test", {}), TargetItems("targets", {"stage": attack.name})]
    root = None if out is None else Path(out)

    def run(label: str, stages: list[DataStage], **kw: Any) -> dict[str, Any]:
        say(f"{label}: fitting {victim}" + (f" after {' -> '.join(s.kind for s in stages)}" if stages else ""))
        res = train_and_evaluate(victim, dataset, split=split, seed=seed, ks=ks, evaluations=evals,
                                 stages=stages, show_progress=show_progress,
                                 out=None if root is None else root / label, **kw)
        return res.record

    clean = run("clean", [], params=params, other_stages=[attack], fallback=True)
    same = {k: v for k, v in clean["hyperparameters"].items() if k != "seed"}
    attacked = run("attacked", [attack], params=same)
    stage = attacked["data_stages"][0]
    defended = None if defence is None else run("defended", [attack, defence], params=same)
    info = {"data": clean["dataset"], "split": clean["split"], "seed": seed, "victim": victim,
            "attack": attack.kind, "budget": p.n_fake or p.fraction,
            "n_fake": stage["n_fake_users"], "filler": p.filler,
            "targets": stage["targets"], "target_pool": p.target_pool,
            "craft_seconds": stage.get("craft_seconds"), "hyperparameters": same,
            "defence": None if defence is None else defence.params.model_dump(mode="json"),
            "fit_seconds": {"clean": clean["fit_seconds"], "attacked": attacked["fit_seconds"],
                            **({} if defended is None else {"defended": defended["fit_seconds"]})}}
    if root is not None:
        info["out"] = str(root)
    detection = None
    if defended is not None:
        drec = defended["data_stages"][-1]
        got = drec.get("detection") or {}
        detection = {"detector": drec["detector"], **{k: got.get(k) for k in ("precision", "recall", "f1")},
                     "n_flagged": drec["n_flagged"], "n_real_flagged": drec["n_real_flagged"],
                     "n_fake": stage["n_fake_users"]}
    return PoisoningResult(_metrics(clean, ks), _metrics(attacked, ks),
                           None if defended is None else _metrics(defended, ks), detection, info)


def _inject_params(stage: DataStage) -> InjectParams:
    if not isinstance(stage.params, InjectParams):
        raise ConfigError(f"data stage {stage.name!r} ({stage.kind}) is not a fake-user injection attack")
    return stage.params


def _metrics(record: dict[str, Any], ks: tuple[int, ...]) -> dict[str, float | None]:
    test = record["evaluations"]["test"]["metrics"]
    target = record["evaluations"]["targets"]["metrics"]
    out: dict[str, float | None] = {}
    for k in ks:
        out.update({f"target_hr@{k}": target.get(f"hr@{k}"), f"target_ndcg@{k}": target.get(f"ndcg@{k}"),
                    f"ndcg@{k}": test.get(f"ndcg@{k}"), f"recall@{k}": test.get(f"recall@{k}")})
    return out
