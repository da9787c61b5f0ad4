"""``advrec data info`` and ``advrec train``: built-in datasets by name, or a user's own files.

A fixed split of any names is given as ``--train FILE --test FILE [--valid FILE]``;
one file as ``--data FILE``. The file options (``--columns``, ``--sep``,
``--header/--no-header``, ``--implicit-threshold``, ``--duplicates``) say what
the layout sniffer cannot know.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from advrec.data.owndata import FileOptions
from advrec.data.sources import Dataset
from advrec.errors import ConfigError

_FILE_FLAGS = ("--columns", "--sep", "--header/--no-header", "--implicit-threshold", "--duplicates")


def add_file_options(p: argparse.ArgumentParser) -> None:
    """The options that name a user's files and say how to read them."""
    g = p.add_argument_group("your own files (instead of a dataset name)")
    g.add_argument("--train", metavar="FILE", help="training part of a fixed split (any file name)")
    g.add_argument("--test", metavar="FILE", help="test part of the fixed split")
    g.add_argument("--valid", metavar="FILE", help="validation part (optional; else carved from train)")
    g.add_argument("--columns", metavar="SPEC",
                   help="field roles in order, e.g. user,item,rating,timestamp ('-' skips a field; "
                        "'user,items' = one line per user); default: from the header or the field count")
    g.add_argument("--sep", metavar="SEP", help="field separator: a character, tab, comma, whitespace, ... "
                                                "(default: sniffed)")
    g.add_argument("--header", action=argparse.BooleanOptionalAction, default=None,
                   help="whether the first line is a header (default: sniffed)")
    g.add_argument("--implicit-threshold", type=float, metavar="R",
                   help="keep ratings >= R as implicit positives (1.0); drop the others")
    g.add_argument("--duplicates", choices=("error", "first", "last", "sum", "max"), default="error",
                   help="repeated (user, item) pairs: refuse (default) or keep the first / last, sum, max")


def file_options(args: argparse.Namespace) -> FileOptions:
    """The :class:`FileOptions` the command line gave."""
    return FileOptions(columns=args.columns, sep=args.sep, header=args.header,
                       implicit_threshold=args.implicit_threshold, duplicates=args.duplicates)


def resolve_dataset(args: argparse.Namespace, name: str | None, flag: str) -> str | Dataset:
    """A dataset name (loaded by name, exactly as before) or the user's files, loaded.

    Raises
    ------
    ConfigError
        Neither or both of a name and ``--train``/``--test``; file options with a
        built-in dataset name.
    """
    from advrec.data.autodetect import load_path
    from advrec.data.datasets import REGISTRY
    from advrec.data.owndata import load_own_split

    opts = file_options(args)
    files = [f for f in (args.train, args.test, args.valid) if f is not None]
    if files:
        if name is not None:
            raise ConfigError(f"give either {flag} or --train/--test files, not both")
        if args.train is None or args.test is None:
            raise ConfigError("a fixed split needs both --train FILE and --test FILE (--valid FILE is optional)")
        for f in files:
            if not Path(f).is_file():
                raise ConfigError(f"{f}: no such file (given to --train/--test/--valid)")
        return load_own_split(args.train, args.test, args.valid, options=opts)
    if name is None:
        raise ConfigError(f"name a dataset ({flag} NAME, a file or a folder) or give --train FILE --test FILE; "
                          "'advrec data list' shows the built-in names")
    if opts.is_default():
        return name
    if name in REGISTRY:
        raise ConfigError(f"{', '.join(_FILE_FLAGS)} apply to your own files; {name!r} is a built-in dataset")
    path = Path(name).expanduser()
    if not path.exists():
        raise ConfigError(f"{name}: no such file or folder (given to {flag})")
    return load_path(path, opts)


def data_command(args: argparse.Namespace) -> int:
    """``advrec data list|fetch|info``."""
    from advrec.data.datasets import dataset_info, dataset_names, fetch_dataset, load_dataset

    if args.data_command == "list":
        print("\n".join(dataset_names()))
    elif args.data_command == "fetch":
        print(fetch_dataset(args.name))
    else:
        ds = resolve_dataset(args, args.name, "a dataset name")
        info = dataset_info(load_dataset(ds) if isinstance(ds, str) else ds)
        print(json.dumps(info, indent=2, default=str) if args.json else _format_info(info))
    return 0


def _format_info(info: dict[str, Any], indent: str = "") -> str:
    lines = []
    for key, val in info.items():
        if isinstance(val, dict) and not val:
            continue
        if isinstance(val, dict):
            lines.append(f"{indent}{key}:")
            lines.append(_format_info(val, indent + "  "))
        else:
            lines.append(f"{indent}{key}: {val}")
    return "\n".join(lines)


def tuning_summary(tuning: dict[str, Any] | None) -> dict[str, Any] | None:
    """Number of trials, the best one and every trial's parameters and validation score."""
    if not tuning:
        return None
    history = tuning["history"]
    best = max(history, key=lambda t: t["value"])
    return {"trials": tuning["trials"], "best_trial": best["number"], "best_value": best["value"],
            "history": [{"number": t["number"], "value": t["value"], "params": t["params"],
                         **({"selected": t["selected"]} if "selected" in t else {})} for t in history]}


def train_command(args: argparse.Namespace) -> int:
    """``advrec train MODEL (--data NAME | --train FILE --test FILE) ...``."""
    from advrec.cli.perturb import save_source
    from advrec.experiments.pipeline import parse_assignments, train_and_evaluate
    from advrec.models.registry import get_model_class
    from advrec.utils.io import safe_name

    klass = get_model_class(args.model)  # an unknown model is reported before any file is read
    params = parse_assignments(args.set)
    if getattr(args, "dp_epsilon", None) is not None:
        params["dp_epsilon"] = _dp_epsilon(args.dp_epsilon, klass)
    ds = resolve_dataset(args, args.data, "--data")
    label = ds if isinstance(ds, str) else ds.name
    out = args.out or str(Path("runs") / safe_name(label) / f"{args.model}-seed{args.seed}")
    res = train_and_evaluate(
        args.model, ds, split=args.split, seed=args.seed, params=params, tune_trials=args.tune,
        ks=tuple(args.k or [20]), out=out, show_progress=args.progress or sys.stderr.isatty(),
        fallback=True,  # without tuned defaults for this model and data: say so, fall back, stop early
    )
    rec = res.record
    save_source(args, out)  # what `advrec perturb` reads to rebuild the split
    if args.json:
        keep = ("model", "dataset", "split", "seed", "hyperparameters", "defaults", "fit_seconds", "eval_seconds",
                "metrics", "metrics_by_setting", "n_test_users", "out", "privacy")
        print(json.dumps({**{k: rec[k] for k in keep if k in rec}, "tuning": tuning_summary(rec.get("tuning"))}))
    else:
        print(f"{rec['model']} on {rec['dataset']} ({rec['split']}, seed {rec['seed']}): "
              f"fit {rec['fit_seconds']:.1f}s, {rec['n_test_users']} test users")
        summary = tuning_summary(rec.get("tuning"))
        if summary:
            print(f"  tuning: {summary['trials']} trials, best #{summary['best_trial']} "
                  f"(validation {summary['best_value']:.4f})")
        for key, val in sorted(rec["metrics"].items()):
            print(f"  {key:>16}: {val:.4f}")
        if rec.get("privacy"):
            p = rec["privacy"]
            print(f"  DP-SGD: epsilon {p['epsilon']:.3f}, delta {p['delta']:.2e} ({p['guarantee']})")
        print(f"saved to {rec['out']}")
    return 0


def _dp_epsilon(value: float, klass: type) -> float:
    """``--dp-epsilon``, checked: positive, and a model that trains privately."""
    from advrec.errors import ConfigError
    from advrec.models.registry import available, get_model_class

    if not value > 0:
        raise ConfigError(f"--dp-epsilon must be > 0, got {value}")
    if "dp_epsilon" not in klass.config_class.model_fields:
        private = [m for m in available() if "dp_epsilon" in get_model_class(m).config_class.model_fields]
        raise ConfigError(f"--dp-epsilon: model {klass.name!r} has no DP-SGD training; models with it: {private}")
    return float(value)
