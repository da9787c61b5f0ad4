"""The ``advrec`` command line: data, train, run, recommend, perturb, attack, augment, rerank, privacy,
synth, demo.

Every user mistake (unknown dataset, bad split spec, misspelt parameter,
corrupted model folder) prints one clear line on stderr and exits with 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from advrec.cli.attack import add_attack_parser, attack_command
from advrec.cli.augment import add_augment_parser, augment_command
from advrec.cli.files import add_file_options, data_command, train_command
from advrec.cli.perturb import add_perturb_parser, perturb_command
from advrec.cli.privacy import add_privacy_parser, privacy_command
from advrec.cli.rerank import add_rerank_parser, rerank_command
from advrec.cli.synth import add_synth_parser, synth_command
from advrec.errors import AdvrecError


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="advrec", description="Adversarial learning for recommender systems.")
    p.add_argument("--version", action="store_true", help="print the version and exit")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    data = sub.add_parser("data", help="list, describe and fetch datasets")
    dsub = data.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    dsub.add_parser("list", help="names of the built-in datasets")
    info = dsub.add_parser("info", help="counts, density, features and checksums of a dataset")
    info.add_argument("name", nargs="?", help="dataset name, file or folder (or give --train/--test)")
    info.add_argument("--json", action="store_true", help="print one JSON object")
    add_file_options(info)
    fetch = dsub.add_parser("fetch", help="make a dataset's files available locally")
    fetch.add_argument("name")

    tr = sub.add_parser("train", help="train a model, evaluate it on the test split, save it")
    tr.add_argument("model")
    tr.add_argument("--data", metavar="NAME", help="dataset name, file or folder (or give --train/--test)")
    tr.add_argument("--split", metavar="SPEC", help="e.g. random:0.8, loo, temporal:0.8, cold-item:0.2, fixed")
    tr.add_argument("--seed", type=int, default=0)
    tr.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="hyper-parameter (repeatable)")
    tr.add_argument("--tune", type=int, default=0, metavar="N_TRIALS", help="Optuna trials on validation data")
    tr.add_argument("--dp-epsilon", type=float, metavar="E",
                    help="train with DP-SGD to this epsilon (models with a dp_epsilon setting: bpr, multvae)")
    tr.add_argument("--k", type=int, action="append", metavar="K", help="metric cutoff (repeatable, default 20)")
    tr.add_argument("--out", metavar="DIR", help="where to save the model (default runs/<data>/<model>-seed<N>)")
    tr.add_argument("--json", action="store_true", help="print one JSON object")
    tr.add_argument("--progress", action="store_true",
                    help="show progress on stderr (fits, tuning trials with their validation score) even "
                         "when stderr is not a terminal; stdout stays one JSON object with --json")
    add_file_options(tr)

    run = sub.add_parser("run", help="run an experiment TOML file (models x datasets x seeds)")
    run.add_argument("experiment", metavar="EXPERIMENT.toml")
    run.add_argument("--out", metavar="DIR")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument("--baseline", metavar="LABEL",
                     help="test every model against this one instead of the file's baseline")
    run.add_argument("--jobs", type=int, default=1, metavar="N",
                     help="run up to N unfinished runs at once, each in its own process (default 1)")
    run.add_argument("--status", action="store_true",
                     help="only show which runs are done, in progress (checkpointed epoch) or pending")
    move = run.add_mutually_exclusive_group()
    move.add_argument("--pack", metavar="FILE.tar.gz",
                      help="only write the finished runs (without trained weights) to FILE, to go on elsewhere")
    move.add_argument("--unpack", metavar="FILE.tar.gz",
                      help="only add the runs of a pack to the run folders (files already there are kept)")

    rec = sub.add_parser("recommend", help="top-k recommendations from a saved model")
    rec.add_argument("model_dir", metavar="DIR")
    who = rec.add_mutually_exclusive_group(required=True)
    who.add_argument("--users", nargs="+", metavar="USER", help="external user ids")
    who.add_argument("--all", action="store_true", help="every user of the training data")
    rec.add_argument("-k", type=int, default=20)
    rec.add_argument("--include-seen", action="store_true", help="do not exclude training items")
    rec.add_argument("--out", metavar="FILE.csv", help="write CSV here instead of stdout")

    add_perturb_parser(sub)
    add_attack_parser(sub)
    add_augment_parser(sub)
    add_rerank_parser(sub)
    add_privacy_parser(sub)
    add_synth_parser(sub)

    demo = sub.add_parser("demo", help="fetch ML-100K, train the baselines, print a results table")
    demo.add_argument("--models", nargs="+", metavar="MODEL", help="subset of models to run")
    demo.add_argument("--seed", type=int, default=0)

    cur = sub.add_parser("curves", help="training curves (PNG) and diagnostics table of saved models")
    cur.add_argument("runs", nargs="+", metavar="DIR",
                     help="a saved model folder, or a folder of them (e.g. one per seed)")
    cur.add_argument("--out", required=True, metavar="FILE.png")
    cur.add_argument("--table", metavar="FILE.md", help="also write the diagnostics table here")
    cur.add_argument("--title", default="")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``advrec`` command; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except AdvrecError as exc:
        print(f"advrec: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("advrec: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # e.g. `advrec data info x | head`
        sys.stderr.close()
        return 0


def _dispatch(args: argparse.Namespace) -> int:
    if args.version:
        import advrec

        print(advrec.__version__)
        return 0
    if args.command is None:
        _parser().print_help()
        return 0
    handler = {"data": data_command, "train": train_command, "run": _run, "recommend": _recommend, "demo": _demo,
               "curves": _curves, "perturb": perturb_command, "attack": attack_command,
               "augment": augment_command, "rerank": rerank_command,
               "privacy": privacy_command, "synth": synth_command}
    return handler[args.command](args)


def _run(args: argparse.Namespace) -> int:
    from advrec.experiments.config import load_experiment
    from advrec.experiments.runner import run_experiment, to_markdown

    cfg = load_experiment(args.experiment)
    if args.baseline:
        from advrec.errors import ConfigError

        labels = [m.key for m in cfg.models]
        if args.baseline not in labels:
            raise ConfigError(f"--baseline {args.baseline!r} is not one of the models {labels}")
        cfg = cfg.model_copy(update={"baseline": args.baseline})
    if args.pack or args.unpack:
        from advrec.experiments.pack import pack_runs, unpack_runs

        if args.pack:
            got = pack_runs(cfg, args.pack, args.out)
            trials = f" and {got['trials']} finished tuning trials of runs in progress" if got["trials"] else ""
            print(f"packed {got['runs']} finished runs{trials} ({got['files']} files) into {args.pack}")
        else:
            got = unpack_runs(cfg, args.unpack, args.out)
            print(f"unpacked {args.unpack} into {cfg.root(args.out)}: {got['added']} files added, "
                  f"{got['kept']} already there kept")
        return 0
    if args.status:
        from advrec.experiments.status import experiment_status, status_markdown

        print(status_markdown(experiment_status(cfg, args.out)))
        return 0
    command = " ".join(["advrec run", str(args.experiment)]
                       + ([f"--baseline {args.baseline}"] if args.baseline else [])
                       + ([f"--out {args.out}"] if args.out else [])
                       + ([f"--jobs {args.jobs}"] if args.jobs > 1 else []))
    result = run_experiment(cfg, args.out, show_progress=not args.quiet, jobs=args.jobs, command=command)
    print(to_markdown(cfg, result["tables"]))
    return 0


def _recommend(args: argparse.Namespace) -> int:
    from advrec.serving.recommend import recommend_frame

    frame = recommend_frame(args.model_dir, users=args.users, k=args.k, exclude_seen=not args.include_seen)
    if args.out:
        from advrec.utils.io import atomic_write_with

        atomic_write_with(args.out, lambda tmp: frame.to_csv(tmp, index=False))
        print(f"wrote {len(frame)} rows to {args.out}")
    else:
        frame.to_csv(sys.stdout, index=False)
    return 0


def _demo(args: argparse.Namespace) -> int:
    from advrec.demo import run_demo

    run_demo(models=args.models, seed=args.seed)
    return 0


def _curves(args: argparse.Namespace) -> int:
    from advrec.reports.curves import diagnostics_table, load_histories, plot_curves
    from advrec.utils.io import atomic_write_text

    histories = load_histories(args.runs)
    print(f"wrote {plot_curves(histories, args.out, args.title)}")
    table = diagnostics_table(histories)
    if args.table:
        atomic_write_text(args.table, table + "\n")
    print(table)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
