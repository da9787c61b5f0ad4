"""APR (adversarial BPR-MF): equivalences with BPR-MF, schedule, warm start and the CLI."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import make_synthetic

from advrec.cli import main
from advrec.models import Recommender, create

KERNEL = {"optimizer": "sgd", "batch_size": 1, "lr": 0.05, "l2": 0.005, "factors": 8, "epochs": 4}
BATCH = {"optimizer": "adam", "batch_size": 64, "lr": 0.01, "l2": 1e-4, "factors": 8, "epochs": 4}


def _emb(model):
    return model.embeddings()


@pytest.mark.parametrize("params", [KERNEL, BATCH])
def test_ablation_equals_bpr(params, synthetic):
    bpr = create("bpr", **params).fit(synthetic)
    apr = create("apr", **params, adversarial=False, pretrain_epochs=0).fit(synthetic)
    for a, b in zip(_emb(bpr), _emb(apr)):
        assert torch.equal(a, b)
    assert [h["loss"] for h in apr.history] == [h["loss"] for h in bpr.history]


def test_best_epoch_is_an_adversarial_one(synthetic):
    from advrec.data.splits import make_split

    split = make_split(synthetic, "random:0.8", seed=0)
    apr = create("apr", **{**BATCH, "epochs": 5}, pretrain_epochs=3, eval_every=1).fit(split.train, valid=split.valid)
    assert apr.loop_result_.best_epoch > 3 and apr.selected_params() == {"epochs": apr.loop_result_.best_epoch}


@pytest.mark.parametrize("params", [KERNEL, BATCH])
def test_adversarial_term_changes_training(params, synthetic):
    bpr = create("bpr", **params).fit(synthetic)
    apr = create("apr", **params, pretrain_epochs=2).fit(synthetic)
    # the pre-training epochs are plain BPR, the adversarial ones are not
    assert [h["loss"] for h in apr.history[:2]] == [h["loss"] for h in bpr.history[:2]]
    assert apr.history[2]["loss"] > bpr.history[2]["loss"]  # the adversarial loss is added
    assert not torch.equal(_emb(apr)[0], _emb(bpr)[0])


def test_eps_zero_is_bpr_with_a_scaled_loss(synthetic):
    """At eps = 0 the adversarial loss is the BPR loss: APR is BPR with (1 + reg_adv) times its loss,
    i.e. per-triple SGD with lr * (1 + reg_adv) and l2 / (1 + reg_adv)."""
    r = 1.5
    apr = create("apr", **KERNEL, eps=0.0, reg_adv=r, pretrain_epochs=0).fit(synthetic)
    bpr = create("bpr", **{**KERNEL, "lr": KERNEL["lr"] * (1 + r), "l2": KERNEL["l2"] / (1 + r)}).fit(synthetic)
    for a, b in zip(_emb(apr), _emb(bpr)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_eps_zero_in_mini_batches_is_bpr(synthetic):
    """The mini-batch path at eps = 0, reg_adv = r against BPR with the loss scaled by 1 + r (SGD)."""
    sgd = {**BATCH, "optimizer": "sgd", "lr": 0.5}
    r = 1.0
    apr = create("apr", **sgd, eps=0.0, reg_adv=r, pretrain_epochs=0).fit(synthetic)
    bpr = create("bpr", **{**sgd, "lr": sgd["lr"] * (1 + r), "l2": sgd["l2"] / (1 + r)}).fit(synthetic)
    for a, b in zip(_emb(apr), _emb(bpr)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("params", [KERNEL, BATCH])
def test_adv_lr_sets_the_rate_of_the_adversarial_epochs_only(params, synthetic):
    """Pre-training at ``lr``, then adversarial epochs at ``adv_lr``: a vanishing ``adv_lr`` leaves
    the pre-trained BPR-MF (the first two epochs, same seed) in place; without it APR moves on."""
    bpr = create("bpr", **{**params, "epochs": 2}).fit(synthetic)
    frozen = create("apr", **params, pretrain_epochs=2, adv_lr=1e-12).fit(synthetic)
    moving = create("apr", **params, pretrain_epochs=2).fit(synthetic)
    for a, b, c in zip(_emb(bpr), _emb(frozen), _emb(moving)):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
        assert (a - c).abs().max() > 1e-3


def test_warm_start_from_bpr_is_all_adversarial(synthetic):
    bpr = create("bpr", **KERNEL).fit(synthetic)
    apr = create("apr", **{**KERNEL, "epochs": 1}, pretrain_epochs=3).fit(synthetic, init=bpr)
    cont = create("bpr", **{**KERNEL, "epochs": 1}).fit(synthetic, init=bpr)
    assert apr.history[0]["loss"] > cont.history[0]["loss"]
    assert len(apr.history) == 1


def test_apr_is_more_robust_to_embedding_noise(synthetic):
    """The point of APR: scores move less under an eps-ball perturbation of the user vectors."""
    params = {**KERNEL, "epochs": 30, "factors": 16}
    bpr = create("bpr", **params).fit(synthetic)
    apr = create("apr", **params, pretrain_epochs=0, eps=0.5).fit(synthetic, init=bpr)
    gen = torch.Generator().manual_seed(0)

    def drop(model):
        u, i = model.embeddings()
        noise = torch.randn(u.shape, generator=gen)
        noise = 0.5 * noise / noise.norm(dim=1, keepdim=True)
        clean, noisy = model.score_embeddings(u, i), model.score_embeddings(u + noise, i)
        return float((noisy - clean).abs().mean() / clean.std())

    assert drop(apr) < drop(bpr)


def test_train_apr_cli_json(tmp_path, capsys):
    frame = make_synthetic(n_users=50, n_items=30, seed=3).to_frame(external=True)
    path = tmp_path / "ratings.csv"
    frame.rename(columns={"value": "rating"}).to_csv(path, index=False)
    code = main(["train", "apr", "--data", str(path), "--split", "random:0.8", "--seed", "2", "--json",
                 "--set", "factors=4", "--set", "epochs=3", "--set", "pretrain_epochs=1",
                 "--out", str(tmp_path / "m")])
    assert code == 0
    rec = json.loads(capsys.readouterr().out)
    assert rec["model"] == "apr" and rec["seed"] == 2
    assert rec["hyperparameters"]["eps"] == 0.5 and rec["hyperparameters"]["pretrain_epochs"] == 1
    assert 0.0 <= rec["metrics"]["ndcg@20"] <= 1.0
    loaded = Recommender.load(tmp_path / "m")
    assert loaded.name == "apr" and loaded.embeddings()[0].shape[1] == 4
