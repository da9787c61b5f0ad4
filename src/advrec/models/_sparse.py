"""Helpers shared by the item-item and factor baselines: training matrices and CSR state."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions


def training_matrix(train: Interactions, binary: bool) -> sp.csr_matrix:
    """The users x items float32 CSR matrix a model learns from.

    Parameters
    ----------
    train
        Training interactions.
    binary
        ``True``: 1.0 for every observed pair; ``False``: the raw values.
    """
    return train.binary_csr if binary else train.csr


def csr_to_state(prefix: str, m: sp.spmatrix) -> dict[str, torch.Tensor]:
    """A CSR matrix as three tensors ``{prefix}.indptr/.indices/.data`` for a state dict."""
    c = sp.csr_matrix(m)
    c.sort_indices()
    return {
        f"{prefix}.indptr": torch.from_numpy(c.indptr.astype(np.int64)),
        f"{prefix}.indices": torch.from_numpy(c.indices.astype(np.int64)),
        f"{prefix}.data": torch.from_numpy(c.data.astype(np.float32)),
    }


def csr_from_state(state: dict[str, torch.Tensor], prefix: str, shape: tuple[int, int]) -> sp.csr_matrix:
    """Rebuild a CSR matrix saved by :func:`csr_to_state`.

    Raises
    ------
    KeyError
        If a part is missing.
    ValueError
        If the parts do not form a valid matrix of ``shape``.
    """
    indptr = state[f"{prefix}.indptr"].numpy()
    indices = state[f"{prefix}.indices"].numpy()
    data = state[f"{prefix}.data"].numpy()
    if len(indptr) != shape[0] + 1 or len(indices) != len(data) or indptr[-1] != len(data):
        raise ValueError(f"{prefix}: CSR parts do not match shape {shape}")
    if len(indices) and (indices.min() < 0 or indices.max() >= shape[1]):
        raise ValueError(f"{prefix}: column index out of range [0, {shape[1]})")
    return sp.csr_matrix((data, indices, indptr), shape=shape, dtype=np.float32)


def dense_rows(m: sp.spmatrix | np.ndarray) -> torch.Tensor:
    """A sparse or dense matrix product result as a contiguous float32 tensor."""
    a = m.toarray() if sp.issparse(m) else np.asarray(m)
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32))


def column_blocks(n_rows: int, n_cols: int, budget: int) -> list[tuple[int, int]]:
    """Split ``range(n_cols)`` into blocks of whole columns.

    Each block's dense ``n_rows x width`` slab has at most ``budget`` cells (at least one column).
    """
    width = max(1, min(n_cols, budget // max(n_rows, 1)))
    return [(a, min(a + width, n_cols)) for a in range(0, n_cols, width)]


def topk_columns(block: np.ndarray, k: int) -> sp.csr_matrix:
    """Keep the ``k`` largest positive entries of every column of a dense block.

    Parameters
    ----------
    block
        ``(n_rows, width)`` dense scores.
    k
        Entries kept per column (capped at ``n_rows``).

    Returns
    -------
    scipy.sparse.csr_matrix
        ``(width, n_rows)`` matrix: row ``c`` holds the kept entries of column ``c``
        (transposed, so blocks stack with :func:`scipy.sparse.vstack`). Ties at
        the cut are broken deterministically by :func:`torch.topk`.
    """
    n_rows, width = block.shape
    k = min(k, n_rows)
    t = torch.from_numpy(np.ascontiguousarray(block.T, dtype=np.float32))
    vals, idx = torch.topk(t, k, dim=1, sorted=False)
    vals_np, idx_np = vals.numpy().ravel(), idx.numpy().ravel().astype(np.int64)
    rows = np.repeat(np.arange(width), k)
    keep = vals_np > 0
    out = sp.csr_matrix(
        (vals_np[keep], (rows[keep], idx_np[keep])), shape=(width, n_rows), dtype=np.float32
    )
    out.sort_indices()
    return out
