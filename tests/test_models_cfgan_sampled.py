"""CFGAN's sampled game: exact on the columns it evaluates, unbiased ZR, contract, learning."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_synthetic
from contract import check_contract
from test_models_cfgan import FAST, LEARN, hit_rate, random_split

from advrec.errors import ConfigError
from advrec.models import create
from advrec.models.cfgan.networks import densify
from advrec.models.cfgan.sampled import discriminator_logits, generator_outputs, sample_batch
from advrec.models.cfgan.sparse_networks import SparseDiscriminator, SparseGenerator
from advrec.train.lazy_adam import LazyAdam


def _rows(seed=0):
    return make_synthetic(n_users=40, n_items=30, seed=seed).binary_csr.astype(np.float32)


@pytest.mark.parametrize("hidden", [[8], [8, 6]])
def test_sparse_forward_equals_the_dense_networks(hidden):
    torch.manual_seed(0)
    rows = _rows()
    n = rows.shape[1]
    g, d = SparseGenerator(n, hidden, "sigmoid"), SparseDiscriminator(n, [5, 4], "tanh")
    index = torch.tensor([3, 0, 17, 9])
    sb = sample_batch(rows, index, 12, 0.7, 0.5, torch.Generator().manual_seed(1), torch.device("cpu"))
    real = densify(rows, index.numpy())
    full = g(real)
    torch.testing.assert_close(g.forward_rows(rows[index.numpy()]), full)  # scoring from CSR rows
    out_pos, out_pool = generator_outputs(g, sb)
    torch.testing.assert_close(out_pos, full[sb.pos_row, sb.pos_col])
    torch.testing.assert_close(out_pool, full[:, sb.pool])
    # the fake vector: G's output on observed entries and on the pool's PM entries, zero elsewhere
    fake = torch.zeros_like(full)
    fake[sb.pos_row, sb.pos_col] = out_pos
    fake[:, sb.pool] += out_pool * sb.pm
    torch.testing.assert_close(discriminator_logits(d, sb, out_pos, out_pool * sb.pm), d(fake, real))
    torch.testing.assert_close(discriminator_logits(d, sb, torch.ones_like(out_pos), None), d(real, real))
    # the gradients are sparse and touch only the observed and pool columns
    discriminator_logits(d, sb, out_pos, out_pool * sb.pm).sum().backward()
    grad = g.out.weight.grad
    assert grad is not None and grad.is_sparse
    touched = set(grad.coalesce().indices()[0].tolist())
    assert touched == set(sb.pos_col.tolist()) | set(sb.pool.tolist())


def test_negatives_are_unobserved_pool_columns_and_zr_is_reweighted():
    rows = _rows(1)
    n = rows.shape[1]
    index = torch.arange(rows.shape[0])
    sb = sample_batch(rows, index, 10, 0.7, 0.7, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert len(sb.pool) == len(set(sb.pool.tolist())) == 10
    real = densify(rows, index.numpy()) > 0
    on_pool = real[:, sb.pool]
    assert not (sb.zr & on_pool).any() and not (sb.pm & on_pool).any()
    free = (~on_pool).sum(1)
    unobserved = n - real.sum(1)
    torch.testing.assert_close(sb.scale * free, unobserved.float())
    # E[scale * sum over sampled ZR of y^2] = zr_ratio * sum over all unobserved of y^2
    y = torch.rand(len(index), n, generator=torch.Generator().manual_seed(2))
    target = 0.7 * (y.square() * ~real).sum(1)
    est = torch.zeros_like(target)
    reps = 3000
    gen = torch.Generator().manual_seed(3)
    for _ in range(reps):
        s = sample_batch(rows, index, 10, 0.7, None, gen, torch.device("cpu"))
        est += s.scale * (y[:, s.pool].square() * s.zr).sum(1)
    torch.testing.assert_close(est / reps, target, rtol=0.05, atol=0.0)
    assert not sample_batch(rows, index, 10, None, None, gen, torch.device("cpu")).pm.any()


@pytest.mark.parametrize("extra", [
    {"mode": "user"}, {"mode": "item"}, {"mode": "user", "adversarial": False},
    {"mode": "user", "scheme": "PM"}, {"mode": "item", "precision": "bf16"},
    {"mode": "user", "prior": "ease", "prior_l2": 50.0},
])
def test_contract(extra, synthetic, tmp_path):
    model = check_contract("cfgan", synthetic, tmp_path, **FAST, negatives=8, **extra)
    assert len(model.history) == FAST["epochs"] and "g_loss" in model.history[-1]


def test_sampled_game_refuses_what_it_cannot_do():
    with pytest.raises(ConfigError, match="residual"):
        create("cfgan", negatives=8, prior="ease", prior_mode="residual")
    with pytest.raises(ConfigError, match="wgan-gp"):
        create("cfgan", negatives=8, gan_loss="wgan-gp")
    with pytest.raises(ConfigError):
        create("cfgan", negatives=0)


@pytest.mark.parametrize("extra", [
    {"mode": "user"}, {"mode": "item"}, {"mode": "user", "adversarial": False},
    # item-mode reconstruction with lazy updates learns slower: below MostPop after 20 rounds, above after 60
    {"mode": "item", "adversarial": False, "epochs": 60},
])
def test_sampled_game_beats_mostpop(extra):
    train, test = random_split(make_synthetic(n_users=200, n_items=50, seed=3))
    pop = hit_rate(create("pop").fit(train), test)
    ours = hit_rate(create("cfgan", **{**LEARN, "negatives": 16, **extra}).fit(train), test)
    assert ours > pop + 0.1, (ours, pop)


def test_lazy_adam_equals_adam_on_dense_gradients_and_touches_only_sparse_rows():
    torch.manual_seed(0)
    a = torch.nn.Parameter(torch.randn(5, 3))
    b = torch.nn.Parameter(a.detach().clone())
    ref, lazy = torch.optim.Adam([a], lr=0.1, weight_decay=0.01), LazyAdam([b], lr=0.1, weight_decay=0.01)
    for _ in range(3):
        for p, opt in ((a, ref), (b, lazy)):
            opt.zero_grad()
            (p.square().sum() + p.sum()).backward()
            opt.step()
    torch.testing.assert_close(a, b)
    table = torch.nn.Embedding(6, 2, sparse=True)
    before = table.weight.detach().clone()
    opt = LazyAdam(table.parameters(), lr=0.1)
    table(torch.tensor([1, 4, 4])).sum().backward()
    opt.step()
    changed = (table.weight.detach() != before).any(1)
    assert changed.tolist() == [False, True, False, False, True, False]
    opt.zero_grad(set_to_none=False)
    assert table.weight.grad is None
    with pytest.raises(ValueError, match="LazyAdam"):
        LazyAdam(table.parameters(), lr=-1.0)


def test_sampled_game_needs_adam(synthetic):
    with pytest.raises(ConfigError, match="Adam only"):
        create("cfgan", **FAST, negatives=8, optimizer="sgd").fit(synthetic)


def test_item_mode_refuses_a_score_cache_too_large(monkeypatch, synthetic):
    import advrec.models.cfgan.model as cfgan_mod

    monkeypatch.setattr(cfgan_mod, "MAX_ITEM_CACHE_GB", 1e-9)
    with pytest.raises(ConfigError, match="mode='user'"):
        create("cfgan", **FAST, mode="item").fit(synthetic)
    create("cfgan", **FAST, mode="user").fit(synthetic)  # user mode has no such cache


def test_table_lr_scale_applies_to_the_per_column_tables_only(synthetic):
    model = create("cfgan", **{**FAST, "epochs": 1}, mode="user", negatives=8, table_lr_scale=5.0).fit(synthetic)
    for name, net, lr in (("g", model.g_net, model.config.lr), ("d", model.d_net, model.config.lr_d)):
        tables, rest = model.optimizers()[name].param_groups
        assert tables["lr"] == pytest.approx(5 * lr) and rest["lr"] == lr
        table_ids = {id(m.weight) for m in net.modules() if isinstance(m, torch.nn.Embedding)}
        assert {id(p) for p in tables["params"]} == table_ids and len(table_ids) == 2
        assert len(rest["params"]) + 2 == len(list(net.parameters()))
    plain = create("cfgan", **{**FAST, "epochs": 1}, mode="user", negatives=8).fit(synthetic)
    assert len(plain.optimizers()["g"].param_groups) == 1
