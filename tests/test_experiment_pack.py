"""`advrec run --pack / --unpack`: finished runs move to another machine (or session) and are reused
there without a refit; trained weights travel only where another model starts from them."""

from __future__ import annotations

import tarfile

import pytest

from advrec.cli import main
from advrec.errors import ConfigError
from advrec.experiments import runner
from advrec.experiments.config import ExperimentConfig
from advrec.experiments.pack import pack_runs, unpack_runs
from advrec.experiments.runner import run_experiment
from advrec.experiments.status import experiment_status

BPR = {"epochs": 3, "batch_size": 64, "factors": 8, "lr": 0.05}


def _config(tmp_path, synthetic, out) -> ExperimentConfig:
    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)
    return ExperimentConfig(
        name="packed", datasets=[str(path)], seeds=[0, 1], split="random:0.8", ks=[5], baseline="pop",
        output=str(out),
        models=[{"name": "pop"}, {"name": "bpr", **BPR},
                {"name": "bpr", "label": "bpr-more", "init": "bpr", "params_from": "bpr"}])


def test_packed_runs_are_reused_elsewhere_without_a_refit(tmp_path, synthetic, monkeypatch):
    cfg = _config(tmp_path, synthetic, tmp_path / "here")
    first = run_experiment(cfg, show_progress=False)
    got = pack_runs(cfg, tmp_path / "p.tar.gz")
    assert got["runs"] == 6
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        names = tar.getnames()
    weights = sorted(n for n in names if n.endswith(".safetensors"))
    # only `bpr` is a warm start (init) of another model: its weights travel, the others' do not
    assert weights and all("/bpr/seed" in n for n in weights)
    assert not any("checkpoints" in n for n in names)
    assert any(n.endswith("per_user.test.parquet") for n in names)

    there = cfg.model_copy(update={"output": str(tmp_path / "there")})
    assert {r["state"] for r in experiment_status(there)} == {"pending"}
    assert unpack_runs(there, tmp_path / "p.tar.gz") == {"added": len(names), "kept": 0}
    assert {r["state"] for r in experiment_status(there)} == {"done"}

    def no_fit(*args, **kwargs):
        raise AssertionError("a packed run was fit again")

    monkeypatch.setattr(runner, "fresh_run", no_fit)
    again = run_experiment(there, show_progress=False)
    assert again["tables"] == first["tables"]
    # unpacking again keeps every file that is already there
    assert unpack_runs(there, tmp_path / "p.tar.gz") == {"added": 0, "kept": len(names)}


def test_partial_experiment_packs_what_finished_and_the_cli_reports_it(tmp_path, synthetic, capsys):
    cfg = _config(tmp_path, synthetic, tmp_path / "here")
    with pytest.raises(ConfigError, match="no finished run"):
        pack_runs(cfg, tmp_path / "p.tar.gz")
    assert not (tmp_path / "p.tar.gz").exists()
    run_experiment(cfg.model_copy(update={"models": cfg.models[:1]}), show_progress=False)
    toml = tmp_path / "e.toml"
    toml.write_text(f'name = "packed"\ndatasets = ["{cfg.datasets[0]}"]\nseeds = [0, 1]\nsplit = "random:0.8"\n'
                    f'ks = [5]\noutput = "{cfg.output}"\n\n[[models]]\nname = "pop"\n\n[[models]]\nname = "bpr"\n'
                    'epochs = 3\nbatch_size = 64\nfactors = 8\nlr = 0.05\n')
    assert main(["run", str(toml), "--pack", str(tmp_path / "p.tar.gz")]) == 0
    assert "packed 2 finished runs" in capsys.readouterr().out


def test_a_damaged_or_hostile_archive_is_refused_by_name(tmp_path, synthetic):
    cfg = _config(tmp_path, synthetic, tmp_path / "here")
    bad = tmp_path / "bad.tar.gz"
    bad.write_bytes(b"not a tar")
    with pytest.raises(ConfigError, match="bad.tar.gz: cannot unpack"):
        unpack_runs(cfg, bad)
    with pytest.raises(ConfigError, match="no such file"):
        unpack_runs(cfg, tmp_path / "missing.tar.gz")
    evil = tmp_path / "evil.tar.gz"
    (tmp_path / "x.json").write_text("{}")
    with tarfile.open(evil, "w:gz") as tar:
        tar.add(tmp_path / "x.json", arcname="../outside.json")
    with pytest.raises(ConfigError, match="evil.tar.gz: cannot unpack"):
        unpack_runs(cfg, evil)
    assert not (tmp_path / "outside.json").exists()


def test_a_search_in_progress_travels_as_the_records_of_its_finished_trials(tmp_path, synthetic, monkeypatch, capsys):
    from advrec.experiments import pipeline
    from advrec.models import torch_base

    path = tmp_path / "ratings.csv"
    synthetic.to_frame(external=True).rename(columns={"value": "rating"}).to_csv(path, index=False)

    def config(out):
        return ExperimentConfig(name="tuned", datasets=[str(path)], seeds=[0], split="random:0.8", ks=[5],
                                output=str(out), checkpoint_every=1,
                                models=[{"name": "bpr", **BPR, "eval_every": 1, "tune": 2}])

    reference = run_experiment(config(tmp_path / "ref"), show_progress=False)
    real_fit = pipeline.fit_stage

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # the session ends after the search, before the final fit

    monkeypatch.setattr(pipeline, "fit_stage", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(config(tmp_path / "here"), show_progress=False)
    monkeypatch.setattr(pipeline, "fit_stage", real_fit)
    got = pack_runs(config(tmp_path / "here"), tmp_path / "p.tar.gz")
    assert got == {"runs": 0, "trials": 2, "files": 2}
    with tarfile.open(tmp_path / "p.tar.gz") as tar:
        assert sorted(n.rsplit("/", 1)[1] for n in tar.getnames()) == ["trial0.json", "trial1.json"]

    there = config(tmp_path / "there")
    unpack_runs(there, tmp_path / "p.tar.gz")
    [row] = experiment_status(there)
    assert row["state"] == "in progress" and row["detail"].startswith("trial0: finished, valid 0.")
    fits: list[int] = []
    real_loop = torch_base.train_loop

    def counted(*args, **kwargs):
        fits.append(1)
        return real_loop(*args, **kwargs)

    monkeypatch.setattr(torch_base, "train_loop", counted)
    again = run_experiment(there, show_progress=False)
    assert len(fits) == 1  # the final fit only: both trials came from their records

    def metrics(result):
        return [{k: v for k, v in row.items() if "@" in k} for rows in result["tables"].values() for row in rows]

    assert metrics(again) == metrics(reference) and metrics(again)[0]["ndcg@5"]["mean"] > 0
