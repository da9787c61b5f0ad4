"""``advrec attack --data NAME --victim MODEL --attack KIND --budget F``: one poisoning experiment.

Fit the victim clean, inject the fake users, refit it with the same hyper-parameters and (with
``--defence``) refit it once more after the defence; print the target hit rate, target NDCG and
clean NDCG of each (:func:`advrec.robust.protocol.poisoning_protocol`).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from advrec.errors import ConfigError

#: ``advrec.robust.protocol.ATTACK_KINDS`` / ``DEFENCES``, repeated so that parsing imports no torch
_ATTACKS = ("random", "average", "bandwagon", "popular", "gan")
_DEFENCES = ("detect", "downweight", "detect-pca", "detect-outlier")


def add_attack_parser(sub: Any) -> None:
    """Register the ``attack`` subcommand on the top-level subparsers."""
    from advrec.cli.files import add_file_options

    p = sub.add_parser("attack", help="poison a victim with fake users (and defend it): clean vs attacked",
                       description="Fit the victim clean -> inject fake users -> refit with the same "
                                   "hyper-parameters [-> detect and remove the fakes -> refit]; compare the "
                                   "target items' hit rate and the real users' NDCG.")
    p.add_argument("--data", metavar="NAME", help="dataset name, file or folder (or give --train/--test)")
    p.add_argument("--victim", required=True, metavar="MODEL", help="registered model name, e.g. bpr, itemknn")
    p.add_argument("--attack", required=True, choices=_ATTACKS, help="how the fake profiles are made")
    p.add_argument("--budget", required=True, type=float, metavar="F",
                   help="fake users: a fraction of the real users (e.g. 0.03), or a number of them when >= 1")
    p.add_argument("--filler", type=int, default=36, metavar="N", help="filler items per fake profile (default 36)")
    p.add_argument("--targets", type=int, default=5, metavar="N",
                   help="target items drawn by the seed (default 5)")
    p.add_argument("--target-pool", choices=("unpopular", "popular"), default="unpopular",
                   help="draw the targets from the least (default) or most popular half of the items")
    p.add_argument("--defence", nargs="?", const="detect", choices=_DEFENCES, metavar="KIND",
                   help="defend before the last refit: detect (default: supervised detector, remove the "
                        "flagged users), downweight, detect-pca, detect-outlier")
    p.add_argument("--split", metavar="SPEC", help="e.g. random:0.8 (default: the published split, else random:0.8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the split, targets, attack and fits")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="victim hyper-parameter for every fit (repeatable)")
    p.add_argument("--attack-set", action="append", default=[], metavar="KEY=VALUE",
                   help="attack parameter, e.g. epochs=200 for the GAN attack (repeatable)")
    p.add_argument("--k", type=int, action="append", metavar="K", help="metric cutoff (repeatable, default 20)")
    p.add_argument("--out", metavar="DIR", help="keep the three runs here (clean/, attacked/, defended/); "
                                                "finished ones are reused")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--progress", action="store_true", help="show progress bars on stderr even when it is no terminal")
    add_file_options(p)


def attack_command(args: argparse.Namespace) -> int:
    """``advrec attack --data NAME --victim MODEL --attack KIND --budget F [...] [--json]``."""
    from advrec.cli.files import resolve_dataset
    from advrec.experiments.pipeline import parse_assignments
    from advrec.models.registry import get_model_class
    from advrec.robust.protocol import attack_stage, defence_stage, poisoning_protocol

    get_model_class(args.victim)  # an unknown victim is reported before any file is read
    if args.filler < 0 or args.targets < 1:
        raise ConfigError(f"--filler must be >= 0 and --targets >= 1, got {args.filler} and {args.targets}")
    stage = attack_stage(args.attack, budget=args.budget, filler=args.filler, targets=args.targets,
                         target_pool=args.target_pool, params=parse_assignments(args.attack_set))
    defence = None if args.defence is None else defence_stage(args.defence, stage)
    ds = resolve_dataset(args, args.data, "--data")
    ks = tuple(args.k or [20])
    show = args.progress or sys.stderr.isatty()
    res = poisoning_protocol(args.victim, ds, attack=stage, defence=defence, split=args.split, seed=args.seed,
                             params=parse_assignments(args.set), ks=ks, out=args.out, show_progress=show,
                             log=(lambda msg: print(f"advrec: {msg}", file=sys.stderr)) if show else None)
    out = res.to_dict()
    if args.defence is not None:
        out["defence"] = {"kind": args.defence, **out["defence"]}
    if args.json:
        print(json.dumps(out))
        return 0
    _print_table(out, ks)
    return 0


def _print_table(out: dict[str, Any], ks: tuple[int, ...]) -> None:
    print(f"{out['victim']} on {out['data']} ({out['split']}, seed {out['seed']}): {out['attack']}, "
          f"{out['n_fake']} fake users x {out['filler']} fillers, targets {out['targets']} "
          f"(crafted in {out['craft_seconds']:.1f}s)")
    phases = [p for p in ("clean", "attacked", "defended") if p in out]
    print(f"  {'metric':>16}" + "".join(f"  {p:>9}" for p in phases))
    for key in out["clean"]:
        print(f"  {key:>16}" + "".join(f"  {_num(out[p][key]):>9}" for p in phases))
    k = ks[0]
    line = f"  target hr@{k} gain: {_num(out['gain'][f'target_hr@{k}'], signed=True)}"
    if "defended" in out:
        det = out["detection"]
        line += (f"; defended {_num(out['defended_gain'][f'target_hr@{k}'], signed=True)}, "
                 f"clean ndcg@{k} cost {_pct(out['defence_cost'][f'ndcg@{k}'])}")
        print(line)
        print(f"  detection ({det['detector']}): {det['n_flagged']} flagged, precision {_num(det.get('precision'))}, "
              f"recall {_num(det.get('recall'))}, f1 {_num(det.get('f1'))}")
    else:
        print(line)


def _num(v: float | None, signed: bool = False) -> str:
    return "n/a" if v is None else (f"{v:+.4f}" if signed else f"{v:.4f}")


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{100 * v:.1f}%"
