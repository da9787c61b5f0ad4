"""Save and load a :class:`Split` as Parquet files plus a checksummed manifest.

Layout of a split directory::

    manifest.json          format, spec, seed, counts, meta and the sha256 of every file
    train.parquet ...      one file per part: users, items, values[, timestamps] (indices)
    user_ids.parquet       the id vocabularies (column ``id``)
    item_ids.parquet
    cold_users.parquet     index arrays of the cold sets (column ``index``), when present
    user_features.parquet  side tables, when present

The directory is written under a temporary name next to the destination and
renamed into place, so a reader never sees a half-written split.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from advrec.data.interactions import Interactions
from advrec.data.splits.split import Split
from advrec.errors import DataError
from advrec.utils.io import atomic_write_json, sha256_file

FORMAT = "advrec-split"
VERSION = 1
MANIFEST = "manifest.json"
PARTS = ("train", "valid", "test", "revealed", "valid_revealed", "generated")
INDEX_SETS = ("cold_users", "cold_items", "valid_cold_users", "valid_cold_items")


def _write_table(path: Path, columns: dict[str, np.ndarray]) -> None:
    try:
        pq.write_table(pa.table({k: pa.array(v) for k, v in columns.items()}), path)
    except (pa.ArrowException, TypeError, ValueError) as exc:
        raise DataError(f"cannot write {path.name}: {exc}") from exc


def _write_files(split: Split, tmp: Path) -> dict[str, Any]:
    """Write every file of ``split`` into ``tmp``; return the manifest (without checksums)."""
    train = split.train
    parts: dict[str, Any] = {}
    for label in PARTS:
        part: Interactions | None = getattr(split, label)
        if part is None:
            continue
        cols = {"users": part.users, "items": part.items, "values": part.values}
        if part.timestamps is not None:
            cols["timestamps"] = part.timestamps
        _write_table(tmp / f"{label}.parquet", cols)
        parts[label] = {"file": f"{label}.parquet", "name": part.name, "records": len(part)}
    vocab: dict[str, Any] = {}
    for label, ids in (("user_ids", train.user_ids), ("item_ids", train.item_ids)):
        _write_table(tmp / f"{label}.parquet", {"id": ids})
        vocab[label] = {"file": f"{label}.parquet", "dtype": ids.dtype.str}
    sets: dict[str, str] = {}
    for label in INDEX_SETS:
        arr = getattr(split, label)
        if arr is not None:
            _write_table(tmp / f"{label}.parquet", {"index": np.asarray(arr, np.int64)})
            sets[label] = f"{label}.parquet"
    features: dict[str, str] = {}
    for label in ("user_features", "item_features"):
        df: pd.DataFrame | None = getattr(train, label)
        if df is not None:
            try:
                df.reset_index(drop=True).to_parquet(tmp / f"{label}.parquet", index=False)
            except (pa.ArrowException, TypeError, ValueError) as exc:
                raise DataError(f"cannot write {label}.parquet: {exc}") from exc
            features[label] = f"{label}.parquet"
    return {
        "format": FORMAT,
        "version": VERSION,
        "name": split.name,
        "spec": split.meta.get("spec", split.name),
        "seed": split.meta.get("seed"),
        "dataset": train.name,
        "n_users": split.n_users,
        "n_items": split.n_items,
        "parts": parts,
        "vocab": vocab,
        "index_sets": sets,
        "features": features,
        "counts": split.summary(),
        "meta": split.meta,
    }


def _is_split_dir(path: Path) -> bool:
    if not any(path.iterdir()):
        return True
    try:
        return json.loads((path / MANIFEST).read_text("utf-8")).get("format") == FORMAT
    except (OSError, ValueError, AttributeError):
        return False


def save_split(split: Split, directory: str | os.PathLike[str]) -> Path:
    """Write ``split`` to ``directory`` (see the module docstring for the layout).

    An existing split directory (or an empty one) at ``directory`` is replaced;
    any other existing path is refused.

    Returns
    -------
    Path
        The directory written.

    Raises
    ------
    DataError
        If ``directory`` exists and is not a split directory, or a part cannot
        be written (e.g. side features with unsupported column types).
    """
    dest = Path(directory)
    if dest.exists() and not (dest.is_dir() and _is_split_dir(dest)):
        raise DataError(
            f"{dest}: exists and is not an advrec split directory; refusing to overwrite"
        )
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent))
    try:
        manifest = _write_files(split, tmp)
        manifest["files"] = {
            f.name: {"sha256": sha256_file(f), "bytes": f.stat().st_size}
            for f in sorted(tmp.iterdir())
        }
        atomic_write_json(tmp / MANIFEST, manifest)
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.replace(dest, old / "split")
            os.replace(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, dest)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return dest


def _read_table(directory: Path, name: str) -> pa.Table:
    try:
        return pq.read_table(directory / name)
    except (OSError, pa.ArrowException) as exc:
        raise DataError(f"{directory / name}: unreadable Parquet file ({exc})") from exc


def _column(table: pa.Table, col: str, where: Path) -> np.ndarray:
    if col not in table.column_names:
        raise DataError(f"{where}: missing column {col!r}")
    return table.column(col).to_numpy(zero_copy_only=False)


def _load_manifest(d: Path) -> dict[str, Any]:
    path = d / MANIFEST
    if not path.is_file():
        raise DataError(f"{path}: missing split manifest")
    try:
        manifest = json.loads(path.read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: unreadable manifest ({exc})") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{path}: not an advrec split manifest")
    if manifest.get("version") != VERSION:
        raise DataError(
            f"{path}: split format version {manifest.get('version')!r}, expected {VERSION}"
        )
    for name, info in manifest.get("files", {}).items():
        f = d / name
        if not f.is_file():
            raise DataError(f"{f}: file listed in the manifest is missing")
        if sha256_file(f) != info.get("sha256"):
            raise DataError(f"{f}: sha256 does not match the manifest (file changed or corrupted)")
    return manifest


def load_split(directory: str | os.PathLike[str]) -> Split:
    """Read a split written by :func:`save_split`, verifying every checksum first.

    Raises
    ------
    DataError
        Naming the file that is missing, unreadable or whose sha256 differs
        from the manifest.
    """
    d = Path(directory)
    m = _load_manifest(d)
    listed = set(m.get("files", {}))
    needed = [p["file"] for p in m["parts"].values()] + [v["file"] for v in m["vocab"].values()]
    needed += list(m["index_sets"].values()) + list(m["features"].values())
    for name in needed:
        if name not in listed:
            raise DataError(f"{d / MANIFEST}: {name} is not covered by a checksum")
    ids = {}
    for label, info in m["vocab"].items():
        ids[label] = _column(_read_table(d, info["file"]), "id", d / info["file"])
        if ids[label].dtype != np.dtype(info["dtype"]):
            ids[label] = ids[label].astype(np.dtype(info["dtype"]))
    feats = {}
    for label, name in m["features"].items():
        feats[label] = _read_table(d, name).to_pandas()
    parts: dict[str, Interactions] = {}
    for label, info in m["parts"].items():
        t = _read_table(d, info["file"])
        where = d / info["file"]
        parts[label] = Interactions(
            users=_column(t, "users", where),
            items=_column(t, "items", where),
            values=_column(t, "values", where),
            user_ids=ids["user_ids"],
            item_ids=ids["item_ids"],
            timestamps=_column(t, "timestamps", where) if "timestamps" in t.column_names else None,
            user_features=feats.get("user_features"),
            item_features=feats.get("item_features"),
            name=info["name"],
        )
    sets = {
        label: _column(_read_table(d, name), "index", d / name).astype(np.int64)
        for label, name in m["index_sets"].items()
    }
    if "train" not in parts or "test" not in parts:
        raise DataError(f"{d / MANIFEST}: the manifest lists no train or test part")
    return Split(**parts, **sets, name=m["name"], meta=m.get("meta", {}))
