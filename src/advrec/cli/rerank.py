"""``advrec rerank MODEL_DIR --method mmr|dpp --lambda X``: diversity of a saved model's re-ranked lists.

The test split of the saved run is rebuilt and checked as ``advrec perturb`` does; every test user's
top-k is re-ranked (:mod:`advrec.diversity`) and evaluated: accuracy, coverage, Gini and intra-list
diversity on genres and on the model's embeddings, beside the same metrics of the model's own lists.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from advrec.errors import ConfigError, DataError

_METHODS = ("mmr", "dpp")
_SIMILARITY = ("genres", "embeddings")


def add_rerank_parser(sub: Any) -> None:
    """Register the ``rerank`` subcommand on the top-level subparsers."""
    p = sub.add_parser("rerank", help="re-rank a saved model's lists for diversity (MMR or DPP) and evaluate them",
                       description="Re-rank every test user's top-k of a model saved by 'advrec train --out' with "
                                   "MMR or a fast greedy DPP and report accuracy and diversity before and after.")
    p.add_argument("model_dir", metavar="MODEL_DIR", help="a folder written by 'advrec train --out'")
    p.add_argument("--method", required=True, choices=_METHODS)
    p.add_argument("--lambda", dest="lam", required=True, type=float, metavar="X",
                   help="weight of relevance in [0, 1]: 1 keeps the model's ranking, lower is more diverse")
    p.add_argument("--similarity", choices=_SIMILARITY,
                   help="item similarity of the re-ranker (default: genres when the data has them, else the "
                        "model's item embeddings)")
    p.add_argument("--candidates", type=int, default=100, metavar="N",
                   help="each user's best-scored items that are re-ranked (default 100)")
    p.add_argument("--k", type=int, default=20, metavar="K", help="list length (default 20)")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def rerank_command(args: argparse.Namespace) -> int:
    """``advrec rerank MODEL_DIR --method mmr|dpp --lambda X [--json]``."""
    from advrec.cli.perturb import rebuild_parts
    from advrec.data.features import genre_matrix
    from advrec.diversity import evaluate_reranked
    from advrec.models.base import Recommender

    if not 0.0 <= args.lam <= 1.0:
        raise ConfigError(f"--lambda must be in [0, 1], got {args.lam}")
    if args.k < 1 or args.candidates < args.k:
        raise ConfigError(f"--k must be >= 1 and --candidates >= --k, got k={args.k}, candidates={args.candidates}")
    model_dir = Path(args.model_dir)
    model = Recommender.load(model_dir)
    fit_data, test, record = rebuild_parts(model_dir)
    genres = genre_matrix(fit_data)
    embeddings = model.embeddings()[1].numpy() if "embeddings" in model.capabilities else None
    similarity = args.similarity or ("genres" if genres is not None else "embeddings")
    vectors = genres if similarity == "genres" else embeddings
    if vectors is None:
        what = "genres in its item table" if similarity == "genres" else "item embeddings (model.embeddings())"
        raise DataError(f"--similarity {similarity}: {record.get('dataset')!r} / {model.name!r} has no {what}; "
                        f"choose the other similarity")
    options = {"vectors": vectors, "k": args.k, "candidates": args.candidates, "embeddings": embeddings}
    base = evaluate_reranked(model, fit_data, test, method=args.method, lam=1.0, **options)
    got = evaluate_reranked(model, fit_data, test, method=args.method, lam=args.lam, **options)
    k = args.k
    ndcg = f"ndcg@{k}"
    out = {"model": model.name, "data": record.get("dataset"), "split": record.get("split"),
           "model_dir": str(model_dir), "method": args.method, "lambda": args.lam, "similarity": similarity,
           "candidates": args.candidates, "k": k, "n_users": got["n_users"], "base": base["metrics"],
           "metrics": got["metrics"],
           "relative_ndcg_cost": 1.0 - got["metrics"][ndcg] / base["metrics"][ndcg] if base["metrics"][ndcg] else 0.0}
    if args.json:
        print(json.dumps(out))
        return 0
    print(f"{model.name} on {out['data']} ({out['split']}): {args.method} at lambda {args.lam} over {similarity}, "
          f"{args.candidates} candidates, {got['n_users']} users")
    keys = [ndcg, f"recall@{k}", f"ild@{k}", f"ild_genres@{k}", f"ild_embeddings@{k}", f"genre_coverage@{k}",
            f"coverage@{k}", f"gini@{k}"]
    print(f"  {'metric':>20}  {'model':>9}  {'re-ranked':>9}")
    for key in keys:
        if key in got["metrics"]:
            print(f"  {key:>20}  {base['metrics'][key]:>9.4f}  {got['metrics'][key]:>9.4f}")
    return 0
