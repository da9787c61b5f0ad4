"""How far each poisoning attack moves the GAN attack's own surrogate: is a small target gain the
attack's fault or the budget's?

For every attack kind, budget and seed, the fake profiles the attack stage crafts on a split's
training part are scored by the closed-form ridge item-item surrogate the GAN attack trains against
(:class:`advrec.robust.attacks.gan_parts.RidgeSurrogate`, its default penalty and ``K = 20``, every
real user with enough unseen items): the hit rate is the share of (real user, target) pairs, the
user not having the target, whose target enters the surrogate's top 20 once the fakes are added.
No victim is fit and the test part is never read. A heuristic attack that cannot lift the targets
of the surrogate a GAN attack optimises, at a budget where the GAN attack can, says the budget, not
the attack, limits the victims' gains.

Usage::

    python benchmarks/attack_surrogate.py --data ml-100k --out docs/benchmarks/attack_surrogate_ml100k.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time

import numpy as np
import torch

from advrec.experiments.data_stages import make_stage
from advrec.experiments.pipeline import load_cached, resolve_split
from advrec.robust.attacks import ATTACKS
from advrec.robust.attacks.gan_parts import RidgeSurrogate
from advrec.utils.io import atomic_write_text


def surrogate_hit(data: str, kind: str, fraction: float, seed: int, filler: int, targets: int) -> tuple[float, float]:
    """(surrogate hit rate, seconds to craft) of one attack on the training part of ``data``'s random 80/20 split."""
    sp = resolve_split(load_cached(data), "random:0.8", seed, need_valid=False)
    stage = make_stage("attack", kind, {"fraction": fraction, "filler": filler, "targets": targets})
    t0 = time.perf_counter()
    out, rec = stage.apply(sp, seed)
    seconds = time.perf_counter() - t0
    n_real, n_items = rec["n_real_users"], sp.train.n_items
    real = torch.from_numpy((sp.train.csr.toarray() != 0).astype(np.float32))
    fake = torch.from_numpy((out.train.csr[n_real:].toarray() != 0).astype(np.float32))[:, :n_items]
    surrogate = RidgeSurrogate(real, torch.arange(real.shape[0]), torch.tensor(rec["target_index"]), 500.0, 20)
    return surrogate.loss(fake)[1], seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    ap.add_argument("--data", default="ml-100k")
    ap.add_argument("--fractions", nargs="+", type=float, default=[0.03, 0.05, 0.2])
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--filler", type=int, default=36)
    ap.add_argument("--targets", type=int, default=5)
    ap.add_argument("--out")
    args = ap.parse_args()
    start = time.perf_counter()
    rows = []
    for kind in sorted(ATTACKS):
        for frac in args.fractions:
            got = [surrogate_hit(args.data, kind, frac, s, args.filler, args.targets) for s in args.seeds]
            hits = [h for h, _ in got]
            rows.append((kind, frac, statistics.mean(hits), statistics.pstdev(hits), statistics.mean(t for _, t in got)))
            print(f"{kind} {frac}: hit {rows[-1][2]:.4f}", file=sys.stderr, flush=True)
    lines = [f"# Attacks against the GAN attack's surrogate ({args.data})", "",
             (f"Command: `python benchmarks/attack_surrogate.py {' '.join(sys.argv[1:])}` "
             f"({time.perf_counter() - start:.0f} s). Machine: 2 cores, {platform.machine()}, shared with other jobs."),
             "", (__doc__ or "").split("\n\n", 1)[1].split("Usage::")[0].strip(), "",
             (f"{args.targets} targets from the least popular half, {args.filler} fillers, seeds {args.seeds}; "
             "mean (std) over seeds."), "",
             "| attack | budget | surrogate hit@20 | std | craft s |", "|---|---:|---:|---:|---:|"]
    lines += [f"| {k} | {100 * f:g} % | {m:.4f} | {sd:.4f} | {t:.1f} |" for k, f, m, sd, t in rows]
    text = "\n".join(lines) + "\n"
    if args.out:
        atomic_write_text(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
