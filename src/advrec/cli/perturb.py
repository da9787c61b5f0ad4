"""``advrec perturb MODEL_DIR --attack fgsm|pgd|random --eps E``: robustness of a saved model.

The folder is one written by ``advrec train --out`` (or a run of ``advrec run``): the model, its
``result.json`` (dataset, split, seed and the checksums of the training and test parts) and, since
this command exists, ``source.json`` (how ``advrec train`` was told to read the data, so a user's
own files are found again). The test split is rebuilt from those and checked against the
checksums before anything is measured.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from advrec.errors import ConfigError, DataError, ModelFileError

SOURCE_FILE = "source.json"
RESULT_FILE = "result.json"
_FILE_ARGS = ("data", "train", "test", "valid")
_OPTION_ARGS = ("columns", "sep", "header", "implicit_threshold", "duplicates")
#: ``advrec.robust.perturb.ATTACKS`` / ``TARGETS``, repeated so that parsing the command line imports no torch
_ATTACKS = ("fgsm", "pgd", "random")
_TARGETS = ("both", "users", "items")


def add_perturb_parser(sub: Any) -> None:
    """Register the ``perturb`` subcommand on the top-level subparsers."""
    p = sub.add_parser("perturb", help="FGSM / PGD / random perturbation of a saved model's embeddings")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by 'advrec train --out'")
    p.add_argument("--attack", required=True, choices=_ATTACKS)
    p.add_argument("--eps", required=True, type=float, metavar="E", help="L2 budget of every embedding row (> 0)")
    p.add_argument("--steps", type=int, default=10, metavar="N", help="PGD steps (default 10)")
    p.add_argument("--alpha", type=float, metavar="A", help="PGD step size (default 2.5 * eps / steps)")
    p.add_argument("--target", choices=_TARGETS, default="both", help="which embeddings move (default both)")
    p.add_argument("--k", type=int, action="append", metavar="K", help="metric cutoff (repeatable, default 20)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled negatives or the noise")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def save_source(args: argparse.Namespace, out: str | Path) -> None:
    """Write ``source.json`` into a run folder of ``advrec train``: where its data came from
    (file paths made absolute) and the split and seed, so ``advrec perturb`` can rebuild them."""
    from advrec.utils.io import atomic_write_json

    files = {k: _absolute(getattr(args, k, None)) for k in _FILE_ARGS}
    options = {k: getattr(args, k, None) for k in _OPTION_ARGS}
    atomic_write_json(Path(out) / SOURCE_FILE, {**files, "options": options, "split": args.split, "seed": args.seed})


def _absolute(value: str | None) -> str | None:
    if value is None or not Path(value).expanduser().exists():
        return value  # a dataset name (or nothing)
    return str(Path(value).expanduser().resolve())


def rebuild_parts(model_dir: Path) -> tuple[Any, Any, dict[str, Any]]:
    """``(fit data, test part, result record)`` of the run saved in ``model_dir``, checked against its checksums.

    Raises
    ------
    ModelFileError
        Without ``result.json``, or without a record of where the data came from.
    DataError
        If the rebuilt parts differ from those the model was trained and tested on.
    """
    from advrec.cli.files import resolve_dataset
    from advrec.data.datasets import REGISTRY, load_dataset
    from advrec.experiments.pipeline import resolve_split

    f = model_dir / RESULT_FILE
    if not f.is_file():
        raise ModelFileError(f"{model_dir}: no {RESULT_FILE}; 'advrec perturb' needs a folder written by "
                             "'advrec train --out' (it records the data, split and seed)")
    record = json.loads(f.read_text(encoding="utf-8"))
    if record.get("data_stages"):
        raise ConfigError(f"{model_dir}: this run changed its training data with data stages; measure it with "
                          "a [[evaluations]] kind = \"perturb\" in its experiment file instead")
    src = model_dir / SOURCE_FILE
    if src.is_file():
        saved = json.loads(src.read_text(encoding="utf-8"))
        ns = argparse.Namespace(**{k: saved.get(k) for k in _FILE_ARGS}, **saved.get("options", {}))
        ns.duplicates = ns.duplicates or "error"
        ds = resolve_dataset(ns, ns.data, "--data")
        spec, seed = saved.get("split"), int(saved.get("seed", record["seed"]))
    elif record.get("dataset") in REGISTRY:  # folders written before source.json: built-in data only
        ds, spec, seed = record["dataset"], record["split"], int(record["seed"])
    else:
        raise ModelFileError(f"{model_dir}: no {SOURCE_FILE} and {record.get('dataset')!r} is not a built-in "
                             "dataset, so its data cannot be found again; retrain it with 'advrec train --out'")
    dataset = load_dataset(ds) if isinstance(ds, str) else ds  # read afresh: the files may have changed
    split = resolve_split(dataset, spec, seed, need_valid=False)
    fit_data = split.train_full()
    sums = record.get("data", {})
    if fit_data.checksum() != sums.get("train_sha256") or split.test.checksum() != sums.get("test_sha256"):
        raise DataError(f"{model_dir}: the rebuilt training / test data differ from those the model was trained "
                        "and tested on (checksums in result.json): the data files changed since")
    return fit_data, split.test, record


def perturb_command(args: argparse.Namespace) -> int:
    """``advrec perturb MODEL_DIR --attack A --eps E [--steps N] [--json]``."""
    from advrec.models.base import Recommender
    from advrec.robust.perturb import perturb_evaluate

    if not args.eps > 0:
        raise ConfigError(f"--eps must be > 0, got {args.eps}")
    if args.steps < 1:
        raise ConfigError(f"--steps must be at least 1, got {args.steps}")
    model_dir = Path(args.model_dir)
    model = Recommender.load(model_dir)
    model.require("embeddings")  # before reading any data
    fit_data, test, record = rebuild_parts(model_dir)
    got = perturb_evaluate(model, fit_data, test, attack=args.attack, eps=args.eps, steps=args.steps,
                           alpha=args.alpha, target=args.target, ks=tuple(args.k or [20]), seed=args.seed)
    out = {"model": model.name, "data": record.get("dataset"), "split": record.get("split"),
           "model_dir": str(model_dir), "seed": args.seed, **got.to_dict()}
    if args.json:
        print(json.dumps(out))
        return 0
    steps = f", {out['steps']} steps" if args.attack == "pgd" else ""
    print(f"{out['model']} on {out['data']} ({out['split']}): {args.attack} eps={args.eps:g}{steps}, "
          f"target {args.target}, {out['n_users']} test users")
    print(f"  {'metric':>14}  {'clean':>8}  {'perturbed':>9}  {'drop':>7}")
    for key in sorted(out["clean"]):
        drop = out["relative_drop"].get(key)
        print(f"  {key:>14}  {_num(out['clean'][key]):>8}  {_num(out['perturbed'][key]):>9}  "
              f"{'n/a' if drop is None else f'{100 * drop:.1f}%':>7}")
    return 0


def _num(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.4f}"
