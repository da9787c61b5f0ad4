"""LightGCN-format and pair-file folders with published train/valid/test parts."""

import numpy as np
import pytest

from advrec.data.autodetect import sniff_split_format
from advrec.data.lgcn import load_lightgcn, load_pairs
from advrec.errors import DataError, LeakageError


def _folder(tmp_path, **parts):
    d = tmp_path / "ds"
    d.mkdir(exist_ok=True)
    for k, text in parts.items():
        (d / f"{k}.txt").write_text(text)
    return d


def test_lightgcn_split_shares_one_id_space(tmp_path):
    d = _folder(tmp_path, train="0 1 2\n1 0\n3\n", valid="0 4\n", test="1 2\n2 3\n")
    ds = load_lightgcn(d, name="toy")
    inter, s = ds.interactions, ds.split
    assert ds.name == "toy" and inter.n_users == 4 and inter.n_items == 5  # user 3 has a line but no items
    assert (len(s.train), len(s.valid), len(s.test), len(inter)) == (3, 1, 2, 6)
    np.testing.assert_array_equal(s.train.csr.toarray()[0], [0, 1, 1, 0, 0])
    np.testing.assert_array_equal(s.test.csr.toarray()[2], [0, 0, 0, 1, 0])
    assert inter.timestamps is None and set(inter.values.tolist()) == {1.0}
    assert set(ds.source["files"]) == {"train.txt", "valid.txt", "test.txt"}
    assert s.tuning().test is s.valid


def test_lightgcn_without_valid_and_missing_test(tmp_path):
    d = _folder(tmp_path, train="0 1\n1 0\n", test="0 0\n")
    assert load_lightgcn(d).split.valid is None
    (d / "test.txt").unlink()
    with pytest.raises(DataError, match=r"missing .*test\.txt"):
        load_lightgcn(d)


def test_lightgcn_duplicates_and_leakage(tmp_path):
    d = _folder(tmp_path, train="0 1 2\n1 0 3 0\n", test="0 3\n")
    with pytest.raises(DataError, match=r"train\.txt line 2: duplicate \(user, item\) pair \(1, 0\)"):
        load_lightgcn(d)
    assert len(load_lightgcn(d, duplicates="first").split.train) == 4
    d = _folder(tmp_path, train="0 1 2\n", test="0 2\n")
    with pytest.raises(LeakageError, match="1 \\(user, item\\) pairs are in both train and test"):
        load_lightgcn(d)


def test_pairs_with_cold_items_in_test(tmp_path):
    d = _folder(tmp_path, train="0 0 1\n0 1 1\n1 1 1\n", valid="1 0 1\n", test="0 5 1\n")
    ds = load_pairs(d, name="pairs")
    assert ds.interactions.n_items == 3 and ds.interactions.item_ids.tolist() == [0, 1, 5]
    assert ds.split.summary()["test"] == {"records": 1, "users": 1, "items": 1}
    d2 = _folder(tmp_path, train="0 0 1\n0 0 1\n", test="1 1 1\n")
    with pytest.raises(DataError, match=r"train\.txt line 2: duplicate"):
        load_pairs(d2)


def test_sniff_split_format(tmp_path):
    d = _folder(tmp_path, train="0 1 1\n0 2 1\n1 3 1\n", test="0 4 1\n")
    assert sniff_split_format(d / "train.txt") == "pairs"
    d = _folder(tmp_path, train="0 1 2 3\n1 2\n2 3 4\n", test="0 4\n")
    assert sniff_split_format(d / "train.txt") == "lightgcn"
    d = _folder(tmp_path, train="0 1 2\n1 2 3\n", test="0 4\n")
    with pytest.raises(DataError, match="cannot tell LightGCN lines from user-item pairs"):
        sniff_split_format(d / "train.txt")
