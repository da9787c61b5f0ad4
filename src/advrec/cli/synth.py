"""``advrec synth --data NAME --out DIR [--dp-epsilon E]``: release a synthetic dataset.

A GAN (:mod:`advrec.privacy.synth`) learns from the training records of 80% of the real users
(the members) and draws synthetic users; with ``--dp-epsilon`` its discriminator is trained with
DP-SGD (a per-user guarantee). ``DIR`` receives the synthetic records split per user at random
80/20 (``synthetic.train``, ``synthetic.test``: ``advrec train --data DIR`` reads them) and
``synth.json``: configuration, seed, checksums, versions, the privacy spent, and the measured
utility, privacy and mode-collapse diagnostics (:mod:`advrec.privacy.synth_audit`).

``synth.json`` is computed from the real data (it is *not* covered by the DP guarantee): share
the two synthetic files, keep the record.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from advrec.errors import ConfigError


def add_synth_parser(sub: Any) -> None:
    """Register the ``synth`` subcommand on the top-level subparsers."""
    from advrec.cli.files import add_file_options

    p = sub.add_parser("synth", help="train a GAN on the data and write a synthetic dataset (optionally DP)",
                       description="Train a GAN on the training records of 80%% of the users, draw synthetic "
                                   "users, write them to DIR as files advrec train --data DIR reads, and "
                                   "measure their utility (EASE^R NDCG@20 on the real test data, as a ratio of "
                                   "the real-data score), privacy (membership AUC, distance to the closest "
                                   "real profile) and mode collapse (synth.json).")
    p.add_argument("--data", metavar="NAME", help="dataset name, file or folder (or give --train/--test)")
    p.add_argument("--out", required=True, metavar="DIR", help="folder to write (must be new or empty)")
    p.add_argument("--dp-epsilon", type=float, metavar="E",
                   help="train the discriminator with DP-SGD to (E, delta)-DP per user (default: not private)")
    p.add_argument("--dp-delta", type=float, metavar="D",
                   help="delta of the DP guarantee (default min(1e-5, 1/(10 * members)); needs --dp-epsilon)")
    p.add_argument("--users", type=int, metavar="N", help="synthetic users to draw (default: as many as the members)")
    p.add_argument("--epochs", type=int, metavar="N", help="GAN training epochs (default 200, 30 with --dp-epsilon)")
    p.add_argument("--split", metavar="SPEC", help="split of the real data, e.g. random:0.8 "
                                                    "(default: the published split, else random:0.8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, members, GAN and sampling (default 0)")
    p.add_argument("--json", action="store_true", help="print the record as one JSON object (no progress bar)")
    add_file_options(p)


def check_options(args: argparse.Namespace) -> dict[str, Any]:
    """The GAN's parameters from the options; a bad option raises :class:`ConfigError` naming it."""
    if args.dp_epsilon is not None and not args.dp_epsilon > 0:
        raise ConfigError(f"--dp-epsilon must be a positive number, got {args.dp_epsilon}")
    if args.dp_delta is not None:
        if args.dp_epsilon is None:
            raise ConfigError("--dp-delta needs --dp-epsilon (without it the GAN is not private)")
        if not 0 < args.dp_delta < 1:
            raise ConfigError(f"--dp-delta must be in (0, 1), got {args.dp_delta}")
    for flag, value in (("--users", args.users), ("--epochs", args.epochs)):
        if value is not None and value < 1:
            raise ConfigError(f"{flag} must be a positive integer, got {value}")
    if args.seed < 0:
        raise ConfigError(f"--seed must be >= 0, got {args.seed}")
    params: dict[str, Any] = {"seed": args.seed, "dp_epsilon": args.dp_epsilon, "dp_delta": args.dp_delta}
    if args.epochs is not None:
        params["epochs"] = args.epochs
    return params


def synth_command(args: argparse.Namespace) -> int:
    """``advrec synth --data NAME --out DIR [...]``."""
    from advrec.cli.augment import _write_tsv
    from advrec.cli.files import resolve_dataset
    from advrec.data.splits import make_split
    from advrec.experiments.pipeline import load_cached
    from advrec.models.registry import default_params
    from advrec.privacy.synth import make_config, release
    from advrec.utils.io import atomic_write_json

    t0 = time.perf_counter()
    config = make_config(**check_options(args))
    if config.private:
        from advrec.privacy.synth import require_opacus

        require_opacus()  # a missing optional package is reported before any work
    out = Path(args.out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise ConfigError(f"--out {out}: exists and is not an empty folder (nothing was written)")
    ds = resolve_dataset(args, args.data, "--data")
    if isinstance(ds, str):
        ds = load_cached(ds)
    spec = args.split or ("fixed" if ds.split is not None else "random:0.8")
    split = make_split(ds.interactions, spec, seed=args.seed, fixed=ds.split, valid_ratio=0.0)
    synthetic, measured = release(split.train, split.test, config, n_users=args.users,
                                  ease_params=default_params("ease", ds.name), show_progress=not args.json)
    parts = make_split(synthetic, "random:0.8", seed=args.seed, valid_ratio=0.0)
    record = {"data": ds.name, "split": split.name, **measured,
              "synthetic_split": "random:0.8", "files": ["synthetic.train", "synthetic.test"],
              "checksums": {"real_train_sha256": split.train.checksum(), "real_test_sha256": split.test.checksum(),
                            "synthetic_sha256": synthetic.checksum(), "source_files": ds.source.get("files", {})},
              "versions": _versions(config.private), "wall_seconds": 0.0}
    out.mkdir(parents=True, exist_ok=True)
    _write_tsv(out / "synthetic.train", parts.train)
    _write_tsv(out / "synthetic.test", parts.test)
    record["wall_seconds"] = time.perf_counter() - t0
    atomic_write_json(out / "synth.json", record)
    if args.json:
        print(json.dumps(record))
    else:
        u, p, d = record["utility"], record["privacy"], record["diagnostics"]
        dp = record["dp"]
        dp_text = f"({dp['epsilon']:.3g}, {dp['delta']:.2g})-DP per user" if dp else "not private"
        print(f"{synthetic.n_users} synthetic users, {len(synthetic)} records of {ds.name} ({dp_text}) in "
              f"{record['wall_seconds']:.0f}s; utility: NDCG@20 {u['ndcg@20_synthetic']:.4f} vs real "
              f"{u['ndcg@20_real']:.4f} (ratio {u['ratio']:.3f}); membership AUC {p['membership_auc']:.3f} "
              f"[{p['ci'][0]:.3f}, {p['ci'][1]:.3f}], median DCR members {p['dcr_members']:.3f} / holdout "
              f"{p['dcr_holdout']:.3f}, identical {p['identical_share']:.3f}; coverage {d['coverage']:.3f} (real "
              f"{d['real_coverage']:.3f}), popularity JS {d['pop_js']:.3f}; written to {out}", file=sys.stderr)
    return 0


def _versions(private: bool) -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    import numpy
    import torch

    import advrec

    out = {"advrec": advrec.__version__, "torch": torch.__version__, "numpy": numpy.__version__,
           "python": sys.version.split()[0]}
    if private:
        try:
            out["opacus"] = version("opacus")
        except PackageNotFoundError:  # pragma: no cover - checked before training
            pass
    return out
