"""Atomic training checkpoints: tensors in safetensors, the rest in JSON (no pickle).

A checkpoint directory holds ``checkpoint-<epoch>.safetensors`` (model tensors,
optimizer state tensors, RNG states) and ``checkpoint.json`` (epoch, early-stopping
state, history, optimizer hyper-parameters, the tensor file's name and sha256).
``checkpoint.json`` is written last and atomically: it is the commit point, so a
crash at any moment leaves either the previous or the new checkpoint, never a mix.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from advrec.errors import ModelFileError
from advrec.utils.io import atomic_path, atomic_write_json, read_json, sha256_file

CHECKPOINT_FILE = "checkpoint.json"
CHECKPOINT_VERSION = 1


@dataclass
class Checkpoint:
    """What a checkpoint holds.

    Attributes
    ----------
    tensors
        Flat name -> tensor map (model, optimizer and RNG tensors, prefixed).
    state
        JSON-serialisable loop state (epoch, best score, history, ...).
    """

    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    state: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(directory: str | Path, ckpt: Checkpoint, epoch: int) -> Path:
    """Write ``ckpt`` into ``directory`` atomically and drop older tensor files.

    Returns
    -------
    pathlib.Path
        The path of ``checkpoint.json``.
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    name = f"checkpoint-{epoch:06d}.safetensors"
    tensors = {k: v.detach().cpu().contiguous() for k, v in ckpt.tensors.items()}
    with atomic_path(d / name) as tmp:
        save_file(tensors, str(tmp), metadata={"format": "advrec-checkpoint"})
    meta = {
        "version": CHECKPOINT_VERSION,
        "tensor_file": name,
        "sha256": sha256_file(d / name),
        "state": ckpt.state,
    }
    atomic_write_json(d / CHECKPOINT_FILE, meta)
    for old in d.glob("checkpoint-*.safetensors"):
        if old.name != name:
            old.unlink(missing_ok=True)
    return d / CHECKPOINT_FILE


def load_checkpoint(directory: str | Path) -> Checkpoint | None:
    """Read the checkpoint in ``directory``; None when there is none.

    Raises
    ------
    ModelFileError
        If the checkpoint is corrupted or of an unknown version.
    """
    d = Path(directory)
    f = d / CHECKPOINT_FILE
    if not f.is_file():
        return None
    meta = read_json(f, "checkpoint metadata")
    if not isinstance(meta, dict) or meta.get("version") != CHECKPOINT_VERSION:
        raise ModelFileError(f"{f}: unsupported checkpoint version (expected {CHECKPOINT_VERSION})")
    tf = d / str(meta.get("tensor_file", ""))
    if not tf.is_file():
        raise ModelFileError(f"{f}: its tensor file {tf.name!r} is missing")
    if sha256_file(tf) != meta.get("sha256"):
        raise ModelFileError(f"{tf}: checksum does not match {f.name}")
    try:
        tensors = load_file(str(tf))
    except (SafetensorError, OSError, ValueError) as exc:
        raise ModelFileError(f"{tf}: cannot read checkpoint tensors ({exc})") from None
    return Checkpoint(tensors=tensors, state=dict(meta.get("state", {})))


# ------------------------------------------------------------------ optimizers
def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Split an optimizer's ``state_dict`` into prefixed tensors and a JSON part."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars: dict[str, dict[str, Any]] = {}
    for pid, st in sd["state"].items():
        for key, val in st.items():
            if isinstance(val, torch.Tensor):
                tensors[f"{prefix}.{pid}.{key}"] = val
            else:
                scalars.setdefault(str(pid), {})[key] = _jsonable(val, f"{prefix}.state.{key}")
    groups = [
        {k: _jsonable(v, f"{prefix}.param_groups.{k}") for k, v in g.items()} for g in sd["param_groups"]
    ]
    return tensors, {"param_groups": groups, "scalars": scalars}


def restore_optimizer(
    prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
) -> None:
    """Load what :func:`flatten_optimizer` produced back into ``opt``."""
    current = opt.state_dict()["param_groups"]
    if len(current) != len(meta["param_groups"]):
        raise ModelFileError(f"checkpoint optimizer {prefix!r}: parameter groups differ")
    groups = []
    for cur, saved in zip(current, meta["param_groups"]):
        groups.append({k: tuple(v) if isinstance(cur.get(k), tuple) else v for k, v in saved.items()})
    state: dict[int, dict[str, Any]] = {}
    head = prefix + "."
    for name, val in tensors.items():
        if name.startswith(head):
            pid, key = name[len(head):].split(".", 1)
            state.setdefault(int(pid), {})[key] = val.clone()  # never share with the source
    for pid, sc in meta["scalars"].items():
        state.setdefault(int(pid), {}).update(sc)
    opt.load_state_dict({"state": state, "param_groups": groups})


def _jsonable(val: Any, where: str) -> Any:
    if val is None or isinstance(val, (bool, int, float, str)):
        return val
    if isinstance(val, (list, tuple)):
        return [_jsonable(v, where) for v in val]
    raise TypeError(f"{where}: cannot checkpoint a {type(val).__name__} without pickle")


# ------------------------------------------------------------------------ RNGs
def rng_tensors(generator: torch.Generator) -> dict[str, torch.Tensor]:
    """States of the global torch RNG and of ``generator`` as uint8 tensors."""
    return {"rng.torch": torch.get_rng_state(), "rng.loop": generator.get_state()}


def rng_json() -> dict[str, Any]:
    """States of Python's and NumPy's global RNGs as JSON values."""
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    py = random.getstate()
    return {
        "numpy": [name, keys.tolist(), int(pos), int(has_gauss), float(gauss)],
        "python": [py[0], list(py[1]), py[2]],
    }


def set_rng(tensors: dict[str, torch.Tensor], state: dict[str, Any], generator: torch.Generator) -> None:
    """Restore every RNG saved by :func:`rng_tensors` and :func:`rng_json`."""
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.loop"])
    name, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((name, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    v, inner, g = state["python"]
    random.setstate((v, tuple(inner), g))
