"""The named-dataset registry: :func:`load_dataset`, :func:`fetch_dataset`, :func:`dataset_info`.

>>> ds = load_dataset("ml-100k-u1")          # doctest: +SKIP
>>> ds.split.train, ds.split.test            # doctest: +SKIP

Files are looked for in an explicit ``path``, then ``$ADVREC_DATA/<folder>``,
then the cache, then downloaded from the publisher (pinned sha256), then a
dataset-specific offline fallback; see :mod:`advrec.data.sources`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from advrec.data import lgcn, movielens
from advrec.data.lastfm import load_lastfm
from advrec.data.sources import (
    Archive,
    Dataset,
    cache_root,
    describe_folder,
    find_folder,
    offline,
)
from advrec.errors import DataError

__all__ = ["Dataset", "DatasetSpec", "dataset_info", "dataset_names", "fetch_dataset", "load_dataset"]

_GL = "https://files.grouplens.org/datasets/movielens"
# sha256 of the publisher zips, as pinned in tensorflow/datasets (url_checksums/movielens.txt).
ML100K_ZIP = Archive(f"{_GL}/ml-100k.zip", "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229",
                     "ml-100k")
ML1M_ZIP = Archive(f"{_GL}/ml-1m.zip", "a6898adb50b9ca05aa231689da44c217cb524e7ebd39d264c56e2832f2c54e20", "ml-1m")
ML10M_ZIP = Archive(f"{_GL}/ml-10m.zip", None, "ml-10M100K")
ML20M_ZIP = Archive(f"{_GL}/ml-20m.zip", "96f243c338a8665f6bcc89c53edf6ee39162a846940de6b7c8c48aeada765ff3",
                    "ml-20m")
ML25M_ZIP = Archive(f"{_GL}/ml-25m.zip", "8b21cfb7eb1706b4ec0aac894368d90acf26ebdfb6aced3ebd4ad5bd1eb9c6aa",
                    "ml-25m")


@dataclass(frozen=True)
class DatasetSpec:
    """How to find and read one named dataset."""

    name: str
    folders: tuple[str, ...]
    required: tuple[str, ...]
    loader: Callable[[Path], Dataset]
    summary: str
    archive: Archive | None = None
    fallback: bool = False  # ML-100K from the RecBole wheel
    hint: str = ""


def _specs() -> dict[str, DatasetSpec]:
    side = ("u.user", "u.item")
    specs = [
        DatasetSpec("ml-100k", ("ml-100k",), ("u.data", *side), movielens.load_ml100k,
                    "MovieLens 100K, ratings 1-5 + demographics + genres", ML100K_ZIP, fallback=True),
        DatasetSpec("ml-100k-cfgan", ("cfgan-ml100k",), ("ML100K.train", "ML100K.test"),
                    movielens.load_cfgan_ml100k, "ML-100K split published with CFGAN (implicit)",
                    hint="These files come with the CFGAN code (CIKM 2018); see shared/data/SOURCES.md."),
        DatasetSpec("ml-1m", ("ml-1m",), ("ratings.dat", "users.dat", "movies.dat"), movielens.load_ml1m,
                    "MovieLens 1M, ratings 1-5 + demographics + genres", ML1M_ZIP,
                    hint="ratings.dat is NOT in shared/data (MovieLens may not be redistributed and the file "
                         "was too large to copy); ml-1m resolves only if you supply ratings.dat yourself."),
        DatasetSpec("ml-1m-lgcn", ("ml-1m/derived-lightgcnpp-implicit",), ("train.txt", "valid.txt", "test.txt"),
                    partial(lgcn.load_lightgcn, name="ml-1m-lgcn", description=(
                        "ML-1M as published by LightGCN++ (RecSys 2024): implicit, re-indexed, fixed "
                        "train/valid/test; no mapping back to MovieLens ids, so no side features.")),
                    "ML-1M implicit LightGCN++ split (train/valid/test)"),
        DatasetSpec("ml-10m", ("ml-10m", "ml-10M100K"), ("ratings.dat",), movielens.load_ml10m,
                    "MovieLens 10M, half-star ratings", ML10M_ZIP),
        DatasetSpec("ml-20m", ("ml-20m",), ("ratings.csv",), partial(movielens.load_ml_csv, name="ml-20m"),
                    "MovieLens 20M, half-star ratings", ML20M_ZIP),
        DatasetSpec("ml-25m", ("ml-25m",), ("ratings.csv",), partial(movielens.load_ml_csv, name="ml-25m"),
                    "MovieLens 25M, half-star ratings", ML25M_ZIP),
        DatasetSpec("lastfm-2k", ("lastfm-hetrec2011", "hetrec2011-lastfm-2k"), ("user_artists.dat",),
                    load_lastfm, "HetRec 2011 Last.fm play counts + friends + tags",
                    hint="Get hetrec2011-lastfm-2k.zip from the GroupLens HetRec 2011 page and unzip it."),
        DatasetSpec("gowalla", ("gowalla",), ("train.txt", "valid.txt", "test.txt"),
                    partial(lgcn.load_lightgcn, name="gowalla", description=(
                        "Gowalla check-ins (Cho et al., KDD 2011), LightGCN split re-split into "
                        "train/valid/test by LightGCN++; implicit.")),
                    "Gowalla check-ins, LightGCN split (train/valid/test)"),
        DatasetSpec("amazon-beauty", ("amazon-beauty",), ("train.txt", "valid.txt", "test.txt"),
                    partial(lgcn.load_pairs, name="amazon-beauty", description=(
                        "Amazon Beauty reviews as implicit feedback (SELFRec split from LightGCN++): "
                        "fixed train/valid/test; valid/test contain items absent from train.")),
                    "Amazon Beauty implicit pairs (train/valid/test)"),
    ]
    for fold in movielens.ML100K_FOLDS:
        specs.append(DatasetSpec(
            f"ml-100k-{fold}", ("ml-100k",), (f"{fold}.base", f"{fold}.test", *side),
            partial(movielens.load_ml100k_fold, fold=fold), f"MovieLens 100K published fold {fold}",
            ML100K_ZIP))
    specs.append(DatasetSpec(
        "ml-100k-u1-pos4", ("ml-100k",), ("u1.base", "u1.test", *side),
        partial(movielens.load_ml100k_positives, fold="u1", threshold=4.0),
        "MovieLens 100K fold u1, ratings >= 4 as positives (IRGAN protocol)", ML100K_ZIP))
    return {s.name: s for s in specs}


REGISTRY: dict[str, DatasetSpec] = _specs()


def dataset_names() -> list[str]:
    """Sorted names accepted by :func:`load_dataset`."""
    return sorted(REGISTRY)


def _spec(name: str) -> DatasetSpec:
    if name not in REGISTRY:
        raise DataError(f"unknown dataset {name!r}; known names: {', '.join(dataset_names())}")
    return REGISTRY[name]


def _with_origin(ds: Dataset, name: str, origin: str) -> Dataset:
    return replace(ds, name=name, source={**ds.source, "origin": origin})


def load_dataset(name_or_path: str, *, path: str | None = None) -> Dataset:
    """Load a registered dataset by name, or a dataset folder/file by path.

    Parameters
    ----------
    name_or_path
        A name from :func:`dataset_names`, or a path (format auto-detected, see
        :func:`advrec.data.autodetect.load_path`).
    path
        With a name: read the files from this folder and nowhere else.

    Raises
    ------
    DataError
        Naming every place looked at and how to provide the files.
    """
    from advrec.data.autodetect import load_path
    if name_or_path not in REGISTRY:
        if path is None and Path(name_or_path).expanduser().exists():
            return load_path(Path(name_or_path).expanduser())
        if path is None:
            raise DataError(f"{name_or_path!r} is neither a known dataset ({', '.join(dataset_names())}) "
                            "nor an existing path")
    spec = _spec(name_or_path)
    if path is not None:
        folder = Path(path).expanduser()
        why = describe_folder(folder, spec.required)
        if why is not None:
            raise DataError(f"dataset {spec.name!r} from path=: {why}. {spec.hint}".strip())
        return _with_origin(spec.loader(folder), spec.name, "path")
    tried: list[str] = []
    found = find_folder(spec.folders, spec.required, spec.archive, tried)
    if found is not None:
        return _with_origin(spec.loader(found[0]), spec.name, found[1])
    if spec.fallback:
        wheel = _recbole_wheel(tried)
        if wheel is not None:
            from advrec.data.recbole_fallback import load_ml100k_from_wheel

            return load_ml100k_from_wheel(wheel)
    raise DataError(not_found_message(spec, tried))


def fetch_dataset(name: str) -> Path:
    """Make the files of ``name`` available locally and return their folder.

    For ``ml-100k`` resolved through the RecBole fallback, the folder holds the
    verified wheel, which :func:`load_dataset` reads in place.
    """
    spec = _spec(name)
    tried: list[str] = []
    found = find_folder(spec.folders, spec.required, spec.archive, tried)
    if found is not None:
        return found[0]
    if spec.fallback:
        wheel = _recbole_wheel(tried)
        if wheel is not None:
            return wheel.parent
    raise DataError(not_found_message(spec, tried))


def _recbole_wheel(tried: list[str]) -> Path | None:
    from advrec.data.recbole_fallback import RECBOLE_VERSION, WHEEL_NAME, fetch_wheel
    folder = cache_root() / f"recbole-{RECBOLE_VERSION}"
    if offline() and not (folder / WHEEL_NAME).is_file():
        tried.append(f"RecBole wheel ({folder / WHEEL_NAME}): not cached, pip download skipped (ADVREC_OFFLINE)")
        return None
    try:
        return fetch_wheel(folder)
    except DataError as exc:
        tried.append(f"RecBole wheel: {exc}")
        return None


def not_found_message(spec: DatasetSpec, tried: list[str]) -> str:
    """The single error text when no location holds the files of ``spec``."""
    lines = [f"dataset {spec.name!r} ({spec.summary}) was not found. Looked in:"]
    lines += [f"  - {t}" for t in tried]
    if spec.hint:
        lines.append(f"Note: {spec.hint}")
    how = (f"To provide it: put {', '.join(spec.required)} in $ADVREC_DATA/{spec.folders[0]} "
           f"(set ADVREC_DATA to a folder of datasets) or in {cache_root() / spec.folders[0]}")
    if spec.archive is not None:
        how += (f"; or place {spec.archive.filename} ({spec.archive.url}) in {cache_root()} "
                "and it will be verified and extracted")
    how += (f"; or call load_dataset({spec.name!r}, path='/folder/with/the/files'); files of your own are read "
            "with advrec train MODEL --train FILE --test FILE (or --data FILE).")
    lines.append(how)
    return "\n".join(lines)


def dataset_info(ds: Dataset) -> dict[str, Any]:
    """Counts, density, value range, timestamps, feature columns, split summary and checksums."""
    import numpy as np

    inter = ds.interactions
    n = len(inter)
    vals = inter.values
    distinct, counts = np.unique(vals, return_counts=True)
    value: dict[str, Any] = {
        "min": float(vals.min()) if n else None,
        "max": float(vals.max()) if n else None,
        "mean": float(vals.astype(np.float64).mean()) if n else None,
        "distinct": len(distinct),
        "implicit": bool(n and len(distinct) == 1 and distinct[0] == 1.0),
    }
    if len(distinct) <= 20:
        value["histogram"] = {float(v): int(c) for v, c in zip(distinct, counts)}
    ts = inter.timestamps
    return {
        "name": ds.name,
        "description": ds.description,
        "records": n,
        "users": inter.n_users,
        "items": inter.n_items,
        "active_users": len(inter.active_users()),
        "active_items": len(inter.active_items()),
        "density": n / max(inter.n_users * inter.n_items, 1),
        "values": value,
        "timestamps": ts is not None,
        "time_range": [int(ts.min()), int(ts.max())] if ts is not None and n else None,
        "user_features": [] if inter.user_features is None else list(inter.user_features.columns),
        "item_features": [] if inter.item_features is None else list(inter.item_features.columns),
        "tables": {k: len(v) for k, v in ds.tables.items()},
        "split": None if ds.split is None else ds.split.summary(),
        "source": ds.source,
        "checksum": inter.checksum(),
    }
