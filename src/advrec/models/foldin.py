"""Fold-in: scores of users outside the training data, shared by the models that declare ``fold_in``.

Linear and autoencoder models score a new user's interaction row exactly as a training row
(:func:`binary_rows`, :func:`map_row_chunks`). Embedding models (BPR-MF, LightGCN, IRGAN) have
no user vector for a new user; :func:`fit_user_vectors` solves for it with the item side fixed,
minimising the model's own BPR loss over the user's revealed items against all other items::

    f(p) = mean_{i in revealed} mean_{j not revealed} softplus(s_j - s_i) + l2 |p|^2,
    s_i = p . q_i + b_i

``f`` is convex in ``p`` (strictly with ``l2 > 0``). It is minimised full-batch (every
non-revealed item is a negative, nothing is sampled) by Adam from ``p = 0`` with a learning
rate that decays to zero, so the result is deterministic. Adam updates every coordinate on its
own, so a user's vector does not depend on the other users folded in with it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import scipy.sparse as sp
import torch

__all__ = ["FOLD_IN_CELLS", "FOLD_IN_STEPS", "binary_rows", "fit_user_vectors", "fold_in_scores",
           "map_row_chunks", "model_rows", "row_chunks"]

#: floats in one (rows x items) block of fold-in work (64 MB of float32)
FOLD_IN_CELLS = 1 << 24
#: floats of one run of users' (entries x items) gradient work: about 1 MB, so each run stays in
#: cache through its five passes (3-4 times faster than one pass over the whole block)
GRADIENT_CELLS = 1 << 18
#: Adam steps of :func:`fit_user_vectors`. On ML-100K's cold users (3 revealed items each) the
#: objective is then within 1e-5 (relative, mean over users) of a 3000-step solution for BPR-MF
#: (l2 0.005, 256 factors) and LightGCN (l2 0.0006, 64 factors); 300 steps leave 7e-4 for LightGCN.
FOLD_IN_STEPS = 500
#: the largest change of any score that one Adam step may make (the learning rate is this over the
#: largest L1 norm of an item vector: Adam moves every coordinate by about the learning rate)
FOLD_IN_SCORE_STEP = 10.0


def binary_rows(history: sp.csr_matrix) -> sp.csr_matrix:
    """A float32 0/1 copy of interaction rows: 1.0 for every stored non-zero, explicit zeros dropped."""
    rows = sp.csr_matrix(history, dtype=np.float32, copy=True)
    rows.eliminate_zeros()
    rows.data[:] = 1.0
    return rows


def model_rows(history: sp.csr_matrix, binary: bool) -> sp.csr_matrix:
    """The rows a row model scores: :func:`binary_rows` when it learns from 0/1 data, else the raw values."""
    return binary_rows(history) if binary else sp.csr_matrix(history, dtype=np.float32)


def row_chunks(n_rows: int, n_cols: int, cells: int = FOLD_IN_CELLS) -> Iterator[slice]:
    """Consecutive row slices of at most ``cells / n_cols`` rows (at least one row each)."""
    step = max(1, cells // max(n_cols, 1))
    for a in range(0, n_rows, step):
        yield slice(a, min(a + step, n_rows))


def map_row_chunks(rows: sp.csr_matrix, fn: Callable[[sp.csr_matrix], torch.Tensor | np.ndarray],
                   n_out: int, cells: int = FOLD_IN_CELLS) -> torch.Tensor:
    """``fn`` applied to chunks of ``rows`` (bounded by ``cells`` floats of output), stacked.

    Returns
    -------
    torch.Tensor
        ``(rows.shape[0], n_out)`` float32, on the device ``fn`` returns.
    """
    parts = [torch.as_tensor(fn(rows[s]), dtype=torch.float32) for s in row_chunks(rows.shape[0], n_out, cells)]
    if not parts:
        return torch.zeros((0, n_out), dtype=torch.float32)
    return torch.cat(parts)


def fit_user_vectors(history: sp.csr_matrix, items: torch.Tensor, bias: torch.Tensor | None, l2: float, *,
                     steps: int = FOLD_IN_STEPS, cells: int = FOLD_IN_CELLS) -> torch.Tensor:
    """User vectors minimising the BPR loss of each row of ``history`` with the item side fixed.

    Parameters
    ----------
    history
        ``(n, n_items)`` interactions of the new users (non-zero = revealed).
    items
        ``(n_items, d)`` item vectors the model scores with.
    bias
        ``(n_items,)`` item bias added to every score, or None.
    l2
        Weight of ``|p|^2`` (the model's L2 coefficient).
    steps
        Adam steps (each user's vector evolves on its own; blocks of users are solved together).
    cells
        Memory bound: floats of one ``(revealed entries x n_items)`` block (a block holds at least
        one user, so a user with more than ``cells / n_items`` revealed items exceeds it).

    Returns
    -------
    torch.Tensor
        ``(n, d)`` float32 on ``items``' device; users without history get zero vectors.
    """
    q = items.detach().float()
    b = None if bias is None else bias.detach().float()
    rows = binary_rows(history)
    p = torch.zeros((rows.shape[0], q.shape[1]), device=q.device)
    lr = FOLD_IN_SCORE_STEP / max(float(q.abs().sum(1).max()), 1e-12) if len(q) else 0.0
    for users, block in _entry_blocks(rows, q.shape[0], cells, q.device):
        p[users] = _solve_block(block, q, b, l2, steps, lr)
    return p


def _solve_block(block: _Block, q: torch.Tensor, b: torch.Tensor | None, l2: float, steps: int,
                 lr: float) -> torch.Tensor:
    """``steps`` Adam steps from zero on the users of one block, the learning rate decaying linearly to 0.

    Adam (Kingma & Ba 2015, default moments 0.9 / 0.999) written out: a few tensor operations per step.
    """
    beta1, beta2, eps = 0.9, 0.999, 1e-8
    p = torch.zeros((block.n_users, q.shape[1]), device=q.device)
    m, v = torch.zeros_like(p), torch.zeros_like(p)
    for t in range(1, steps + 1):
        grad = _score_gradient(p, q, b, block) @ q + (2.0 * l2) * p
        m.mul_(beta1).add_(grad, alpha=1.0 - beta1)
        v.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
        step = lr * (1.0 - (t - 1) / steps) / (1.0 - beta1**t)
        p.addcdiv_(m, v.div(1.0 - beta2**t).sqrt_().add_(eps), value=-step)
    return p


def fold_in_scores(history: sp.csr_matrix, items: torch.Tensor, bias: torch.Tensor | None, l2: float, *,
                   steps: int = FOLD_IN_STEPS) -> torch.Tensor:
    """Scores ``p_u . q_i (+ b_i)`` of the vectors :func:`fit_user_vectors` solves for."""
    p = fit_user_vectors(history, items, bias, l2, steps=steps)
    s = p @ items.detach().float().T
    return s if bias is None else s + bias.detach().float()


class _Block:
    """The revealed entries of a run of users: local row and item per entry, each user's weight
    ``1 / (|pos| |neg|)`` and, in cache-sized runs of whole users, the (entry, revealed item of the
    same user) pairs, where an entry's pairwise terms are left out (a revealed item is no negative)."""

    def __init__(self, rows: sp.csr_matrix, device: torch.device) -> None:
        deg = np.diff(rows.indptr)
        n_users, n_items = rows.shape
        local = np.repeat(np.arange(n_users), deg)
        self.n_users = n_users
        self.row = torch.from_numpy(local).to(device)
        self.item = torch.from_numpy(rows.indices.astype(np.int64)).to(device)
        self.weight = torch.from_numpy(1.0 / (np.maximum(deg, 1) * np.maximum(n_items - deg, 1))).float().to(device)
        # every entry e of user u against each of u's revealed items: sum(deg^2) pairs
        per_entry = deg[local]
        entry = np.repeat(np.arange(len(local)), per_entry)
        offset = np.arange(len(entry)) - np.repeat(np.cumsum(per_entry) - per_entry, per_entry)
        item = rows.indices[rows.indptr[local][np.repeat(np.arange(len(local)), per_entry)] + offset]
        # cache-sized runs of whole users: (first entry, end entry, first user, end user, the run's
        # pairs as flat positions in its (entries x items) slice; a 1-D fill beats a 2-D index_put_)
        first = rows.indptr[:-1]
        run_of_user = first // max(1, GRADIENT_CELLS // max(n_items, 1))
        starts = np.flatnonzero(np.r_[True, run_of_user[1:] != run_of_user[:-1]]) if n_users else np.zeros(0, int)
        ends = np.r_[starts[1:], n_users]
        cut = np.searchsorted(entry, rows.indptr[np.r_[starts, n_users]] if n_users else [0])
        self.runs = [(int(rows.indptr[u0]), int(rows.indptr[u1]), int(u0), int(u1),
                      torch.from_numpy((entry[a:z] - rows.indptr[u0]) * n_items + item[a:z].astype(np.int64)).to(device))
                     for u0, u1, a, z in zip(starts, ends, cut[:-1], cut[1:])]


def _entry_blocks(rows: sp.csr_matrix, n_items: int, cells: int,
                  device: torch.device) -> Iterator[tuple[torch.Tensor, _Block]]:
    """Runs of users with history whose revealed entries fill at most ``cells / n_items`` rows."""
    deg = np.diff(rows.indptr)
    users = np.flatnonzero(deg > 0)
    budget = max(1, cells // max(n_items, 1))
    start = 0
    while start < len(users):
        ends = np.cumsum(deg[users[start:]])
        stop = start + max(1, int(np.searchsorted(ends, budget, side="right")))
        run = users[start:stop]
        yield torch.from_numpy(run).to(device), _Block(rows[run], device)
        start = stop


def _score_gradient(p: torch.Tensor, q: torch.Tensor, b: torch.Tensor | None, block: _Block) -> torch.Tensor:
    """Gradient of the users' BPR losses with respect to their scores, ``(len(p), n_items)``.

    ``x[e, j] = sigmoid(s_j - s_i)`` (d/dx softplus(x) = sigmoid(x)) is built in place and zeroed
    where ``j`` is one of the user's revealed items; the user's weight multiplies the per-user sums.
    """
    s = p @ q.T
    if b is not None:
        s = s + b
    positive = s[block.row, block.item]
    grad = torch.zeros_like(s)
    row_sums = torch.empty_like(positive)
    for e0, e1, u0, u1, pairs in block.runs:  # runs of whole users whose x fits in cache
        x = s.index_select(0, block.row[e0:e1])
        x.sub_(positive[e0:e1, None]).sigmoid_()
        x.view(-1).index_fill_(0, pairs, 0.0)
        grad[u0:u1].index_add_(0, block.row[e0:e1] - u0, x)
        row_sums[e0:e1] = x.sum(1)
    grad.mul_(block.weight[:, None])
    return grad.index_put_((block.row, block.item), -row_sums * block.weight[block.row], accumulate=True)
