"""What a run records besides its metrics: versions, machine, device; per-user Parquet files."""

from __future__ import annotations

import platform
from pathlib import Path

import numpy as np
import torch

import advrec
from advrec.utils.io import atomic_write_with


def save_per_user(path: Path, users: np.ndarray, per_user: dict[str, np.ndarray]) -> None:
    """Write per-user metric vectors as Parquet (atomic), for later significance tests."""
    import pandas as pd

    frame = pd.DataFrame({"user": users, **per_user})
    atomic_write_with(path, lambda tmp: frame.to_parquet(tmp, index=False))


def versions() -> dict[str, str]:
    """Versions of advrec, Python and the numeric stack, for result records."""
    import scipy

    return {
        "advrec": advrec.__version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "platform": platform.platform(),
        "machine": machine(),
    }


def device_label(device: torch.device | None) -> str:
    """``"cpu"`` or the CUDA device with its name, e.g. ``"cuda:0 (NVIDIA H200)"``."""
    if device is None or device.type != "cuda":
        return str(device or "cpu")
    return f"{device} ({torch.cuda.get_device_name(device)})"


def machine() -> str:
    """Cores and CPU model, for benchmark tables (e.g. ``"2 cores, AMD EPYC"``)."""
    import os

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    n = torch.get_num_threads()
    return f"{os.cpu_count()} cores, {model}, torch {torch.__version__} ({n} thread{'' if n == 1 else 's'})"
