"""HetRec Last.fm loader on synthetic files with CRLF, headers and no final newline."""

import pytest

from advrec.data.lastfm import friends, load_lastfm
from advrec.errors import DataError


def write_lastfm(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "user_artists.dat").write_bytes(
        b"userID\tartistID\tweight\r\n2\t51\t13883\r\n2\t52\t11690\r\n4\t51\t7\r\n4\t70\t1")
    (folder / "artists.dat").write_text(
        "id\tname\turl\tpictureURL\n51\tDuran Duran\thttp://a/51\t\n52\tMorcheeba\thttp://a/52\thttp://p\n"
        "70\tBjörk\thttp://a/70\t\n99\tUnheard\thttp://a/99\t\n")
    (folder / "user_friends.dat").write_bytes(b"userID\tfriendID\r\n2\t4\r\n4\t2\r\n4\t900\r\n")
    (folder / "tags.dat").write_bytes("tagID\ttagValue\r\n1\tmetal\r\n2\tm\xe9lodique\r\n".encode("latin-1"))
    return folder


def test_lastfm_records_features_and_tables(tmp_path):
    ds = load_lastfm(write_lastfm(tmp_path / "lastfm"))
    inter = ds.interactions
    assert (len(inter), inter.n_users, inter.n_items) == (4, 2, 3)
    assert inter.values.tolist() == [13883.0, 11690.0, 7.0, 1.0] and inter.timestamps is None
    assert inter.item_features["name"].tolist() == ["Duran Duran", "Morcheeba", "Björk"]
    assert ds.tables["tags"]["tag"].tolist() == ["metal", "mélodique"]
    assert ds.tables["friends"].shape == (3, 2)
    f = friends(ds)  # user 900 is outside the id space and dropped
    assert sorted(zip(f["user"], f["friend"])) == [(0, 1), (1, 0)]
    assert set(ds.source["files"]) == {"user_artists.dat", "artists.dat", "user_friends.dat", "tags.dat"}


def test_lastfm_errors(tmp_path):
    folder = write_lastfm(tmp_path / "lastfm")
    (folder / "user_artists.dat").write_bytes(b"userID\tartistID\tweight\r\n2\t51\t3\r\n2\t52\t0\r\n")
    with pytest.raises(DataError, match=r"user_artists\.dat line 3: weight 0 is out of range"):
        load_lastfm(folder)
    (folder / "user_artists.dat").write_bytes(b"userID\tartistID\tweight\r\n2\t51\t3\r\n2\t51\t4\r\n")
    with pytest.raises(DataError, match=r"user_artists\.dat line 3: duplicate \(user, item\) pair \(2, 51\)"):
        load_lastfm(folder)
    assert load_lastfm(folder, duplicates="sum").interactions.values.tolist() == [7.0]
    (folder / "user_artists.dat").write_bytes(b"userID\tartistID\tweight\r\n2\t51\t3\r\n2\t77\t4\r\n")
    with pytest.raises(DataError, match=r"user_artists\.dat line 3: artist id 77 is not in artists\.dat"):
        load_lastfm(folder)


def test_lastfm_tag_assignments_become_item_features(tmp_path):
    from advrec.data.features import encode_item_features, genre_matrix

    folder = write_lastfm(tmp_path / "lastfm")
    (folder / "tags.dat").write_bytes(b"tagID\ttagValue\r\n1\tmetal\r\n2\tpop\r\n3\tnew wave\r\n4\tunused\r\n")
    rows = ["2\t51\t3\t1\t4\t2009", "4\t51\t3\t1\t4\t2009", "4\t51\t2\t1\t4\t2009",  # 51: new wave x2, pop
            "2\t70\t1\t1\t4\t2009", "2\t99\t1\t1\t4\t2009", "2\t51\t9\t1\t4\t2009"]  # 99 not listened, tag 9 unknown
    (folder / "user_taggedartists.dat").write_text("userID\tartistID\ttagID\tday\tmonth\tyear\n" + "\n".join(rows))
    ds = load_lastfm(folder)
    table = ds.interactions.item_features
    assert table["tags"].tolist() == ["new wave, pop", "", "metal"]  # artists 51, 52, 70
    assert [c for c in table.columns if c.startswith("tag:")] == ["tag:new wave", "tag:metal", "tag:pop"]
    assert table[["tag:new wave", "tag:metal", "tag:pop"]].to_numpy().tolist() == [[1, 0, 1], [0, 0, 0], [0, 1, 0]]
    matrix, names = encode_item_features(ds)  # tags are encoded like MovieLens genres
    assert names == ["tag:new wave", "tag:metal", "tag:pop"] and matrix.shape == (3, 3)
    assert genre_matrix(ds.interactions).tolist() == matrix.tolist()
    assert ds.tables["tag_assignments"].shape == (6, 6) and "user_taggedartists.dat" in ds.source["files"]
    from advrec.data.features import item_texts

    assert item_texts(table) == ["Duran Duran: new wave, pop", "Morcheeba", "Björk: metal"]
    assert item_texts(table, "name") == ["Duran Duran", "Morcheeba", "Björk"]
