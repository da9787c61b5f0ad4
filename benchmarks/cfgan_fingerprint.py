"""Fit CFGAN briefly on ml-100k-cfgan and print a fingerprint of its history and scores.

Run it on two source trees (PYTHONPATH=<tree>/src) with the same JSON parameters to check that a
refactoring changed no number: equal output means bit-identical training and scoring.

    PYTHONPATH=old/src python benchmarks/cfgan_fingerprint.py '{"epochs": 15}'
"""

import hashlib
import json
import sys

import numpy as np

from advrec.experiments.pipeline import load_cached, resolve_split
from advrec.models import create

params = json.loads(sys.argv[1])
ds = load_cached("ml-100k-cfgan")
sp = resolve_split(ds, None, 0)
m = create("cfgan", **params).fit(sp.train_full())
s = m.score(np.arange(m.n_users)).numpy()
print(json.dumps({"history": [{k: v for k, v in h.items() if k != "seconds"} for h in m.history][-2:],
                  "scores_sha": hashlib.sha256(s.tobytes()).hexdigest()}, sort_keys=True))
