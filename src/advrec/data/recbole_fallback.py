"""Offline ML-100K from the RecBole 1.2.1 wheel on PyPI (the last step before giving up).

RecBole ships ``recbole/dataset_example/ml-100k/ml-100k.{inter,user,item}``
inside its wheel. We fetch the wheel with ``pip download --no-deps`` (never
install it), check its sha256 against the pinned value and read the three
files straight from the zip. ``ml-100k.inter`` holds exactly the ``u.data``
records (same order), so the :class:`Interactions` are identical to those of
the GroupLens files. Differences in the side data: RecBole's titles lack the
``(year)`` suffix, ``release_date``/``video_release_date``/``imdb_url`` are
absent (NaN) and the year comes from RecBole's ``release_year`` column.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from advrec.data.movielens import (
    WHOLE_STARS,
    Ratings,
    ratings_to_interactions,
    read_ratings,
)
from advrec.data.movielens_side import ML100K_GENRES, read_u_user
from advrec.data.parsing import read_table
from advrec.data.record_checks import check_unique
from advrec.data.sources import Dataset
from advrec.errors import DataError
from advrec.utils.io import sha256_file

RECBOLE_VERSION = "1.2.1"
WHEEL_NAME = f"recbole-{RECBOLE_VERSION}-py3-none-any.whl"
WHEEL_SHA256 = "9c9948202011f37eb0a7c6768129313f00d6403ad221ec940d5e2d5d5f33a407"
MEMBER = "recbole/dataset_example/ml-100k/ml-100k"
EXPECTED = (100_000, 943, 1_682)


def fetch_wheel(folder: str | Path, *, timeout: float = 300.0) -> Path:
    """Return the verified RecBole wheel in ``folder``, downloading it with pip if needed.

    Raises
    ------
    DataError
        When pip fails (with its last output lines) or the sha256 differs.
    """
    folder = Path(folder)
    wheel = folder / WHEEL_NAME
    if wheel.is_file():
        if sha256_file(wheel) == WHEEL_SHA256:
            return wheel
        wheel.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".recbole-", dir=folder) as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
               f"recbole=={RECBOLE_VERSION}", "-d", tmp, "--quiet"]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise DataError(f"pip download of recbole=={RECBOLE_VERSION} failed: {exc}") from None
        got = Path(tmp) / WHEEL_NAME
        if proc.returncode != 0 or not got.is_file():
            tail = " ".join((proc.stderr or proc.stdout).strip().splitlines()[-3:])
            raise DataError(f"pip download of recbole=={RECBOLE_VERSION} failed (exit {proc.returncode}): {tail}")
        digest = sha256_file(got)
        if digest != WHEEL_SHA256:
            raise DataError(f"{WHEEL_NAME}: sha256 {digest} does not match the pinned {WHEEL_SHA256}")
        os.replace(got, wheel)
    return wheel


def _read_item(raw: bytes, label: str) -> pd.DataFrame:
    cols = [("id", "int"), ("title", "str"), ("release_year", "str"), ("class", "str")]
    df, first = read_table(raw, cols, sep="\t", label=label,
                           header=["item_id:token", "movie_title:token_seq", "release_year:token", "class:token_seq"])
    check_unique(df["id"], label=label, field="item id", first_line=first)
    flags = df["class"].str.get_dummies(sep=" ")
    unknown = [g for g in flags.columns if g not in ML100K_GENRES]
    if unknown:
        raise DataError(f"{label}: unknown genre {unknown[0]!r}")
    flags = flags.reindex(columns=list(ML100K_GENRES), fill_value=0).astype(np.int8)
    flags.columns = [f"genre:{g}" for g in ML100K_GENRES]
    year = pd.to_numeric(df["release_year"], errors="coerce").astype(np.float64).rename("year")
    out = pd.concat([df[["id", "title"]], year, flags], axis=1)
    for c in ("release_date", "video_release_date", "imdb_url"):
        out[c] = np.nan
    return out.set_index("id")


def load_ml100k_from_wheel(wheel: str | Path, *, duplicates: str = "error") -> Dataset:
    """Build the ``ml-100k`` :class:`Dataset` from the RecBole wheel (zip read in place)."""
    wheel = Path(wheel)
    try:
        with zipfile.ZipFile(wheel) as zf:
            raw = {ext: zf.read(f"{MEMBER}.{ext}") for ext in ("inter", "user", "item")}
    except (zipfile.BadZipFile, KeyError) as exc:
        raise DataError(f"{wheel}: cannot read the ML-100K example files ({exc})") from None
    r = read_ratings(raw["inter"], sep="\t", allowed=WHOLE_STARS, label="ml-100k.inter",
                     header=["user_id:token", "item_id:token", "rating:float", "timestamp:float"])
    users = read_u_user(raw["user"], label="ml-100k.user", sep="\t",
                        header=["user_id:token", "age:token", "gender:token", "occupation:token", "zip_code:token"])
    items = _read_item(raw["item"], "ml-100k.item")
    parts: dict[str, Ratings] = {"all": r}
    inter, _ = ratings_to_interactions("ml-100k", parts, (users, "ml-100k.user"), (items, "ml-100k.item"),
                                       duplicates)
    got = (len(inter), inter.n_users, inter.n_items)
    if got != EXPECTED:
        raise DataError(f"{wheel.name}: expected {EXPECTED} (ratings, users, items), got {got}")
    import hashlib

    files = {WHEEL_NAME: sha256_file(wheel)}
    files.update({f"{MEMBER}.{k}": hashlib.sha256(v).hexdigest() for k, v in raw.items()})
    desc = ("MovieLens 100K (GroupLens) read from the RecBole 1.2.1 wheel: the same 100,000 ratings as "
            "u.data; side data from RecBole's conversion (titles without year, no release dates/URLs).")
    return Dataset("ml-100k", inter, None, {"dir": str(wheel.parent), "files": files,
                                            "origin": "recbole-wheel"}, desc)
