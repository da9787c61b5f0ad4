"""``advrec augment --data NAME --generator MODEL --out DIR``: write augmented training data.

The ``augment`` data stage (:mod:`advrec.experiments.augment`) on one split: the generator is fit
on the training part and proposes items for the chosen users; ``DIR`` receives the split as a
fixed split that ``advrec train --data DIR`` reads (``augmented.train``, the real training records;
``augmented.generated``, the generated ones, which models fit on and evaluation keeps as
candidates; ``augmented.test``; ``augmented.valid`` when the data has a published validation part) and what was done (``augment.json``: generator, counts,
mode-collapse diagnostics, seed, checksums).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from advrec.errors import ConfigError


def add_augment_parser(sub: Any) -> None:
    """Register the ``augment`` subcommand on the top-level subparsers."""
    from advrec.cli.files import add_file_options

    p = sub.add_parser("augment", help="add generated interactions for sparse users; write the augmented data",
                       description="Fit a generator (usergan, or any model, e.g. ease) on the training part, add "
                                   "each chosen user's best unseen items to it, and write the augmented split "
                                   "to DIR as files advrec train --data DIR reads.")
    p.add_argument("--data", metavar="NAME", help="dataset name, file or folder (or give --train/--test)")
    p.add_argument("--generator", required=True, metavar="MODEL", help="registered model name, e.g. usergan, ease")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (must be new or empty)")
    p.add_argument("--per-user", type=int, default=10, metavar="N", help="items added per chosen user (default 10)")
    p.add_argument("--users", default="sparsest:0.25", metavar="RULE",
                   help="'all' or 'sparsest:F', the fraction F of users with the fewest interactions "
                        "(default sparsest:0.25)")
    p.add_argument("--threshold", type=float, metavar="S", help="smallest generator score of an added item")
    p.add_argument("--split", metavar="SPEC", help="e.g. random:0.8 (default: the published split, else random:0.8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split and the generator")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="generator hyper-parameter (repeatable)")
    p.add_argument("--json", action="store_true", help="print the record as one JSON object")
    add_file_options(p)


def augment_command(args: argparse.Namespace) -> int:
    """``advrec augment --data NAME --generator MODEL --out DIR [...]``."""
    from advrec.cli.files import resolve_dataset
    from advrec.data.splits import make_split
    from advrec.experiments.data_stages import make_stage
    from advrec.experiments.pipeline import load_cached, parse_assignments
    from advrec.models.registry import get_model_class
    from advrec.utils.io import atomic_write_json

    get_model_class(args.generator)  # an unknown generator is reported before any file is read
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists and is not an empty folder (nothing was written)")
    stage = make_stage("augment", "augment", {
        "generator": args.generator, "params": parse_assignments(args.set), "per_user": args.per_user,
        "users": args.users, "threshold": args.threshold})
    ds = resolve_dataset(args, args.data, "--data")
    if isinstance(ds, str):
        ds = load_cached(ds)
    spec = args.split or ("fixed" if ds.split is not None else "random:0.8")
    split = make_split(ds.interactions, spec, seed=args.seed, fixed=ds.split, valid_ratio=0.0)
    augmented, record = stage.apply(split, args.seed)
    record = {"data": ds.name, "split": split.name, "seed": args.seed, **record,
              "train_sha256": augmented.train.checksum(), "test_sha256": augmented.test.checksum()}
    out.mkdir(parents=True, exist_ok=True)
    parts = {"augmented.train": augmented.real(augmented.train), "augmented.valid": augmented.valid,
             "augmented.test": augmented.test, "augmented.generated": augmented.generated}
    for name, part in parts.items():
        if part is not None:  # a published validation part is kept as such
            _write_tsv(out / name, part)
    atomic_write_json(out / "augment.json", record)
    if args.json:
        print(json.dumps(record))
    else:
        d = record["diagnostics"]
        print(f"{args.generator} added {record['records_added']} records for {record['n_users_augmented']} users "
              f"of {ds.name} ({split.name}, seed {args.seed}) in {record['generate_seconds']:.1f}s; coverage "
              f"{d['coverage']:.3f} (real {d['real_coverage']:.3f}), popularity JS {d['pop_js']:.3f}; "
              f"written to {out}", file=sys.stderr)
    return 0


def _write_tsv(path: Path, part: Any) -> None:
    """Records with external ids as a tab-separated file with a header (written atomically)."""
    import os

    frame = part.to_frame(external=True).rename(columns={"value": "rating"})
    tmp = path.with_name(path.name + ".tmp")
    frame.to_csv(tmp, sep="\t", index=False)
    os.replace(tmp, path)
