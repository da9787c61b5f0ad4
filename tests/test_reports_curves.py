"""Training curves and diagnostics tables from saved models."""

from __future__ import annotations

import numpy as np
import pytest

from advrec.cli import main
from advrec.errors import ModelFileError
from advrec.models import create
from advrec.reports.curves import diagnostics_table, load_histories, plot_curves

FAST = {"epochs": 4, "pretrain_epochs": 2, "factors": 8, "batch_size": 16, "batch_size_d": 64}


@pytest.fixture
def saved_runs(synthetic, tmp_path):
    root = tmp_path / "irgan"
    for seed in (0, 1):
        create("irgan", **FAST, seed=seed).fit(synthetic).save(root / f"seed{seed}")
    return root


def test_histories_are_grouped_by_folder(saved_runs):
    h = load_histories([saved_runs])
    assert list(h) == ["irgan"] and len(h["irgan"]) == 2
    assert [int(r["epoch"]) for r in h["irgan"][0]] == [1, 2, 3, 4]
    single = load_histories([saved_runs / "seed0"])
    assert len(next(iter(single.values()))) == 1


def test_table_holds_seed_means(saved_runs):
    h = load_histories([saved_runs])
    table = diagnostics_table(h, epochs=[4])
    header = table.splitlines()[0].strip("| ").split(" | ")
    row = table.splitlines()[2].strip("| ").split(" | ")
    col = header.index("d_acc_real")
    expect = np.mean([run[3]["d_acc_real"] for run in h["irgan"]])
    assert row[col].startswith(f"{expect:.3f}")
    assert "pop_js" in header and "gen_coverage@20" in header


def test_small_values_keep_significant_digits():
    hist = {"m": [[{"epoch": 1, "gen_coverage@20": 0.00035}], [{"epoch": 1, "gen_coverage@20": 0.00037}]]}
    row = diagnostics_table(hist).splitlines()[2]
    assert "0.00036 ± 1e-05" in row and "0.000 ±" not in row


def test_plot_and_cli(saved_runs, tmp_path, capsys):
    png = plot_curves(load_histories([saved_runs]), tmp_path / "c.png", "t")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["curves", str(saved_runs), "--out", str(tmp_path / "d.png"),
                 "--table", str(tmp_path / "d.md")]) == 0
    assert (tmp_path / "d.png").is_file() and "d_acc_fake" in (tmp_path / "d.md").read_text()


def test_missing_history_is_a_clear_error(tmp_path):
    with pytest.raises(ModelFileError, match="no saved model"):
        load_histories([tmp_path])
