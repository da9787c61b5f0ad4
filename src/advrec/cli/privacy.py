"""``advrec privacy audit MODEL_DIR --attributes gender,age,occupation [--membership]``.

Attribute inference (and, with ``--membership``, user-level membership inference) against a
model saved by ``advrec train --out``. The training data are rebuilt from the folder's records
and checked against their checksums (:func:`advrec.cli.perturb.rebuild_parts`). See
``docs/privacy.md`` ("Audits") for the attackers, the sources and the protocol.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from advrec.errors import ModelFileError


def add_privacy_parser(sub: Any) -> None:
    """Register the ``privacy`` subcommand (action ``audit``) on the top-level subparsers."""
    p = sub.add_parser("privacy", help="privacy audits of a saved model (attribute / membership inference)")
    psub = p.add_subparsers(dest="privacy_command", metavar="ACTION", required=True)
    a = psub.add_parser("audit", help="attribute inference (and membership inference) against a saved model")
    a.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by 'advrec train --out'")
    a.add_argument("--attributes", default="gender,age,occupation", metavar="A,B",
                   help="private attributes to infer, comma-separated (default gender,age,occupation)")
    a.add_argument("--membership", action="store_true",
                   help="also audit membership inference (refits the model's class three times)")
    a.add_argument("--seed", type=int, default=0, help="seed of the folds, attackers, partitions and bootstrap")
    a.add_argument("--folds", type=int, default=5, metavar="K", help="stratified folds over users (default 5)")
    a.add_argument("--bootstrap", type=int, default=1000, metavar="B",
                   help="bootstrap resamples of the 95%% intervals (default 1000; 0: none)")
    a.add_argument("--json", action="store_true", help="print one JSON object")
    a.add_argument("--out", metavar="FILE", help="also write the JSON object to FILE")


def privacy_command(args: argparse.Namespace) -> int:
    """Dispatch ``advrec privacy ACTION``."""
    return {"audit": audit_command}[args.privacy_command](args)


def audit_command(args: argparse.Namespace) -> int:
    """``advrec privacy audit MODEL_DIR [--attributes ...] [--membership] [--json] [--out FILE]``."""
    from advrec.cli.perturb import RESULT_FILE, rebuild_parts
    from advrec.models.base import Recommender
    from advrec.privacy.attributes import parse_attributes
    from advrec.privacy.audit import privacy_audit
    from advrec.privacy.membership import require_fold_in

    attributes = parse_attributes(args.attributes)
    model_dir = Path(args.model_dir)
    if not model_dir.is_dir():
        raise ModelFileError(f"{model_dir}: no such folder; give a folder written by 'advrec train --out'")
    model = Recommender.load(model_dir)
    if not (model_dir / RESULT_FILE).is_file():
        raise ModelFileError(f"{model_dir}: no {RESULT_FILE}; 'advrec privacy audit' needs a folder written by "
                             "'advrec train --out' (it records the data, split and seed)")
    record = json.loads((model_dir / RESULT_FILE).read_text(encoding="utf-8"))
    dataset = record.get("dataset")
    if args.membership:  # before reading any data
        require_fold_in(model)
    fit_data, _test, record = rebuild_parts(model_dir)
    out = privacy_audit(model, fit_data, attributes, membership=args.membership, seed=args.seed, folds=args.folds,
                        bootstrap=args.bootstrap, dataset=dataset, model_dir=str(model_dir))
    if args.out:
        from advrec.utils.io import atomic_write_json

        atomic_write_json(args.out, out)
    if args.json:
        print(json.dumps(out))
    else:
        print(format_audit(out))
    return 0


def format_audit(out: dict[str, Any]) -> str:
    """A readable table of a :func:`~advrec.privacy.audit.privacy_audit` record."""
    lines = [(f"{out['model']} on {out['data']}: attribute inference ({out['folds']}-fold, "
              f"{out['bootstrap']} bootstrap resamples, seed {out['seed']}); AUC [95% CI], accuracy")]
    head = f"  {'attribute':<11} {'users':>5} {'cls':>3} {'majority':>8}  {'source':<16}"
    lines.append(head + "".join(f"  {a + ' AUC [CI]':<22} {'acc':>5}" for a in ("logreg", "mlp")))
    for name in out["attributes"]:
        got = out[name]
        for j, (source, by) in enumerate(got["sources"].items()):
            left = (f"  {name:<11} {got['n_users']:>5} {got['n_classes']:>3} {got['majority']:>8.3f}" if j == 0
                    else "  " + " " * 30)
            mark = "*" if source == got["source"] else ""
            cells = "".join(f"  {_auc(by[a]):<22} {by[a]['accuracy']:>5.3f}" for a in ("logreg", "mlp"))
            lines.append(f"{left}  {source + mark:<16}{cells}")
    lines.append("  * the model's own representation; the attribute's AUC is its stronger attacker. The "
                 "majority guess has AUC 0.5 and accuracy = majority.")
    if "membership" in out:
        m = out["membership"]
        lines.append(f"membership inference ({m['level']} level, {m['n_members']} members vs {m['n_non_members']} "
                     f"non-members; target: {m['target']}):")
        for attack in ("threshold", "shadow"):
            lines.append(f"  {attack:<9} AUC {_auc(m[attack])}" + ("  <- stronger" if attack == m["attack"] else ""))
    lines.append(f"({out['seconds']:.1f} s)")
    return "\n".join(lines)


def _auc(got: dict[str, Any]) -> str:
    lo, hi = got["ci"]
    return f"{got['auc']:.3f} [{lo:.3f}, {hi:.3f}]"
