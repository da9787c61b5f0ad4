"""MovieLens loaders on small synthetic files written in the publisher's formats."""

from pathlib import Path

import numpy as np
import pytest

from advrec.data.movielens import (
    load_cfgan_ml100k,
    load_ml1m,
    load_ml10m,
    load_ml100k,
    load_ml100k_fold,
    load_ml_csv,
)
from advrec.errors import DataError

GENRE_ZEROS = ["0"] * 19

RATINGS = [  # user, item, rating, timestamp
    (1, 1, 5, 880000001), (1, 2, 3, 880000002), (2, 1, 4, 880000003),
    (3, 3, 1, 880000004), (4, 2, 2, 880000005), (2, 3, 5, 880000006),
]


def _flags(*idx: int) -> list[str]:
    f = list(GENRE_ZEROS)
    for i in idx:
        f[i] = "1"
    return f


def write_ml100k(folder: Path, ratings=RATINGS) -> Path:
    """A 4-user, 3-item ML-100K folder (u.data, u.user, u.item latin-1, u1 fold)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [f"{u}\t{i}\t{r}\t{t}" for u, i, r, t in ratings]
    (folder / "u.data").write_text("\n".join(lines) + "\n")
    (folder / "u1.base").write_text("\n".join(lines[:4]) + "\n")
    (folder / "u1.test").write_text("\n".join(lines[4:]) + "\n")
    (folder / "u.user").write_text("1|17|M|student|12345\n2|24|F|writer|T8H1N\n"
                                   "3|35|M|student|02138\n4|60|F|retired|99999\n")
    items = [
        ["1", "Toy Story (1995)", "01-Jan-1995", "", "http://x/1"] + _flags(3, 4, 5),
        ["2", "Misérables, Les (1995)", "01-Jan-1996", "", ""] + _flags(8, 12),
        ["3", "unknown", "", "", ""] + _flags(0),
    ]
    (folder / "u.item").write_bytes(("\n".join("|".join(r) for r in items) + "\n").encode("latin-1"))
    return folder


def test_ml100k_values_ids_and_features(tmp_path):
    ds = load_ml100k(write_ml100k(tmp_path / "ml-100k"))
    inter = ds.interactions
    assert (len(inter), inter.n_users, inter.n_items) == (6, 4, 3)
    assert inter.user_ids.tolist() == [1, 2, 3, 4] and inter.item_ids.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(inter.csr.toarray(), [[5, 3, 0], [4, 0, 5], [0, 0, 1], [0, 2, 0]])
    assert inter.timestamps.tolist() == [t for *_, t in RATINGS]
    itf, uf = inter.item_features, inter.user_features
    assert itf["title"].tolist()[1] == "Misérables, Les (1995)"
    assert itf["year"].tolist()[:2] == [1995.0, 1995.0] and np.isnan(itf["year"].iloc[2])
    assert itf["genre:Animation"].tolist() == [1, 0, 0] and itf["genre:unknown"].tolist() == [0, 0, 1]
    assert uf["age"].tolist() == [17, 24, 35, 60] and uf["zip_code"].tolist()[2] == "02138"
    assert set(ds.source["files"]) == {"u.data", "u.user", "u.item"} and ds.split is None


def test_ml100k_fold_split(tmp_path):
    ds = load_ml100k_fold(write_ml100k(tmp_path / "ml-100k"), "u1")
    s = ds.split
    assert (len(s.train), len(s.test), s.valid) == (4, 2, None)
    assert ds.interactions.n_items == 3 and s.test.n_users == 4
    full = load_ml100k(tmp_path / "ml-100k").interactions
    assert set(ds.interactions.pair_keys()) == set(full.pair_keys())
    assert s.train.item_features is not None and ds.name == "ml-100k-u1"
    with pytest.raises(DataError, match="unknown ML-100K fold"):
        load_ml100k_fold(tmp_path / "ml-100k", "u9")


@pytest.mark.parametrize(
    "line,msg",
    [("1\t3\t6\t880000009", r"u\.data line 7: rating 6 is out of range"),
     ("9\t3\t4\t880000009", r"u\.data line 7: user id 9 is not in u\.user"),
     ("1\t1\t2\t880000009", r"u\.data line 7: duplicate \(user, item\) pair \(1, 1\), first on line 1"),
     ("1\t3\t4", r"u\.data line 7: expected 4 tab-separated fields, got 3")],
)
def test_ml100k_bad_records(tmp_path, line, msg):
    folder = write_ml100k(tmp_path / "ml-100k")
    with open(folder / "u.data", "a") as fh:
        fh.write(line + "\n")
    with pytest.raises(DataError, match=msg):
        load_ml100k(folder)


def test_ml100k_duplicates_policy_override(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k", RATINGS + [(1, 1, 2, 880000009)])
    inter = load_ml100k(folder, duplicates="last").interactions
    assert len(inter) == 6 and inter.csr[0, 0] == 2.0


def test_side_file_id_collision_and_bad_values(tmp_path):
    folder = write_ml100k(tmp_path / "ml-100k")
    (folder / "u.user").write_text("1|17|M|student|1\n2|24|F|writer|2\n1|30|M|other|3\n")
    with pytest.raises(DataError, match=r"u\.user line 3: user id 1 is defined twice \(first on line 1\)"):
        load_ml100k(folder)
    (folder / "u.user").write_text("1|17|M|student|1\n2|24|X|writer|2\n")
    with pytest.raises(DataError, match=r"u\.user line 2: gender 'X' is not one of"):
        load_ml100k(folder)
    write_ml100k(folder)
    raw = (folder / "u.item").read_bytes().replace(b"01-Jan-1996", b"1996/01/01")
    (folder / "u.item").write_bytes(raw)
    with pytest.raises(DataError, match=r"u\.item line 2: release date '1996/01/01' is not DD-Mon-YYYY"):
        load_ml100k(folder)


def write_ml1m(folder: Path, with_ratings: bool = True) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if with_ratings:
        (folder / "ratings.dat").write_text("1::10::5::978300760\n1::20::3::978302109\n2::10::4::978301968\n")
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::56::16::70072\n3::M::25::15::55117\n")
    movies = "10::Amélie (2001)::Comedy|Romance\n20::Heat (1995)::Action|Crime|Thriller\n30::X (1990)::Drama\n"
    (folder / "movies.dat").write_bytes(movies.encode("latin-1"))
    return folder


def test_ml1m(tmp_path):
    inter = load_ml1m(write_ml1m(tmp_path / "ml-1m")).interactions
    assert (len(inter), inter.n_users, inter.n_items) == (3, 2, 2)  # unrated user 3 / movie 30 left out
    uf, itf = inter.user_features, inter.item_features
    assert uf["occupation"].tolist() == ["K-12 student", "self-employed"] and uf["age"].tolist() == [1, 56]
    assert itf["title"].tolist()[0] == "Amélie (2001)" and itf["year"].tolist() == [2001.0, 1995.0]
    assert itf["genre:Romance"].tolist() == [1, 0] and itf["genre:Thriller"].tolist() == [0, 1]
    assert len([c for c in itf.columns if c.startswith("genre:")]) == 18


def test_ml1m_errors(tmp_path):
    with pytest.raises(DataError, match=r"ratings\.dat: not found.*absent from shared/data"):
        load_ml1m(write_ml1m(tmp_path / "a", with_ratings=False))
    folder = write_ml1m(tmp_path / "b")
    (folder / "users.dat").write_text("1::F::1::10::48067\n2::M::57::16::70072\n")
    with pytest.raises(DataError, match=r"users\.dat line 2: age code 57 is out of range"):
        load_ml1m(folder)
    folder = write_ml1m(tmp_path / "c")
    (folder / "movies.dat").write_text("10::A (2001)::Comedy\n20::B (1995)::Cartoon\n")
    with pytest.raises(DataError, match=r"movies\.dat line 2: genre 'Cartoon' is not one of the README genres"):
        load_ml1m(folder)


def test_ml10m_half_stars(tmp_path):
    folder = tmp_path / "ml-10M100K"
    folder.mkdir()
    (folder / "ratings.dat").write_text("1::122::5::838985046\n1::185::4.5::838983525\n2::122::0.5::1\n")
    (folder / "movies.dat").write_text("122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::"
                                       "Action|Crime|Thriller\n")
    inter = load_ml10m(folder).interactions
    assert inter.values.tolist() == [5.0, 4.5, 0.5] and inter.user_features is None
    assert inter.item_features["genre:Crime"].tolist() == [0, 1]
    (folder / "ratings.dat").write_text("1::122::5::838985046\n1::185::4.25::838983525\n")
    with pytest.raises(DataError, match=r"ratings\.dat line 2: rating 4\.25 is out of range"):
        load_ml10m(folder)


def test_ml20m_csv_with_quoted_titles(tmp_path):
    folder = tmp_path / "ml-20m"
    folder.mkdir()
    (folder / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,2,3.5,1112486027\n1,29,4.0,1112484676\n")
    (folder / "movies.csv").write_text('movieId,title,genres\n2,"Jumanji, The (1995)",Adventure|Children\n'
                                       "29,City of Lost Children (1995),(no genres listed)\n")
    inter = load_ml_csv(folder, name="ml-20m").interactions
    assert inter.item_features["title"].tolist()[0] == "Jumanji, The (1995)"
    assert [c for c in inter.item_features.columns if c.startswith("genre:")] == ["genre:Adventure",
                                                                                  "genre:Children"]
    (folder / "ratings.csv").write_text("user,movie,rating,timestamp\n1,2,3.5,1\n")
    with pytest.raises(DataError, match=r"ratings\.csv line 1: expected header"):
        load_ml_csv(folder)


def test_cfgan_pairs_become_positives(tmp_path):
    folder = tmp_path / "cfgan-ml100k"
    folder.mkdir()
    (folder / "ML100K.train").write_text("0 0 3.0\n1 1 5.0\n2 0 1.0\n")
    (folder / "ML100K.test").write_text("0 2 2.0\n1 0 4.0\n")
    ds = load_cfgan_ml100k(folder)
    assert (ds.interactions.n_users, ds.interactions.n_items) == (3, 3)  # item 2 only in test
    assert set(ds.interactions.values.tolist()) == {1.0}
    assert (len(ds.split.train), len(ds.split.test), ds.split.valid) == (3, 2, None)
    (folder / "ML100K.test").write_text("0 2 2.0\n1 0 7.0\n")
    with pytest.raises(DataError, match=r"ML100K\.test line 2: value 7 is out of range"):
        load_cfgan_ml100k(folder)
