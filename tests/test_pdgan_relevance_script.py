"""benchmarks/pdgan_relevance.py: each PD-GAN factorisation's relevance alone, beside the BPR-MF it starts from."""

from __future__ import annotations

import numpy as np
import torch
from conftest import load_script, make_synthetic

from advrec.models import create


def test_relevance_only_ranks_by_the_factorisation_without_the_dpp():
    script = load_script("pdgan_relevance")
    data = make_synthetic()
    gan = create("pdgan", epochs=1, set_size=3, pool=10, k=5, candidates=15,
                 warm_params={"factors": 8, "epochs": 3}).fit(data)
    users = np.arange(data.n_users)
    relevance = gan.g_net.scores(torch.from_numpy(users)).detach()
    assert not torch.equal(gan.score(users), relevance)  # the DPP lifts its picks above the rest
    torch.testing.assert_close(script.relevance_only(gan).score(users), relevance)


def test_rows_hold_the_start_and_both_factorisations(tmp_path):
    script = load_script("pdgan_relevance")
    path = tmp_path / "ratings.csv"
    make_synthetic().to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    rows = script.run(str(path), 0, 0.9)
    assert [r["model"] for r in rows] == ["bpr (the start)", "pdgan: relevance alone",
                                          "pdgan, adversarial=false: relevance alone"]
    assert rows[0]["moved"] == 0.0 and all(r["moved"] > 0 for r in rows[1:])
    assert all(0.0 <= r["ndcg@20"] <= 1.0 and 0.0 <= r["ild@20"] <= 2.0 for r in rows)
