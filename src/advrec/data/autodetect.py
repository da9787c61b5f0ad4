"""Load a dataset from a folder or file whose format is recognised by its file names.

Folders: ``u.data`` (ML-100K), ``ML100K.train`` (CFGAN split), ``ratings.dat``
with ``users.dat`` (ML-1M) or without (ML-10M), ``ratings.csv`` (ML-20M/25M),
``user_artists.dat`` (Last.fm), ``train.txt`` + ``test.txt`` (LightGCN lines or
pair files, told apart by their first lines), or one ``X.train`` (or ``X.base``) +
``X.test`` [+ ``X.valid``] fixed split of any name. Files: Parquet, CSV/TSV with a header, and any
other interaction file whose layout :mod:`advrec.data.sniff` recognises.
"""

from __future__ import annotations

from pathlib import Path

from advrec.data import lgcn, movielens
from advrec.data.lastfm import load_lastfm
from advrec.data.owndata import FileOptions, load_own_file, load_own_split
from advrec.data.sniff import SAMPLE_LINES, guess_sep, looks_like_header, sample, user_lines_or_pairs
from advrec.data.sources import Dataset
from advrec.data.tabular import PARQUET, SEPARATORS, load_tabular
from advrec.errors import DataError


def sniff_split_format(path: Path) -> str:
    """``"lightgcn"`` or ``"pairs"`` from the first lines of a ``train.txt``.

    Pair files repeat users (sorted or not) and have 2 or 3 fields; LightGCN files
    list each user once with a varying number of items. A malformed line among the
    first lines is reported with its line number.
    """
    with open(path, "rb") as fh:
        raw = b"".join(line for _, line in zip(range(SAMPLE_LINES), fh))
    rows = [(n, t.split()) for n, t in sample(raw, str(path))]
    kind = user_lines_or_pairs(rows, str(path))
    if kind is None:
        raise DataError(
            f"{path}: cannot tell LightGCN lines from user-item pairs (every line has 3 integer fields and no "
            "user repeats); on the command line pass --train/--test with --columns user,items (LightGCN) or "
            "--columns user,item,rating (pairs); in Python call advrec.data.lgcn.load_lightgcn(folder) or "
            "advrec.data.lgcn.load_pairs(folder)"
        )
    return "pairs" if kind == "pairs" else "lightgcn"


def _fixed_split_files(path: Path) -> tuple[Path, Path, Path | None, Path | None] | None:
    """``X.train`` (or ``X.base``) + ``X.test`` [+ ``X.valid``] [+ ``X.generated``, records a generator
    added to train] when the folder holds exactly one such pair."""
    stems = sorted({f.stem for f in path.iterdir() if f.suffix in (".train", ".base")
                    and f.with_suffix(".test").is_file()})
    if len(stems) != 1:
        return None
    train = next(f for f in (path / f"{stems[0]}.train", path / f"{stems[0]}.base") if f.is_file())
    valid, generated = (path / f"{stems[0]}.{part}" for part in ("valid", "generated"))
    return (train, path / f"{stems[0]}.test", valid if valid.is_file() else None,
            generated if generated.is_file() else None)


def load_path(path: Path, options: FileOptions | None = None) -> Dataset:
    """Load ``path`` (a folder or a file) with the loader its file names call for.

    A file is read with :func:`advrec.data.owndata.load_own_file` (layout sniffed,
    ``options`` applied), except Parquet files and, without options, CSV/TSV files
    with a header, which :func:`advrec.data.tabular.load_tabular` reads as before.
    """
    if path.is_file():
        suffix = path.suffix.lower()
        if suffix in PARQUET:
            return load_tabular(path, duplicates=(options or FileOptions()).duplicates)
        if options is None and suffix in SEPARATORS and _has_header(path):
            return load_tabular(path)
        return load_own_file(path, options or FileOptions())
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
    fixed = _fixed_split_files(path)
    if fixed is not None:
        return load_own_split(*fixed, options=options or FileOptions())
    listing = sorted(p.name for p in path.iterdir())[:20]
    raise DataError(
        f"{path}: no known dataset layout (found {listing}); expected u.data, ratings.dat, ratings.csv, "
        "user_artists.dat, ML100K.train, train.txt + test.txt or X.train + X.test; for files of other names "
        "pass --train FILE --test FILE (or give one file with --data FILE)"
    )


def _has_header(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(1 << 16)
    lines = sample(head, path.name)
    sep = SEPARATORS.get(path.suffix.lower()) or guess_sep(lines)
    fields = [t.split() if sep is None else t.split(sep) for _, t in lines[:2]]
    return looks_like_header(fields[0], fields[1] if len(fields) > 1 else None)
