"""save_split / load_split: Parquet parts, checksummed manifest, atomic directory."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from advrec.data import Interactions, Split
from advrec.data.splits import load_split, make_split, save_split
from advrec.errors import DataError

PART_NAMES = ("train", "valid", "test", "revealed", "valid_revealed")
SET_NAMES = ("cold_users", "cold_items", "valid_cold_users", "valid_cold_items")


def assert_same_split(a: Split, b: Split) -> None:
    assert a.name == b.name and a.meta == b.meta
    for label in PART_NAMES:
        pa, pb = getattr(a, label), getattr(b, label)
        assert (pa is None) == (pb is None), label
        if pa is None:
            continue
        assert pa.name == pb.name
        for field in ("users", "items", "values", "timestamps", "user_ids", "item_ids"):
            x, y = getattr(pa, field), getattr(pb, field)
            assert (x is None) == (y is None)
            if x is not None:
                assert x.dtype == y.dtype, (label, field)
                np.testing.assert_array_equal(x, y)
        for feats in ("user_features", "item_features"):
            fa, fb = getattr(pa, feats), getattr(pb, feats)
            if fa is None:
                assert fb is None
            else:
                pd.testing.assert_frame_equal(fa, fb)
        assert pa.checksum() == pb.checksum()
    for label in SET_NAMES:
        x, y = getattr(a, label), getattr(b, label)
        assert (x is None) == (y is None)
        if x is not None:
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("spec", ["random:0.8", "temporal:0.8", "cold-item:0.2", "cold-user:0.2:2"])
def test_round_trip(synthetic, tmp_path, spec):
    split = make_split(synthetic, spec, seed=3)
    out = save_split(split, tmp_path / "s")
    assert out == tmp_path / "s"
    back = load_split(out)
    assert_same_split(split, back)
    back.check_leakage()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["spec"] == spec and manifest["seed"] == 3
    assert manifest["counts"] == json.loads(json.dumps(split.summary()))
    assert set(manifest["files"]) == {p.name for p in out.iterdir()} - {"manifest.json"}
    assert [p.name for p in tmp_path.iterdir()] == ["s"]  # no temporary leftovers


def test_round_trip_string_ids_no_timestamps(tmp_path):
    inter = Interactions.from_records(["ann", "bob", "bob", "cy", "cy"], ["x", "x", "y", "y", "z"])
    split = make_split(inter, "random:0.5", valid_ratio=0)
    assert split.train.user_ids.dtype.kind == "U"
    back = load_split(save_split(split, tmp_path / "s"))
    assert_same_split(split, back)
    assert back.train.timestamps is None


def test_tampered_file_detected(synthetic, tmp_path):
    out = save_split(make_split(synthetic, "random:0.8"), tmp_path / "s")
    f = out / "test.parquet"
    data = bytearray(f.read_bytes())
    data[len(data) // 2] ^= 0xFF
    f.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"test\.parquet.*sha256"):
        load_split(out)


def test_missing_files_detected(synthetic, tmp_path):
    out = save_split(make_split(synthetic, "random:0.8"), tmp_path / "s")
    (out / "item_ids.parquet").unlink()
    with pytest.raises(DataError, match=r"item_ids\.parquet.*missing"):
        load_split(out)
    (out / "manifest.json").unlink()
    with pytest.raises(DataError, match=r"manifest\.json"):
        load_split(out)


def test_manifest_must_cover_every_part(synthetic, tmp_path):
    out = save_split(make_split(synthetic, "random:0.8"), tmp_path / "s")
    m = json.loads((out / "manifest.json").read_text())
    del m["files"]["valid.parquet"]
    (out / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(DataError, match=r"valid\.parquet is not covered"):
        load_split(out)


def test_overwrite_rules(synthetic, tmp_path):
    first = make_split(synthetic, "random:0.8", seed=1)
    second = make_split(synthetic, "loo", seed=2)
    save_split(first, tmp_path / "s")
    save_split(second, tmp_path / "s")  # an existing split directory is replaced
    assert_same_split(second, load_split(tmp_path / "s"))
    assert not (tmp_path / "s" / "revealed.parquet").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s"]
    other = tmp_path / "notes"
    other.mkdir()
    (other / "keep.txt").write_text("mine")
    with pytest.raises(DataError, match="refusing to overwrite"):
        save_split(first, other)
    assert (other / "keep.txt").read_text() == "mine"
