"""Mode-collapse diagnostics on hand-made profile matrices."""

from __future__ import annotations

import math

import pytest
import torch

from advrec.gan import (
    binarize_topk,
    catalogue_coverage,
    js_divergence,
    mean_pairwise_distance,
    popularity_js,
    profile_diagnostics,
)
from advrec.gan.diagnostics import sample_rows


def test_collapsed_generator():
    row = torch.tensor([0.9, 0.1, 0.8, 0.3, 0.2, 0.7, 0.0, 0.4, 0.6, 0.5])
    collapsed = row.repeat(7, 1)
    assert mean_pairwise_distance(collapsed) == 0.0
    assert catalogue_coverage(collapsed, k=3) == pytest.approx(3 / 10)


def test_pairwise_distance_by_hand():
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    # pairs: sqrt(2), 1, 1
    assert mean_pairwise_distance(x) == pytest.approx((math.sqrt(2) + 2) / 3)
    assert mean_pairwise_distance(x[:1]) == 0.0
    assert mean_pairwise_distance(x.bool()) == pytest.approx((math.sqrt(2) + 2) / 3)


def test_coverage_by_hand_and_with_exclusions():
    scores = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 3.0, 2.0]])
    assert catalogue_coverage(scores, k=1) == pytest.approx(2 / 4)  # items 0 and 2
    assert catalogue_coverage(scores, k=2) == pytest.approx(4 / 4)
    seen = torch.tensor([[True, False, False, False], [False, False, True, False]])
    assert catalogue_coverage(scores, k=1, exclude=seen) == pytest.approx(2 / 4)  # items 1 and 3
    assert catalogue_coverage(torch.zeros((0, 4)), k=1) == 0.0


def test_js_divergence_by_hand():
    p = torch.tensor([3.0, 1.0, 0.0])
    assert js_divergence(p, 2 * p) == pytest.approx(0.0, abs=1e-12)  # histograms are normalised
    assert js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])) == pytest.approx(1.0)
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4)
    kl_pm = math.log(1 / 0.75)
    kl_qm = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    want = 0.5 * (kl_pm + kl_qm) / math.log(2)
    assert js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])) == pytest.approx(want)
    assert js_divergence(torch.tensor([1.0, 0.0]), torch.tensor([0.5, 0.5])) == pytest.approx(
        js_divergence(torch.tensor([0.5, 0.5]), torch.tensor([1.0, 0.0])))


def test_identical_popularity_histograms_give_zero():
    real = torch.tensor([[1, 0, 1, 0], [0, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    shuffled = real[[2, 0, 1]]  # other profiles, same item popularity
    assert popularity_js(real, shuffled) == pytest.approx(0.0, abs=1e-12)
    assert popularity_js(real, real[:, [3, 1, 2, 0]]) > 0.1


def test_binarize_topk_per_row_lengths_and_ties():
    scores = torch.tensor([[0.5, 0.5, 0.1], [0.0, 1.0, 2.0]])
    out = binarize_topk(scores, torch.tensor([1, 2]))
    assert out.tolist() == [[True, False, False], [False, True, True]]  # tie goes to the lower index
    assert binarize_topk(scores, 5).all() and not binarize_topk(scores, 0).any()


def test_binarize_topk_equals_a_stable_sort_prefix():
    g = torch.Generator().manual_seed(0)
    scores = torch.randint(0, 5, (40, 30), generator=g).float()  # many ties
    k = torch.randint(0, 31, (40,), generator=g)
    order = torch.sort(scores, dim=1, descending=True, stable=True).indices
    ref = torch.zeros_like(scores, dtype=torch.bool)
    for row in range(40):
        ref[row, order[row, : k[row]]] = True
    assert torch.equal(binarize_topk(scores, k), ref)


def test_profile_diagnostics_identity_and_collapse():
    real = torch.tensor([[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 0, 0], [0, 0, 0, 0, 1, 1]], dtype=torch.float32)
    ident = profile_diagnostics(real, real + 0.01 * torch.arange(6.0), k=2)
    assert ident["self_overlap"] == 1.0 and ident["pop_js"] == pytest.approx(0.0, abs=1e-12)
    assert ident["gen_pairwise"] == pytest.approx(ident["real_pairwise"]) == pytest.approx(2.0)
    assert ident["gen_coverage@2"] == 1.0
    collapsed = profile_diagnostics(real, torch.tensor([[6.0, 5, 4, 3, 2, 1]]).repeat(3, 1), k=2)
    assert collapsed["gen_pairwise"] == 0.0
    assert collapsed["gen_coverage@2"] == pytest.approx(2 / 6)
    assert collapsed["self_overlap"] == pytest.approx(2 / 6)
    # popularity: real uniform over 6 items, generated (1/2, 1/2, 0, 0, 0, 0): JS = (ln 1.5 + ln 2 / 3) / (2 ln 2)
    assert collapsed["pop_js"] == pytest.approx((math.log(1.5) + math.log(2) / 3) / (2 * math.log(2)))
    assert collapsed["rec_coverage@2"] == pytest.approx(4 / 6)  # the own items 0,1 excluded for row 0


def test_sample_rows():
    assert sample_rows(5, None).tolist() == [0, 1, 2, 3, 4]
    assert sample_rows(5, 10).tolist() == [0, 1, 2, 3, 4]
    a = sample_rows(100, 10, torch.Generator().manual_seed(0))
    b = sample_rows(100, 10, torch.Generator().manual_seed(0))
    assert a.tolist() == b.tolist() and len(set(a.tolist())) == 10 and a.tolist() == sorted(a.tolist())
