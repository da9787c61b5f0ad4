"""Code shape of src/: file lengths (median, p90, max) and functions longer than a limit.

Run: python benchmarks/code_shape.py [--max-function 80]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1] / "src"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--max-function", type=int, default=80)
    args = ap.parse_args()
    files = sorted(ROOT.rglob("*.py"))
    lengths = {f: len(f.read_text(encoding="utf-8").splitlines()) for f in files}
    values = np.array(list(lengths.values()))
    print(f"{len(files)} files; median {np.median(values):.0f} lines, p90 {np.percentile(values, 90):.0f}, "
          f"max {values.max()} ({max(lengths, key=lengths.get).relative_to(ROOT)})")
    for f, n in sorted(lengths.items(), key=lambda kv: -kv[1])[:5]:
        print(f"  {n:4d}  {f.relative_to(ROOT)}")
    long = []
    for f in files:
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > args.max_function:
                    long.append((n, f"{f.relative_to(ROOT)}:{node.lineno} {node.name}"))
    print(f"functions over {args.max_function} lines: {len(long)}")
    for n, where in sorted(long, reverse=True):
        print(f"  {n:4d}  {where}")


if __name__ == "__main__":
    main()
