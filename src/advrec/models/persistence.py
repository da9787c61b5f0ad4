"""Saving and loading models: ``model.safetensors`` + ``meta.json`` + ``ids.json``, no pickle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import scipy.sparse as sp
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import advrec
from advrec.errors import ConfigError, ModelFileError
from advrec.utils.io import atomic_path, atomic_write_json, read_json

if TYPE_CHECKING:
    from advrec.models.base import Recommender

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
IDS_FILE = "ids.json"


def save_model(model: Recommender, out: Path, extra_meta: dict[str, Any] | None = None) -> Path:
    """Write ``model`` into folder ``out`` (atomic writes); see :meth:`Recommender.save`."""
    model._require_fitted()
    assert model._seen is not None
    tensors = {f"state.{k}": torch.as_tensor(v).detach().cpu().contiguous() for k, v in model._state().items()}
    tensors["seen.indptr"] = torch.from_numpy(model._seen.indptr.astype(np.int64))
    tensors["seen.indices"] = torch.from_numpy(model._seen.indices.astype(np.int64))
    side = _side_features(model)
    for kind, (matrix, _) in side.items():
        tensors[f"features.{kind}"] = torch.from_numpy(np.ascontiguousarray(matrix, dtype=np.float32))
    meta = {
        "format_version": FORMAT_VERSION,
        "model": model.name,
        "config": model.config.model_dump(mode="json"),
        "n_users": model.n_users,
        "n_items": model.n_items,
        "history": model.history,
        "versions": {"advrec": advrec.__version__, "torch": torch.__version__, "numpy": np.__version__},
        "extra": extra_meta or {},
        "privacy": getattr(model, "privacy_", None),  # the DP guarantee of a private fit
    }
    if side:  # column names of the encoded side features (capability side_features)
        meta["side_features"] = {kind: names for kind, (_, names) in side.items()}
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(tensors, str(tmp), metadata={"model": model.name})
    if model.user_ids is not None and model.item_ids is not None:
        ids = {"users": model.user_ids.tolist(), "items": model.item_ids.tolist()}
        atomic_write_json(out / IDS_FILE, ids)
    atomic_write_json(out / META_FILE, meta)
    return out


def load_model(cls: type[Recommender], d: Path) -> Recommender:
    """Read the model saved in folder ``d``; see :meth:`Recommender.load`."""
    from advrec.models import base
    from advrec.models.registry import get_model_class

    meta = read_meta(d)
    saved = meta.get("model")
    if cls is not base.Recommender and saved != cls.name:
        raise ModelFileError(f"{d}: holds a {saved!r} model, not {cls.name!r}")
    klass = get_model_class(str(saved))
    try:
        model = klass(**meta["config"])
    except ConfigError as exc:
        raise ModelFileError(f"{d / META_FILE}: bad config: {exc}") from None
    try:
        tensors = load_file(str(d / WEIGHTS_FILE))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{d / WEIGHTS_FILE}: cannot read weights ({exc})") from None
    n_users, n_items = int(meta["n_users"]), int(meta["n_items"])
    try:
        indptr = tensors.pop("seen.indptr").numpy()
        indices = tensors.pop("seen.indices").numpy()
        seen = sp.csr_matrix(
            (np.ones(len(indices), np.float32), indices, indptr), shape=(n_users, n_items)
        )
        model.n_users, model.n_items, model._seen = n_users, n_items, seen
        model.history = list(meta.get("history", []))
        if meta.get("privacy") is not None:
            model.privacy_ = meta["privacy"]
        _set_side_features(model, meta, tensors)
        model._set_state({k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")})
    except (KeyError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{d}: weights do not match the metadata ({exc})") from None
    model.user_ids, model.item_ids = _read_ids(d, n_users, n_items)
    return model


def _side_features(model: Recommender) -> dict[str, tuple[np.ndarray, list[str]]]:
    """``{"user" / "item": (matrix, column names)}`` of the side features a model read in ``fit``."""
    out = {}
    for kind in ("user", "item"):
        matrix = getattr(model, f"{kind}_features_", None)
        if matrix is not None:
            out[kind] = (np.asarray(matrix), list(getattr(model, f"{kind}_feature_names_", [])))
    return out


def _set_side_features(model: Recommender, meta: dict[str, Any], tensors: dict[str, torch.Tensor]) -> None:
    """Restore what :func:`_side_features` saved (nothing for models without side features)."""
    names = meta.get("side_features") or {}
    if not names and "side_features" not in model.capabilities:
        return
    sizes = {"user": model.n_users, "item": model.n_items}
    for kind in ("user", "item"):
        cols = names.get(kind)
        matrix = tensors.pop(f"features.{kind}", None)
        if (cols is None) != (matrix is None):
            raise ValueError(f"{kind} side features: the names and the matrix must both be saved")
        if matrix is not None and cols is not None and tuple(matrix.shape) != (sizes[kind], len(cols)):
            raise ValueError(f"{kind} side features of shape {tuple(matrix.shape)}, expected "
                             f"({sizes[kind]}, {len(cols)})")
        setattr(model, f"{kind}_features_", None if matrix is None else matrix.numpy())
        setattr(model, f"{kind}_feature_names_", [] if cols is None else [str(c) for c in cols])


def read_meta(path: Path) -> dict[str, Any]:
    """Read and check ``meta.json`` of a saved model directory."""
    f = path / META_FILE
    if not f.is_file():
        raise ModelFileError(f"{path}: not a saved advrec model (no {META_FILE})")
    meta = read_json(f, "metadata")
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{f}: unsupported format (expected format_version {FORMAT_VERSION})")
    for key in ("model", "config", "n_users", "n_items"):
        if key not in meta:
            raise ModelFileError(f"{f}: missing field {key!r}")
    return meta


def _read_ids(path: Path, n_users: int, n_items: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    f = path / IDS_FILE
    if not f.is_file():
        return None, None
    try:
        ids = json.loads(f.read_text(encoding="utf-8"))
        users, items = np.asarray(ids["users"]), np.asarray(ids["items"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{f}: corrupted id vocabulary ({exc})") from None
    if len(users) != n_users or len(items) != n_items:
        raise ModelFileError(f"{f}: {len(users)} users / {len(items)} items, expected {n_users} / {n_items}")
    return users, items
