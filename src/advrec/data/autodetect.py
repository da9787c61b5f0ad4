"""Load a dataset from a folder or file whose format is recognised by its file names.

Folders: ``u.data`` (ML-100K), ``ML100K.train`` (CFGAN split), ``ratings.dat``
with ``users.dat`` (ML-1M) or without (ML-10M), ``ratings.csv`` (ML-20M/25M),
``user_artists.dat`` (Last.fm), ``train.txt`` + ``test.txt`` (LightGCN lines or
pair files, told apart by their first lines). Files: CSV/TSV/Parquet tables.
"""

from __future__ import annotations

from pathlib import Path

from advrec.data import lgcn, movielens
from advrec.data.lastfm import load_lastfm
from advrec.data.sources import Dataset
from advrec.data.tabular import PARQUET, SEPARATORS, load_tabular
from advrec.errors import DataError

SAMPLE_LINES = 1000


def sniff_split_format(path: Path) -> str:
    """``"lightgcn"`` or ``"pairs"`` from the first lines of a ``train.txt``.

    Pair files repeat a user on consecutive lines and have a constant 2 or 3
    fields; LightGCN files list each user once with a varying number of items.
    """
    with open(path, "rb") as fh:
        rows = [line.split() for _, line in zip(range(SAMPLE_LINES), fh)]
    rows = [r for r in rows if r]
    if not rows:
        raise DataError(f"{path}: file is empty")
    counts = {len(r) for r in rows}
    repeats = any(a[0] == b[0] for a, b in zip(rows, rows[1:]))
    if repeats and counts <= {2, 3} and len(counts) == 1:
        return "pairs"
    if not repeats and (len(counts) > 1 or max(counts) > 3):
        return "lightgcn"
    raise DataError(
        f"{path}: cannot tell LightGCN lines from user-item pairs; call "
        "advrec.data.lgcn.load_lightgcn(folder) or advrec.data.lgcn.load_pairs(folder)"
    )


def load_path(path: Path) -> Dataset:
    """Load ``path`` (a folder or a table file) with the loader its file names call for."""
    if path.is_file():
        if path.suffix.lower() in SEPARATORS or path.suffix.lower() in PARQUET:
            return load_tabular(path)
        raise DataError(f"{path}: unknown file type {path.suffix!r}; use advrec.data.tabular.load_tabular")
    if not path.is_dir():
        raise DataError(f"{path}: no such file or folder")

    def has(*names: str) -> bool:
        return all((path / n).is_file() for n in names)

    name = path.name
    if has("u.data", "u.user", "u.item"):
        return movielens.load_ml100k(path, name=name)
    if has("ML100K.train", "ML100K.test"):
        return movielens.load_cfgan_ml100k(path)
    if has("ratings.dat", "users.dat", "movies.dat"):
        return movielens.load_ml1m(path, name=name)
    if has("ratings.dat"):
        return movielens.load_ml10m(path, name=name)
    if has("users.dat", "movies.dat"):
        return movielens.load_ml1m(path, name=name)  # raises: ratings.dat must be supplied
    if has("ratings.csv"):
        return movielens.load_ml_csv(path, name=name)
    if has("user_artists.dat"):
        return load_lastfm(path, name=name)
    if has("train.txt", "test.txt"):
        if sniff_split_format(path / "train.txt") == "pairs":
            return lgcn.load_pairs(path, name=name)
        return lgcn.load_lightgcn(path, name=name)
    listing = sorted(p.name for p in path.iterdir())[:20]
    raise DataError(
        f"{path}: no known dataset layout (found {listing}); expected u.data, ratings.dat, ratings.csv, "
        "user_artists.dat, ML100K.train or train.txt + test.txt"
    )
