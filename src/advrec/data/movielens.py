"""MovieLens loaders (GroupLens): 100K with its folds, 1M, 10M, 20M and 25M.

Every loader reads the publisher's own files. Ratings are explicit (values are
the star ratings, timestamps are unix seconds); call ``.implicit(threshold)``
for positive-only feedback and ``.kcore(k)`` for filtering.

Id space: the users and items that have at least one rating, sorted by their
MovieLens id. Movies listed in the side file but never rated are not in the id
space (this gives the commonly reported 3,706 items for ML-1M); every rated id
must exist in the side file, else :class:`DataError`.

Duplicate policy: ``"error"`` (default). Each MovieLens release has one rating
per (user, movie); a repeated pair means a damaged or concatenated file, and
silently keeping one would change the data. Pass ``duplicates=`` to override.

Side features (``item_features``): ``title``, ``year`` (float, NaN when
unknown) and one ``genre:<Name>`` 0/1 column per genre; ML-100K adds
``release_date``, ``video_release_date`` and ``imdb_url``. ``user_features``
(100K and 1M only): ``age`` (years for 100K, the age-group code for 1M),
``gender``, ``occupation`` (name) and ``zip_code``.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.interactions import Interactions
from advrec.data.lgcn import encode, load_pairs, split_from_parts, unique_ids
from advrec.data.movielens_side import (
    ML100K_GENRES,
    read_movies,
    read_u_item,
    read_u_user,
    read_users_dat,
)
from advrec.data.parsing import read_table
from advrec.data.record_checks import check_duplicate_pairs, check_range
from advrec.data.sources import Dataset, source_record
from advrec.data.splits.split import Split
from advrec.errors import DataError

RATING_COLS = [("user", "int"), ("item", "int"), ("value", "float"), ("timestamp", "int")]
WHOLE_STARS = [1.0, 2.0, 3.0, 4.0, 5.0]
HALF_STARS = [x / 2 for x in range(1, 11)]
ML100K_FOLDS = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


class Ratings:
    """Parsed ratings of one file, with what is needed to point at a line."""

    def __init__(self, frame: pd.DataFrame, first_line: int, label: str) -> None:
        self.frame = frame
        self.first_line = first_line
        self.label = label


def read_ratings(
    path: str | Path | bytes,
    *,
    sep: str,
    allowed: list[float],
    header: list[str] | None = None,
    label: str | None = None,
) -> Ratings:
    """Read ``user item rating timestamp`` records and check the rating scale."""
    df, first = read_table(path, RATING_COLS, sep=sep, header=header, label=label)
    label = label or Path(str(path)).name
    check_range(df["value"], label=label, field="rating", first_line=first, allowed=allowed)
    check_range(df["user"], label=label, field="user id", first_line=first, lo=0)
    check_range(df["item"], label=label, field="item id", first_line=first, lo=0)
    return Ratings(df, first, label)


def ratings_to_interactions(
    name: str,
    parts: dict[str, Ratings],
    users: tuple[pd.DataFrame, str] | None,
    items: tuple[pd.DataFrame, str] | None,
    duplicates: str,
) -> tuple[Interactions, dict[str, Interactions]]:
    """Encode rating files over one id space, attaching side tables row-aligned.

    ``users`` / ``items`` are ``(table indexed by MovieLens id, file name)``.
    """
    uid = unique_ids(np.concatenate([p.frame["user"].to_numpy() for p in parts.values()]))
    iid = unique_ids(np.concatenate([p.frame["item"].to_numpy() for p in parts.values()]))
    uf = _align(uid, users, parts, "user")
    itf = _align(iid, items, parts, "item")
    out = {}
    for key, p in parts.items():
        f = p.frame
        if duplicates == "error":
            check_duplicate_pairs(f["user"].to_numpy(), f["item"].to_numpy(), label=p.label, lines=p.first_line)
        inter = Interactions(
            encode(f["user"].to_numpy(), uid), encode(f["item"].to_numpy(), iid),
            f["value"].to_numpy(np.float32), uid, iid, f["timestamp"].to_numpy(np.int64), name=p.label,
        )
        out[key] = replace(inter.deduplicate(duplicates), user_features=uf, item_features=itf)
    first = next(iter(out.values()))
    return replace(first, name=name), out


def _align(
    ids: np.ndarray, side: tuple[pd.DataFrame, str] | None, parts: dict[str, Ratings], kind: str
) -> pd.DataFrame | None:
    if side is None:
        return None
    table, fname = side
    known = np.isin(ids, table.index.to_numpy())
    if not known.all():
        bad = ids[~known][0]
        for p in parts.values():
            hit = np.flatnonzero(p.frame[kind].to_numpy() == bad)
            if len(hit):
                raise DataError(
                    f"{p.label} line {p.first_line + int(hit[0])}: {kind} id {bad} is not in {fname} "
                    f"({int((~known).sum())} {kind} ids missing in all)"
                )
    return table.loc[ids].reset_index(drop=True)


def _dataset(name: str, inter: Interactions, folder: Path, files: list[Path], description: str) -> Dataset:
    return Dataset(name, inter, None, source_record(folder, files), description)


def load_ml100k(folder: str | Path, *, duplicates: str = "error", name: str = "ml-100k") -> Dataset:
    """MovieLens 100K: ``u.data`` ratings with ``u.user`` and ``u.item`` side features."""
    folder = Path(folder)
    r = read_ratings(folder / "u.data", sep="\t", allowed=WHOLE_STARS)
    users, items = read_u_user(folder / "u.user"), read_u_item(folder / "u.item")
    inter, _ = ratings_to_interactions(name, {"all": r}, (users, "u.user"), (items, "u.item"), duplicates)
    files = [folder / f for f in ("u.data", "u.user", "u.item")]
    desc = ("MovieLens 100K (GroupLens): 100,000 explicit ratings 1-5 with unix timestamps, 943 users, "
            f"1,682 movies; user demographics and {len(ML100K_GENRES)} genre flags. Research use only.")
    return _dataset(name, inter, folder, files, desc)


def load_ml100k_fold(folder: str | Path, fold: str, *, duplicates: str = "error") -> Dataset:
    """A published ML-100K fold: ``<fold>.base`` as train, ``<fold>.test`` as test.

    ``fold`` is one of ``u1``..``u5`` (5-fold cross-validation, 80/20) or
    ``ua``/``ub`` (exactly 10 test ratings per user). The records are the union
    of both files (equal to ``u.data``), over the same id space as ``ml-100k``.
    """
    if fold not in ML100K_FOLDS:
        raise DataError(f"unknown ML-100K fold {fold!r}; use one of {ML100K_FOLDS}")
    folder = Path(folder)
    parts = {k: read_ratings(folder / f"{fold}.{ext}", sep="\t", allowed=WHOLE_STARS)
             for k, ext in (("train", "base"), ("test", "test"))}
    users, items = read_u_user(folder / "u.user"), read_u_item(folder / "u.item")
    name = f"ml-100k-{fold}"
    _, enc = ratings_to_interactions(name, parts, (users, "u.user"), (items, "u.item"), duplicates)
    union, split = split_from_parts(name, enc, user_features=enc["train"].user_features,
                                    item_features=enc["train"].item_features)
    files = [folder / f for f in (f"{fold}.base", f"{fold}.test", "u.user", "u.item")]
    desc = (f"MovieLens 100K with the published fold {fold}: train = {fold}.base, test = {fold}.test "
            "(explicit ratings 1-5, timestamps, side features).")
    return Dataset(name, union, split, source_record(folder, files), desc)


def load_ml100k_positives(folder: str | Path, fold: str = "u1", *, threshold: float = 4.0,
                          duplicates: str = "error") -> Dataset:
    """A published ML-100K fold with ratings ``>= threshold`` as positives (IRGAN's protocol).

    Train and test keep only their positive records (values 1.0) over the full
    id space of the fold (every user and item stays indexed, even with no
    positive left), so evaluation excludes the training positives only.
    """
    base = load_ml100k_fold(folder, fold, duplicates=duplicates)
    assert base.split is not None
    name = f"ml-100k-{fold}-pos{threshold:g}"
    union = replace(base.interactions.implicit(threshold), name=name)
    split = Split(
        train=replace(base.split.train.implicit(threshold), name=f"{name}/train"),
        test=replace(base.split.test.implicit(threshold), name=f"{name}/test"),
        name="fixed",
    ).check_leakage()
    desc = (f"MovieLens 100K fold {fold} ({fold}.base / {fold}.test) with ratings >= {threshold:g} as "
            "positives (values 1.0), the item-recommendation protocol of IRGAN (SIGIR 2017).")
    return Dataset(name, union, split, base.source, desc)


def load_cfgan_ml100k(folder: str | Path, *, duplicates: str = "error") -> Dataset:
    """The ML-100K train/test split published with CFGAN (CIKM 2018).

    ``ML100K.train`` / ``ML100K.test`` hold 0-indexed ``user item rating``;
    CFGAN counts every rating as a positive, so every value is 1.0. The id
    space holds every user and every item that appears in either file.
    """
    desc = ("ML-100K split published with CFGAN (CIKM 2018): 0-indexed ids, every rating is a positive "
            "(values 1.0), fixed train/test with no validation part.")
    return load_pairs(folder, name="ml-100k-cfgan", parts={"train": "ML100K.train", "test": "ML100K.test"},
                      duplicates=duplicates, implicit=True, value_range=(1.0, 5.0), description=desc)


def load_ml1m(folder: str | Path, *, duplicates: str = "error", name: str = "ml-1m") -> Dataset:
    """MovieLens 1M: ``ratings.dat`` with ``users.dat`` and ``movies.dat`` (latin-1)."""
    folder = Path(folder)
    if not (folder / "ratings.dat").is_file():
        raise DataError(
            f"{folder / 'ratings.dat'}: not found. The MovieLens 1M ratings are not redistributable and are "
            "absent from shared/data; download ml-1m.zip from https://files.grouplens.org/datasets/movielens/"
            " and unzip it there (or set $ADVREC_DATA / pass path=)."
        )
    r = read_ratings(folder / "ratings.dat", sep="::", allowed=WHOLE_STARS)
    users = read_users_dat(folder / "users.dat")
    items = read_movies(folder / "movies.dat", sep="::", encoding="latin-1", genres="ml-1m")
    inter, _ = ratings_to_interactions(name, {"all": r}, (users, "users.dat"), (items, "movies.dat"), duplicates)
    files = [folder / f for f in ("ratings.dat", "users.dat", "movies.dat")]
    desc = ("MovieLens 1M (GroupLens): 1,000,209 explicit ratings 1-5 with timestamps from 6,040 users on "
            "3,706 rated movies; demographics and genres. Research use only.")
    return _dataset(name, inter, folder, files, desc)


def load_ml10m(folder: str | Path, *, duplicates: str = "error", name: str = "ml-10m") -> Dataset:
    """MovieLens 10M (``ml-10M100K``): ``ratings.dat`` (``::``, half stars) and ``movies.dat``."""
    folder = Path(folder)
    r = read_ratings(folder / "ratings.dat", sep="::", allowed=HALF_STARS)
    files = [folder / "ratings.dat"]
    items = None
    if (folder / "movies.dat").is_file():
        items = (read_movies(folder / "movies.dat", sep="::", encoding=None, genres=None), "movies.dat")
        files.append(folder / "movies.dat")
    inter, _ = ratings_to_interactions(name, {"all": r}, None, items, duplicates)
    desc = "MovieLens 10M (GroupLens): explicit half-star ratings 0.5-5 with timestamps; genres."
    return _dataset(name, inter, folder, files, desc)


def load_ml_csv(folder: str | Path, *, duplicates: str = "error", name: str = "ml-20m") -> Dataset:
    """MovieLens 20M / 25M / latest: ``ratings.csv`` (with header) and ``movies.csv``."""
    folder = Path(folder)
    r = read_ratings(folder / "ratings.csv", sep=",", allowed=HALF_STARS,
                     header=["userId", "movieId", "rating", "timestamp"])
    files = [folder / "ratings.csv"]
    items = None
    if (folder / "movies.csv").is_file():
        items = (read_movies(folder / "movies.csv", sep=",", encoding=None, genres=None,
                             header=["movieId", "title", "genres"]), "movies.csv")
        files.append(folder / "movies.csv")
    inter, _ = ratings_to_interactions(name, {"all": r}, None, items, duplicates)
    desc = f"MovieLens ({name}, GroupLens): explicit half-star ratings 0.5-5 with timestamps; genres."
    return _dataset(name, inter, folder, files, desc)
