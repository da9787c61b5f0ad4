"""Fit a model on the training part of a validation split, evaluating every few epochs without
stopping early, and plot its training curves with the validation metric (test never used).

Usage (the IRGAN curves of docs/benchmarks/irgan_ml100k.md):
    python benchmarks/validation_curves.py irgan --data ml-100k-u1-pos4 \
        --from-run runs/irgan-ml100k/ml-100k-u1-pos4/irgan/seed0 --set epochs=100 \
        --label irgan --out docs/benchmarks/img/irgan_ml100k_curves.png
``--from-run`` starts from the hyper-parameters a finished run used; ``--set`` overrides them.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from advrec.experiments.pipeline import load_cached, parse_assignments, resolve_split
from advrec.models import create
from advrec.reports.curves import diagnostics_table, plot_curves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("model")
    ap.add_argument("--data", required=True)
    ap.add_argument("--from-run", metavar="DIR", help="take the hyper-parameters of this finished run")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--label", default=None)
    ap.add_argument("--out", required=True, metavar="FILE.png")
    args = ap.parse_args()
    params = {}
    if args.from_run:
        params = json.loads((Path(args.from_run) / "result.json").read_text(encoding="utf-8"))["hyperparameters"]
    params.update(parse_assignments(args.set))
    params.update(seed=args.seed, eval_every=args.eval_every, patience=None, restore_best=False)
    split = resolve_split(load_cached(args.data), None, args.seed).tuning()
    model = create(args.model, **params).fit(split.train, split.test, show_progress=True)
    label = args.label or args.model
    histories = {label: [model.history]}
    print(f"wrote {plot_curves(histories, args.out, f'{label} on {args.data} (validation part, seed {args.seed})')}")
    print(diagnostics_table(histories))
    best = max((h for h in model.history if f"valid_{model.config.valid_metric}" in h),
               key=lambda h: h[f"valid_{model.config.valid_metric}"])
    print(f"best validation {model.config.valid_metric}: {best[f'valid_{model.config.valid_metric}']:.4f} "
          f"at epoch {int(best['epoch'])}")


if __name__ == "__main__":
    main()
