"""Synthetic data release: the GAN, its DP variant, the measurements and ``advrec synth``."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from advrec.cli import main
from advrec.data.autodetect import load_path
from advrec.data.features import MissingDependencyError
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.privacy.synth import default_delta, make_config, require_opacus, train_synth_gan
from advrec.privacy.synth_audit import closest_jaccard, distinct_rows, membership_auc, split_members

EPOCHS = "3"


def _toy(seed: int = 0, n_users: int = 80, n_items: int = 40) -> Interactions:
    """Users of two taste clusters, 6-12 items each, drawn mostly from their cluster's half."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(6, 13, n_users)
    users = np.repeat(np.arange(n_users), lengths)
    half = n_items // 2
    own = rng.random(len(users)) < 0.85
    items = np.where(own, (users % 2) * half, ((users + 1) % 2) * half) + rng.integers(0, half, len(users))
    frame = np.unique(np.column_stack([users, items]), axis=0)  # one record per (user, item)
    return Interactions.from_records(frame[:, 0] + 1, frame[:, 1] + 100, name="toy")


@pytest.fixture(scope="module")
def toy_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("toy") / "toy.tsv"
    frame = _toy().to_frame(external=True).rename(columns={"value": "rating"})
    frame.to_csv(path, sep="\t", index=False)
    return path


def _synth(toy_file: Path, out: Path, *extra: str, capsys: pytest.CaptureFixture[str]) -> dict:
    assert main(["synth", "--data", str(toy_file), "--out", str(out), "--epochs", EPOCHS, "--json", *extra]) == 0
    return json.loads(capsys.readouterr().out)


@pytest.fixture(scope="module")
def released(toy_file: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("release") / "synth"
    import contextlib
    import io

    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["synth", "--data", str(toy_file), "--out", str(out), "--epochs", EPOCHS, "--json"]) == 0
    return out, json.loads(buf.getvalue())


# --------------------------------------------------------------------- measurements
def _brute_jaccard(a: sp.csr_matrix, b: sp.csr_matrix) -> np.ndarray:
    rows_a = [set(a[i].indices) for i in range(a.shape[0])]
    rows_b = [set(b[j].indices) for j in range(b.shape[0])]
    out = []
    for x in rows_a:
        dists = [1.0 - (len(x & y) / len(x | y) if x | y else 1.0) for y in rows_b]
        out.append(min(dists))
    return np.array(out)


@pytest.mark.parametrize("chunk_cells", [1, 7, 1 << 20])
def test_closest_jaccard_matches_brute_force(chunk_cells: int) -> None:
    rng = np.random.default_rng(3)
    dense = (rng.random((23, 15)) < 0.25) * (rng.random((23, 15)) + 0.5)  # values are ignored: binary profiles
    b = sp.csr_matrix((rng.random((17, 15)) < 0.3).astype(float))
    dense[4] = 0  # an empty real row: distance 1 unless b has an empty row too
    dense[5] = b[3].toarray()  # an exact copy: distance 0
    a = sp.csr_matrix(dense)
    got = closest_jaccard(a, b, chunk_cells=chunk_cells)
    np.testing.assert_allclose(got, _brute_jaccard(a, b), atol=1e-12)
    assert got[5] == 0.0 and got[4] == 1.0
    b2 = sp.vstack([b, sp.csr_matrix((1, 15))]).tocsr()  # with an empty synthetic row, the empty real row matches
    assert closest_jaccard(a, b2, chunk_cells=chunk_cells)[4] == 0.0


def test_membership_auc_and_distinct_rows() -> None:
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    members, holdout = rng.integers(0, 4, 40).astype(float), rng.integers(0, 5, 30).astype(float)  # with ties
    expected = roc_auc_score(np.r_[np.ones(40), np.zeros(30)], -np.r_[members, holdout])  # closer: member
    point, ci = membership_auc(members, holdout, n_boot=200, seed=0)
    assert point == pytest.approx(expected)
    assert ci[0] <= point <= ci[1]
    x = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]], float))
    assert distinct_rows(x) == 3


def test_members_and_holdout_partition_the_training_users() -> None:
    train = _toy()
    members, holdout = split_members(train, seed=5)
    assert len(np.intersect1d(members, holdout)) == 0
    np.testing.assert_array_equal(np.union1d(members, holdout), np.flatnonzero(train.user_counts()))
    assert len(members) == 64
    again = split_members(train, seed=5)
    np.testing.assert_array_equal(members, again[0])
    assert not np.array_equal(members, split_members(train, seed=6)[0])


def test_sampling_is_seeded_and_never_empty() -> None:
    x = _toy().binary_csr
    gan = train_synth_gan(x, make_config(epochs=2, g_hidden=(32,), d_hidden=(32,), seed=1))
    a, probs = gan.sample(50, seed=9)
    b, _ = gan.sample(50, seed=9)
    assert a.shape == (50, x.shape[1]) and probs.shape == (50, x.shape[1])
    assert (a != b).nnz == 0
    assert a.getnnz(1).min() >= 1
    assert set(np.unique(a.data)) == {1.0}


# --------------------------------------------------------------------- the command
def test_release_folder_is_readable_and_trainable(released: tuple[Path, dict], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    out, record = released
    assert {p.name for p in out.iterdir()} == {"synthetic.train", "synthetic.test", "synth.json"}
    assert json.loads((out / "synth.json").read_text()) == record
    ds = load_path(out)
    assert ds.split is not None
    assert ds.interactions.n_users == record["n_synthetic_users"] == record["n_members"] == 64
    assert len(ds.interactions) == record["n_synthetic_records"]
    assert len(ds.split.test) > 0 and set(ds.interactions.item_ids) <= set(range(100, 140))
    assert main(["train", "pop", "--data", str(out), "--out", str(tmp_path / "run"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result  # train evaluated the model on the synthetic test part
    u, p = record["utility"], record["privacy"]
    assert set(u) >= {"ndcg@20_synthetic", "ndcg@20_real", "ratio"}
    assert u["ratio"] == pytest.approx(u["ndcg@20_synthetic"] / u["ndcg@20_real"])
    assert 0 < u["ndcg@20_real"] <= 1
    assert set(p) >= {"membership_auc", "ci", "dcr_members", "dcr_holdout", "identical_share"}
    assert p["ci"][0] <= p["membership_auc"] <= p["ci"][1]
    assert 0 <= p["dcr_members"] <= 1 and 0 <= p["identical_share"] <= 1
    assert {"coverage", "pop_js", "gen_pairwise", "real_pairwise"} <= set(record["diagnostics"])
    assert record["dp"] is None
    assert record["config"]["epochs"] == int(EPOCHS) and record["seed"] == 0
    assert set(record["checksums"]) >= {"real_train_sha256", "synthetic_sha256"}


def test_same_seed_same_synthetic_data(toy_file: Path, released: tuple[Path, dict], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    first, rec1 = released
    rec2 = _synth(toy_file, tmp_path / "again", capsys=capsys)
    for name in ("synthetic.train", "synthetic.test"):
        assert (first / name).read_bytes() == (tmp_path / "again" / name).read_bytes()
    assert rec1["checksums"]["synthetic_sha256"] == rec2["checksums"]["synthetic_sha256"]
    assert rec1["utility"] == rec2["utility"] and rec1["privacy"] == rec2["privacy"]
    rec3 = _synth(toy_file, tmp_path / "other", "--seed", "1", capsys=capsys)
    assert rec3["checksums"]["synthetic_sha256"] != rec1["checksums"]["synthetic_sha256"]


def test_dp_release_records_the_spent_budget(toy_file: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    rec = _synth(toy_file, tmp_path / "dp", "--dp-epsilon", "3", "--users", "30", capsys=capsys)
    dp = rec["dp"]
    assert dp["guarantee"] == "per user"
    assert 0 < dp["epsilon"] <= 3.0 and dp["epsilon"] > 1.0  # the budget is used, not exceeded
    assert dp["delta"] == default_delta(64) == 1e-5
    assert dp["steps"] == int(EPOCHS) * round(1 / dp["sample_rate"]) and dp["noise_multiplier"] > 0
    assert rec["n_synthetic_users"] == 30 and rec["config"]["dp_epsilon"] == 3.0
    assert "opacus" in rec["versions"]
    rec2 = _synth(toy_file, tmp_path / "dp2", "--dp-epsilon", "3", "--dp-delta", "1e-3", capsys=capsys)
    assert rec2["dp"]["delta"] == 1e-3 and rec2["dp"]["epsilon"] <= 3.0
    assert rec2["dp"]["noise_multiplier"] < dp["noise_multiplier"]  # a larger delta needs less noise


@pytest.mark.parametrize(("extra", "message"), [
    (["--dp-epsilon", "0"], "--dp-epsilon"),
    (["--dp-epsilon", "-1"], "--dp-epsilon"),
    (["--dp-delta", "1e-5"], "--dp-delta needs --dp-epsilon"),
    (["--dp-epsilon", "1", "--dp-delta", "1.5"], "--dp-delta"),
    (["--users", "0"], "--users"),
    (["--epochs", "0"], "--epochs"),
])
def test_bad_options_are_named(toy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               extra: list[str], message: str) -> None:
    out = tmp_path / "never"
    assert main(["synth", "--data", str(toy_file), "--out", str(out), *extra]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_out_must_be_new_or_empty(toy_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("keep")
    assert main(["synth", "--data", str(toy_file), "--out", str(tmp_path / "full")]) == 2
    assert "--out" in capsys.readouterr().err


def test_bad_config_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="dp_epsilon"):
        make_config(dp_epsilon=-2.0)
    with pytest.raises(ConfigError, match="batch_size"):
        make_config(batch_size=0)


def test_missing_opacus_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "opacus", None)  # import opacus now raises ImportError
    with pytest.raises(MissingDependencyError, match=r"pip install advrec\[privacy\]"):
        require_opacus()
    with pytest.raises(MissingDependencyError):
        train_synth_gan(_toy().binary_csr, make_config(epochs=1, dp_epsilon=1.0))
