"""CFGAN: contract, ZR/PM masks, the ablation switch, learning, resume."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import make_synthetic
from contract import check_contract

import advrec.models.cfgan.networks as parts
from advrec.errors import ConfigError
from advrec.eval import evaluate
from advrec.models import Recommender, create
from advrec.models.cfgan import CFGANConfig
from advrec.models.cfgan.masks import draw_row_seeds, sample_unobserved, splitmix64

FAST = {"epochs": 3, "g_hidden": [16], "d_hidden": [8], "batch_size": 16, "batch_size_d": 16}
LEARN = {"epochs": 20, "lr": 0.01, "lr_d": 0.01, "g_hidden": [32], "d_hidden": [16]}


def random_split(data, frac=0.2, seed=1):
    mask = np.random.default_rng(seed).random(len(data)) < frac
    return data.subset(~mask, name="train"), data.subset(mask, name="test")


def hit_rate(model, test, k=5):
    users = test.active_users()
    items, _ = model.recommend(users, k=k)
    t = test.binary_csr
    return float(np.mean([bool(set(items[n]) & set(t[u].indices)) for n, u in enumerate(users)]))


# ---------------------------------------------------------------- contract
@pytest.mark.parametrize("extra", [
    {"mode": "item"},
    {"mode": "user"},
    {"mode": "item", "adversarial": False},
    {"mode": "user", "scheme": "ZR"},
    {"mode": "item", "scheme": "PM", "gan_loss": "wgan-gp", "d_steps": 1},
    {"mode": "user", "gan_loss": "minimax", "schedule": "interleaved", "clip_norm_g": 1.0, "clip_norm_d": 1.0},
])
def test_contract(extra, synthetic, tmp_path):
    model = check_contract("cfgan", synthetic, tmp_path, **FAST, **extra)
    assert len(model.history) == FAST["epochs"]


def test_defaults_are_the_original_ml100k_values():
    c = CFGANConfig()
    assert (c.mode, c.scheme, c.zr_ratio, c.pm_ratio, c.alpha) == ("item", "ZP", 0.7, 0.7, 0.03)
    assert (c.g_hidden, c.d_hidden, c.activation) == ([400], [125], "sigmoid")
    assert (c.lr, c.lr_d, c.l2, c.l2_d, c.batch_size, c.batch_size_d) == (1e-4, 1e-4, 1e-3, 0.0, 32, 64)
    assert (c.g_steps, c.d_steps, c.epochs, c.gan_loss, c.adversarial) == (4, 2, 250, "nonsaturating", True)


def test_config_errors():
    for bad in ({"g_hidden": []}, {"scheme": "ZX"}, {"zr_ratio": 1.5}, {"mode": "both"}, {"zr": 0.5}):
        with pytest.raises(ConfigError):
            create("cfgan", **bad)


# ------------------------------------------------------------------- masks
def test_sample_unobserved_exact_counts_and_no_positive():
    g = torch.Generator().manual_seed(0)
    pos = torch.rand(50, 30, generator=g) < 0.3
    pos[0] = True  # a row with nothing unobserved
    for ratio in (0.0, 0.3, 0.7, 1.0):
        mask = sample_unobserved(pos, draw_row_seeds(50, g), ratio)
        assert not (mask & pos).any()
        want = torch.floor((30 - pos.sum(1)).double() * ratio).long()
        assert mask.sum(1).tolist() == want.tolist()
    seeds = draw_row_seeds(50, g)
    assert torch.equal(sample_unobserved(pos, seeds, 0.5), sample_unobserved(pos, seeds, 0.5))


@pytest.mark.parametrize("ratio", [0.2, 0.5, 0.8])  # below and above 1/2: both ranking branches
def test_sample_unobserved_takes_the_smallest_keys(ratio):
    from advrec.models.cfgan.masks import _GOLDEN

    g = torch.Generator().manual_seed(2)
    pos = torch.rand(30, 25, generator=g) < 0.3
    seeds = draw_row_seeds(30, g)
    mask = sample_unobserved(pos, seeds, ratio)
    keys = splitmix64(seeds[:, None] + torch.arange(25, dtype=torch.int64)[None, :] * _GOLDEN)
    for row in range(30):
        free = torch.nonzero(~pos[row]).squeeze(1)
        want = free[torch.argsort(keys[row, free])][: int((len(free)) * ratio)]
        assert sorted(torch.nonzero(mask[row]).squeeze(1).tolist()) == sorted(want.tolist())


def test_sample_unobserved_is_uniform_in_expectation():
    g = torch.Generator().manual_seed(1)
    pos = torch.zeros(20, 40, dtype=torch.bool)
    pos[:, :10] = True
    freq = torch.zeros(40, dtype=torch.float64)
    rounds = 200
    for _ in range(rounds):
        freq += sample_unobserved(pos, draw_row_seeds(20, g), 0.25).double().mean(0)
    freq /= rounds
    assert float(freq[:10].max()) == 0.0
    # 7 of 30 unobserved per row: each unobserved entry with probability 7/30
    assert float(freq[10:].mean()) == pytest.approx(7 / 30, abs=1e-9)
    assert float((freq[10:] - 7 / 30).abs().max()) < 0.05


def test_splitmix64_reference_values():
    # splitmix64 outputs for the state sequence seeded at 0 (x += golden; mix(x))
    got = splitmix64(torch.tensor([0x9E3779B97F4A7C15 - (1 << 64)], dtype=torch.int64))
    assert int(got) % (1 << 64) == 0xE220A8397B1DCDAF


def _fit(**params):
    return create("cfgan", **{**FAST, **params}).fit(make_synthetic())


@pytest.mark.parametrize("mode", ["user", "item"])
def test_model_masks_respect_the_scheme(mode):
    model = _fit(mode=mode, zr_ratio=0.5, pm_ratio=0.25)
    store = model.store
    rows = torch.arange(store.n_rows)
    real = store.vectors(rows) > 0
    unobserved = (~real).sum(1).double()
    zr, pm = store.mask("zr", rows), store.mask("pm", rows)
    assert not (zr & real).any() and not (pm & real).any()
    assert zr.sum(1).tolist() == torch.floor(unobserved * 0.5).long().tolist()
    assert pm.sum(1).tolist() == torch.floor(unobserved * 0.25).long().tolist()
    assert not torch.equal(zr, pm)  # independent samples
    assert _fit(mode=mode, scheme="PM").store.mask("zr", rows) is None
    assert _fit(mode=mode, scheme="ZR").store.mask("pm", rows) is None


def test_per_batch_masks_equal_the_dense_cache(monkeypatch):
    dense = _fit(mode="user")
    monkeypatch.setattr(parts, "DENSE_LIMIT", 0)
    sparse = _fit(mode="user")
    assert dense.store.dense is not None and sparse.store.dense is None
    rows = torch.arange(dense.store.n_rows)
    for kind in ("zr", "pm"):
        assert torch.equal(dense.store.mask(kind, rows), sparse.store.mask(kind, rows))
    users = np.arange(dense.n_users)
    torch.testing.assert_close(dense.score(users), sparse.score(users), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- ablation
def test_non_adversarial_has_no_discriminator(tmp_path):
    model = _fit(adversarial=False)
    assert model.d_net is None
    assert not any(k.startswith("d.") for k in model.train_tensors())
    assert set(model.optimizers()) == {"g"}
    assert all("d_loss" not in h and h["d_updates"] == 0 and "g_recon" in h for h in model.history)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    assert loaded.d_net is None  # type: ignore[attr-defined]
    adv = _fit()
    assert any(k.startswith("d.") for k in adv.train_tensors()) and set(adv.optimizers()) == {"g", "d"}
    assert all(h["d_updates"] > 0 and "g_adv" in h and "d_acc" in h for h in adv.history)


def test_history_logs_losses_and_diagnostics():
    model = _fit(diag_k=5)
    for h in model.history:
        for key in ("d_loss", "g_loss", "g_zr", "d_acc_real", "d_acc_fake", "gen_coverage@5",
                    "rec_coverage@5", "gen_pairwise", "real_pairwise", "pop_js", "self_overlap"):
            assert key in h, key
    assert "gen_pairwise" not in _fit(diagnostics_every=0).history[-1]


def test_item_mode_scores_are_generator_columns():
    model = _fit(mode="item")
    items = torch.from_numpy(model.store.rows.toarray())
    with torch.no_grad():
        full = model.g_net(items).T
    users = np.array([3, 0, 7])
    torch.testing.assert_close(model.score(users), full[users])


# ---------------------------------------------------------------- learning
@pytest.mark.parametrize("extra", [{"mode": "item"}, {"mode": "user"}, {"mode": "item", "adversarial": False}])
def test_beats_mostpop(extra):
    train, test = random_split(make_synthetic(n_users=200, n_items=50, seed=3))
    pop = hit_rate(create("pop").fit(train), test)
    ours = hit_rate(create("cfgan", **LEARN, **extra).fit(train), test)
    assert ours > pop + 0.1, (ours, pop)


def test_resume_equals_uninterrupted(synthetic, tmp_path):
    full = create("cfgan", **{**FAST, "epochs": 4}).fit(synthetic)
    create("cfgan", **{**FAST, "epochs": 2}).fit(synthetic, checkpoint_dir=tmp_path)
    resumed = create("cfgan", **{**FAST, "epochs": 4}).fit(synthetic, checkpoint_dir=tmp_path)
    assert resumed.loop_result_ is not None and resumed.loop_result_.resumed_from == 2
    users = np.arange(synthetic.n_users)
    torch.testing.assert_close(resumed.score(users), full.score(users), rtol=0, atol=0)
    assert [h["g_loss"] for h in resumed.history] == [h["g_loss"] for h in full.history]


def test_early_stopping_with_validation(synthetic):
    train, valid = random_split(synthetic)
    model = create("cfgan", **{**FAST, "epochs": 6, "patience": 1}).fit(train, valid)
    assert any("valid_ndcg@20" in h for h in model.history)


@pytest.mark.parametrize("mode", ["user", "item"])
@pytest.mark.parametrize("prior_mode", ["residual", "blend"])
def test_ease_prior_contract(mode, prior_mode, synthetic, tmp_path):
    check_contract("cfgan", synthetic, tmp_path, **FAST, mode=mode, prior="ease", prior_l2=50.0,
                   prior_mode=prior_mode)


@pytest.mark.parametrize("mode", ["user", "item"])
def test_ease_prior_with_a_silent_mlp_scores_like_ease(mode, synthetic):
    """The prior is EASE^R's scores: with the MLP's output zeroed, CFGAN ranks exactly as EASE^R."""
    model = create("cfgan", **FAST, mode=mode, prior="ease", prior_l2=50.0,
                   prior_mode="residual", prior_weight=1.0).fit(synthetic)
    with torch.no_grad():
        last = [m for m in model.g_net.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.weight.zero_()
        last.bias.zero_()
    model.weights_changed()
    users = np.arange(synthetic.n_users)
    ease = create("ease", l2=50.0).fit(synthetic)
    torch.testing.assert_close(model.score(users), ease.score(users), rtol=1e-4, atol=1e-5)


def test_blend_weight_is_chosen_on_validation_and_saved(synthetic_split, tmp_path):
    train, valid = synthetic_split.train, synthetic_split.test
    model = create("cfgan", **FAST, mode="user", prior="ease", prior_l2=50.0, eval_every=1).fit(train, valid)
    scores = model.blend_scores_
    assert len(scores) == 21 and min(scores) == 0.0 and max(scores) == 1.0
    w = model.selected_params()["prior_weight"]
    assert scores[w] == max(scores.values()) and model.config.prior_weight == w
    assert model.selected_params()["epochs"] >= 1
    # every weight's validation score is reported for the record, the chosen one the best
    reported = model.selection_scores()["prior_weight"]
    assert {float(k): v for k, v in reported.items()} == scores and reported[f"{w:g}"] == max(reported.values())
    users = np.arange(train.n_users)
    loaded = Recommender.load(model.save(tmp_path / "m"))
    torch.testing.assert_close(loaded.score(users), model.score(users))
    # the one-pass search scores every weight as a separate evaluation of the model would
    for w_check in (0.0, 0.35, 1.0):
        model.set_blend_weight(w_check)
        assert evaluate(model, train, valid, ks=(20,), beyond=False).summary["ndcg@20"] == pytest.approx(
            scores[w_check], abs=1e-12)


@pytest.mark.parametrize("mode", ["user", "item"])
def test_blend_select_stops_on_the_best_blend(mode, synthetic_split):
    train, valid = synthetic_split.train, synthetic_split.test
    kw = dict(FAST, epochs=4, mode=mode, prior="ease", prior_l2=50.0, eval_every=1, patience=10)
    by_blend = create("cfgan", **kw, blend_select="blend").fit(train, valid)
    scores = [h["valid_ndcg@20"] for h in by_blend.history]
    # each evaluation scored the best blend using the generator (w < 1) of that round; the best
    # round's weights were restored, so the final weight search finds that score again
    with_generator = [v for w, v in by_blend.blend_scores_.items() if w < 1.0]
    assert by_blend.loop_result_.best_score == max(scores) == pytest.approx(max(with_generator))
    assert by_blend.selected_params()["epochs"] == 1 + scores.index(max(scores))
    # the same game (same seed): the generator's rounds are identical, only what is scored differs
    by_gen = create("cfgan", **kw).fit(train, valid)
    assert [h["g_loss"] for h in by_gen.history] == [h["g_loss"] for h in by_blend.history]
    assert all(b >= g - 1e-12 for b, g in zip(scores, [h["valid_ndcg@20"] for h in by_gen.history], strict=True))


def test_blend_select_needs_a_blend_prior():
    with pytest.raises(ConfigError, match="blend_select"):
        create("cfgan", blend_select="blend")


@pytest.mark.parametrize("w, other", [(0.0, "gen"), (1.0, "ease")])
def test_blend_ends_are_the_two_models(w, other, synthetic):
    from advrec.models.cfgan import blend

    model = create("cfgan", **FAST, mode="item", prior="ease", prior_l2=50.0, prior_weight=w).fit(synthetic)
    users = np.arange(synthetic.n_users)
    ref = model._generated(users) if other == "gen" else create("ease", l2=50.0).fit(synthetic).score(users)
    expect = blend(ref, ref, 0.0)  # the standardised reference
    torch.testing.assert_close(model.score(users), expect, rtol=1e-4, atol=1e-4)
    # at the ends the model scores one part only: exactly the blend's value
    both = blend(model._generated(users), model._prior_rows(users), w)
    assert torch.equal(model.score(users), both)


def test_blend_weight_above_one_is_refused():
    with pytest.raises(ConfigError, match="prior_weight"):
        create("cfgan", prior="ease", prior_mode="blend", prior_weight=1.5)


def test_set_blend_weight_scores_either_part_of_a_fitted_model(synthetic):
    model = create("cfgan", **FAST, mode="item", prior="ease", prior_l2=50.0, prior_weight=0.6).fit(synthetic)
    users = np.arange(synthetic.n_users)
    alone = create("cfgan", **FAST, mode="item", prior="ease", prior_l2=50.0, prior_weight=0.0).fit(synthetic)
    model.set_blend_weight(0.0)
    torch.testing.assert_close(model.score(users), alone.score(users))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        model.set_blend_weight(1.5)
    with pytest.raises(ValueError, match="prior_mode='blend'"):
        create("cfgan", **FAST, mode="item").fit(synthetic).set_blend_weight(0.5)


def test_bf16_training_keeps_float32_weights_and_scores(synthetic):
    model = create("cfgan", **FAST, mode="user", precision="bf16").fit(synthetic)
    assert all(p.dtype == torch.float32 for p in model.g_net.parameters())
    scores = model.score(np.arange(synthetic.n_users))
    assert scores.dtype == torch.float32 and torch.isfinite(scores).all()
