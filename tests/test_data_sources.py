"""Where files are found: resolution order, cache zips, verified downloads, the final error."""

import hashlib
import zipfile

import pytest
from test_data_movielens import RATINGS, write_ml100k

from advrec.data import dataset_info, dataset_names, fetch_dataset, load_dataset
from advrec.data.sources import Archive, download, extract_zip, find_folder
from advrec.errors import DataError


@pytest.fixture
def env(tmp_path, monkeypatch):
    """Isolated $ADVREC_DATA and $ADVREC_CACHE, network steps off."""
    data, cache = tmp_path / "data", tmp_path / "cache"
    data.mkdir()
    monkeypatch.setenv("ADVREC_DATA", str(data))
    monkeypatch.setenv("ADVREC_CACHE", str(cache))
    monkeypatch.setenv("ADVREC_OFFLINE", "1")
    return data, cache


def _zip_of(folder, root, dest):
    with zipfile.ZipFile(dest, "w") as zf:
        for f in sorted(folder.iterdir()):
            zf.write(f, f"{root}/{f.name}")
    return hashlib.sha256(dest.read_bytes()).hexdigest()


def test_names():
    names = dataset_names()
    for n in ("ml-100k", "ml-100k-u1", "ml-100k-u5", "ml-100k-ua", "ml-100k-ub", "ml-100k-cfgan", "ml-1m",
              "ml-1m-lgcn", "lastfm-2k", "gowalla", "amazon-beauty", "ml-10m", "ml-20m", "ml-25m"):
        assert n in names


def test_resolution_order_path_env_cache(env, tmp_path):
    data, cache = env
    write_ml100k(cache / "ml-100k", RATINGS[:3])
    ds = load_dataset("ml-100k")
    assert ds.source["origin"] == "cache" and len(ds.interactions) == 3
    write_ml100k(data / "ml-100k", RATINGS[:5])
    ds = load_dataset("ml-100k")
    assert ds.source["origin"] == "env" and len(ds.interactions) == 5
    assert ds.source["dir"] == str(data / "ml-100k")
    assert ds.source["files"]["u.data"] == hashlib.sha256((data / "ml-100k/u.data").read_bytes()).hexdigest()
    explicit = write_ml100k(tmp_path / "mine")
    ds = load_dataset("ml-100k-u1", path=str(explicit))
    assert ds.source["origin"] == "path" and ds.name == "ml-100k-u1" and len(ds.split.test) == 2
    assert fetch_dataset("ml-100k") == data / "ml-100k"


def test_explicit_path_is_not_silently_replaced(env, tmp_path):
    write_ml100k(env[0] / "ml-100k")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"dataset 'ml-100k' from path=: .*empty: missing u\.data, u\.user, u\.item"):
        load_dataset("ml-100k", path=str(tmp_path / "empty"))


def test_not_found_lists_every_place(env):
    data, cache = env
    with pytest.raises(DataError) as err:
        load_dataset("ml-100k")
    msg = str(err.value)
    assert msg.count("\n  - ") == 5
    for part in (f"$ADVREC_DATA/ml-100k = {data / 'ml-100k'}: no such folder", f"cache {cache / 'ml-100k'}",
                 f"cache zip {cache / 'ml-100k.zip'}: not present", "skipped (ADVREC_OFFLINE is set)",
                 "RecBole wheel", "load_dataset('ml-100k', path="):
        assert part in msg


def test_ml1m_error_says_ratings_must_be_supplied(env):
    data, _ = env
    (data / "ml-1m").mkdir()
    (data / "ml-1m" / "users.dat").write_text("1::F::1::10::48067\n")
    (data / "ml-1m" / "movies.dat").write_text("1::A (1995)::Drama\n")
    with pytest.raises(DataError, match=r"(?s)ml-1m: missing ratings\.dat.*NOT in shared/data.*supply ratings\.dat"):
        load_dataset("ml-1m")
    with pytest.raises(DataError, match="unknown dataset 'ml-2m'"):
        load_dataset("ml-2m", path=str(data))
    with pytest.raises(DataError, match="neither a known dataset"):
        load_dataset("ml-2m")


def test_cache_zip_and_file_download(env, tmp_path, monkeypatch):
    _, cache = env
    src = write_ml100k(tmp_path / "src" / "ml-100k")
    zpath = tmp_path / "ml-100k.zip"
    sha = _zip_of(src, "ml-100k", zpath)
    cache.mkdir()
    (cache / "ml-100k.zip").write_bytes(zpath.read_bytes())
    tried: list[str] = []
    bad = Archive("file:///nowhere/ml-100k.zip", "0" * 64, "ml-100k")
    assert find_folder(("ml-100k",), ("u.data",), bad, tried) is None
    assert any("does not match the pinned" in t for t in tried)
    good = Archive("file:///nowhere/ml-100k.zip", sha, "ml-100k")
    folder, origin = find_folder(("ml-100k",), ("u.data",), good, [])
    assert origin == "cache" and (folder / "u.data").read_bytes() == (src / "u.data").read_bytes()
    # a real download (file:// URL) into an empty cache, verified and extracted atomically
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path / "cache2"))
    monkeypatch.delenv("ADVREC_OFFLINE")
    arch = Archive(zpath.as_uri(), sha, "ml-100k")
    folder, origin = find_folder(("ml-100k",), ("u.data",), arch, [])
    assert origin == "download" and (folder / "u.item").is_file()


def test_download_refuses_wrong_checksum_and_leaves_nothing(tmp_path):
    payload = tmp_path / "blob"
    payload.write_bytes(b"not the file you pinned")
    dest = tmp_path / "out" / "ml-1m.zip"
    with pytest.raises(DataError, match="does not match the pinned"):
        download(payload.as_uri(), dest, "0" * 64)
    assert list(dest.parent.iterdir()) == []
    with pytest.raises(DataError, match="cannot download"):
        download((tmp_path / "missing").as_uri(), dest, "0" * 64)
    ok = download(payload.as_uri(), dest, hashlib.sha256(payload.read_bytes()).hexdigest())
    assert ok.read_bytes() == payload.read_bytes()


def test_extract_zip_refuses_unsafe_members(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("ml-100k/../../escape.txt", "x")
    with pytest.raises(DataError, match="unsafe member name"):
        extract_zip(z, None, "ml-100k", tmp_path / "dest")
    assert not (tmp_path / "dest").exists() and not (tmp_path.parent / "escape.txt").exists()


def test_dataset_info(env, tmp_path):
    ds = load_dataset("ml-100k", path=str(write_ml100k(tmp_path / "m")))
    info = dataset_info(ds)
    assert (info["records"], info["users"], info["items"]) == (6, 4, 3)
    assert info["density"] == pytest.approx(6 / 12)
    assert info["values"]["histogram"] == {1.0: 1, 2.0: 1, 3.0: 1, 4.0: 1, 5.0: 2}
    assert info["values"]["implicit"] is False and info["timestamps"] is True
    assert info["time_range"] == [880000001, 880000006]
    assert "genre:Action" in info["item_features"] and info["user_features"][:2] == ["age", "gender"]
    assert info["split"] is None and info["source"]["origin"] == "path"
    assert info["checksum"] == ds.interactions.checksum()
    split_info = dataset_info(load_dataset("ml-100k-u1", path=str(tmp_path / "m")))["split"]
    assert split_info["train"]["records"] == 4 and split_info["test"]["records"] == 2


def test_load_by_path_autodetects_layout(env, tmp_path):
    from test_data_lastfm import write_lastfm
    from test_data_movielens import write_ml1m

    ds = load_dataset(str(write_ml100k(tmp_path / "my-ml")))
    assert ds.name == "my-ml" and len(ds.interactions) == 6 and ds.interactions.item_features is not None
    assert load_dataset(str(write_lastfm(tmp_path / "fm"))).tables["tags"].shape == (2, 2)
    one = load_dataset("ml-1m", path=str(write_ml1m(tmp_path / "one")))
    assert one.name == "ml-1m" and len(one.interactions) == 3 and one.source["origin"] == "path"
    lg = tmp_path / "lg"
    lg.mkdir()
    (lg / "train.txt").write_text("0 1 2 3\n1 2\n")
    (lg / "test.txt").write_text("0 4\n")
    assert load_dataset(str(lg)).split.summary()["train"]["records"] == 4
    side_only = write_ml1m(tmp_path / "side", with_ratings=False)
    with pytest.raises(DataError, match=r"ratings\.dat: not found"):
        load_dataset(str(side_only))
    (tmp_path / "odd").mkdir()
    with pytest.raises(DataError, match="no known dataset layout"):
        load_dataset(str(tmp_path / "odd"))
