"""The compiled per-triple SGD kernel of BPR-MF / APR (``advrec.models.bpr_kernel``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from advrec.errors import ConfigError
from advrec.models import create
from advrec.models.bpr_kernel import sgd_epoch

KERNEL = {"optimizer": "sgd", "batch_size": 1, "lr": 0.05, "l2": 0.005, "factors": 8, "epochs": 3}


def _one_triple_step(eps: float, reg_adv: float, lr: float = 0.1, l2: float = 0.01):
    """One kernel step on the only triple of a 1-user, 2-item problem, and the autograd reference."""
    rng = np.random.default_rng(7)
    U = rng.normal(size=(1, 6)).astype(np.float32)
    V = rng.normal(size=(2, 6)).astype(np.float32)
    b = rng.normal(size=2).astype(np.float32)
    ref = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in (U, V, b)]
    pu, qv, bv = ref
    x = pu[0] @ (qv[0] - qv[1]) + bv[0] - bv[1]
    loss = F.softplus(-x) + l2 * (pu.square().sum() + qv.square().sum() + bv.square().sum())
    if reg_adv:
        gu, gq = torch.autograd.grad(F.softplus(-x), [pu, qv], retain_graph=True)
        du, dq = eps * F.normalize(gu, dim=1), eps * F.normalize(gq, dim=1)
        xa = (pu[0] + du[0]) @ (qv[0] + dq[0] - qv[1] - dq[1]) + bv[0] - bv[1]
        loss = loss + reg_adv * F.softplus(-xa)
    loss.backward()
    one = np.zeros(1, dtype=np.int64)
    got = sgd_epoch(U, V, b, np.array([0, 1]), one, one, one, seed=3, lr=lr, l2=l2, eps=eps, reg_adv=reg_adv)
    want = [(t - lr * t.grad).detach().numpy() for t in ref]
    return got, float(loss.detach()), [U, V, b], want


@pytest.mark.parametrize(("eps", "reg_adv"), [(0.0, 0.0), (0.5, 1.0), (0.3, 2.5)])
def test_kernel_step_matches_autograd(eps, reg_adv):
    got_loss, want_loss, got, want = _one_triple_step(eps, reg_adv)
    assert got_loss == pytest.approx(want_loss, rel=1e-6)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


def test_kernel_samples_only_negatives():
    """Two users with one negative item each, embeddings such that every positive of a user scores 1
    and its negative -3: with lr = 0 every triple's loss is log(1 + e^-4) whatever the epoch's order,
    and a positive drawn as the negative would score the same as the positive (a loss of log 2)."""
    U = np.array([[1.0, 0.0], [0.0, 1.0]], np.float32)
    V = np.array([[1, 1], [1, 1], [1, 1], [1, -3], [-3, 1]], np.float32)
    indptr, indices = np.array([0, 4, 8]), np.array([0, 1, 2, 3, 0, 1, 2, 4])  # negatives: 4 and 3
    users, items = np.tile(np.repeat([0, 1], 4), 50), np.tile(indices, 50)  # 400 triples
    got = sgd_epoch(U, V, None, indptr, indices, users, items, seed=1, lr=0.0, l2=0.0)
    assert got == pytest.approx(np.log1p(np.exp(-4.0)), rel=1e-6)
    assert (users == np.tile(np.repeat([0, 1], 4), 50)).all()  # the caller's pairs are left as they were


def test_bitmap_and_binary_search_train_alike(monkeypatch):
    """The seen-pairs bitmap changes the speed only: the same draws, rejections and updates as the
    binary search in the CSR rows (bit for bit), for BPR and APR."""
    import advrec.models.bpr_kernel as kernel

    rng = np.random.default_rng(3)
    dense = rng.random((30, 45)) < 0.3
    indptr = np.r_[0, np.cumsum(dense.sum(1))].astype(np.int64)
    indices = np.nonzero(dense)[1].astype(np.int64)
    bits = kernel.seen_bitmap(indptr, indices, 45)
    assert bits.shape == (30, 6)
    assert all(bool((bits[u, j // 8] >> (j % 8)) & 1) == dense[u, j] for u in range(30) for j in range(45))
    users, items = np.nonzero(dense)
    U0 = (rng.standard_normal((30, 4)) * 0.1).astype(np.float32)
    V0 = (rng.standard_normal((45, 4)) * 0.1).astype(np.float32)
    for eps, reg_adv in ((0.0, 0.0), (0.5, 1.0)):
        out = []
        for flag in (bits, np.zeros((0, 0), np.uint8)):
            U, V, b = U0.copy(), V0.copy(), np.zeros(45, np.float32)
            losses = [sgd_epoch(U, V, b, indptr, indices, users, items, seed=e, lr=0.05, l2=0.01,
                                eps=eps, reg_adv=reg_adv, bits=flag) for e in range(3)]
            out.append((U, V, b, losses))
        for a, c in zip(out[0], out[1]):
            assert np.array_equal(np.asarray(a), np.asarray(c))
    monkeypatch.setattr(kernel, "BITMAP_MAX_BYTES", 10)
    assert kernel.seen_bitmap(indptr, indices, 45).shape == (0, 0)  # too large: the search instead


def test_epoch_order_is_drawn_from_the_seed():
    """lr = 0 and a loss sampled on every LOSS_STRIDE-th triple: pairs of distinct losses show the
    order; the same seed gives the same order, another seed another."""
    rng = np.random.default_rng(0)
    U = rng.normal(size=(1, 3)).astype(np.float32)
    V = rng.normal(size=(41, 3)).astype(np.float32)
    indptr, indices = np.array([0, 40]), np.arange(40)
    users, items = np.zeros(40, np.int64), np.arange(40)
    runs = [sgd_epoch(U, V, None, indptr, indices, users, items, seed=s, lr=0.0, l2=0.0) for s in (7, 7, 8)]
    assert runs[0] == runs[1] and runs[0] != runs[2]


def test_same_seed_same_embeddings(synthetic):
    a = create("bpr", **KERNEL, seed=4).fit(synthetic)
    b = create("bpr", **KERNEL, seed=4).fit(synthetic)
    c = create("bpr", **KERNEL, seed=5).fit(synthetic)
    for x, y in zip(a.embeddings(), b.embeddings()):
        assert torch.equal(x, y)
    assert not torch.equal(a.embeddings()[0], c.embeddings()[0])
    assert [h["loss"] for h in a.history] == [h["loss"] for h in b.history]


def test_hogwild_threads_train(synthetic):
    one = create("bpr", **{**KERNEL, "epochs": 20}).fit(synthetic)
    two = create("bpr", **{**KERNEL, "epochs": 20, "threads": 2}).fit(synthetic)
    assert two.history[-1]["loss"] < 0.9 * two.history[0]["loss"]
    assert two.history[-1]["loss"] == pytest.approx(one.history[-1]["loss"], rel=0.2)


def test_threads_need_the_kernel():
    with pytest.raises(ConfigError, match="threads=2 needs the per-triple kernel"):
        create("bpr", threads=2)


def test_partial_last_batch_weighs_each_triple_as_a_full_batch(synthetic):
    """With plain SGD and a tiny rate, one epoch moves the parameters by lr / batch_size times the
    summed triple gradients whatever the grouping, the partial last batch included: batch sizes 7
    and 5 at rates proportional to them give the same step (to first order in the rate)."""
    import torch

    from advrec.models import create

    base = {"optimizer": "sgd", "factors": 8, "epochs": 1, "l2": 0.0, "seed": 3}
    n = len(synthetic.users)
    assert n % 7 and n % 5  # both groupings end with a partial batch
    init = create("bpr", **base, batch_size=7, lr=1e-30).fit(synthetic).embeddings()  # the seed's start
    moves = []
    for bs in (7, 5):
        m = create("bpr", **base, batch_size=bs, lr=1e-4 * bs).fit(synthetic)
        moves.append(torch.cat([a - b for a, b in zip(m.embeddings(), init)]))
    scale = moves[0].abs().max()
    assert scale > 0
    torch.testing.assert_close(moves[0] / scale, moves[1] / scale, rtol=0, atol=1e-3)
