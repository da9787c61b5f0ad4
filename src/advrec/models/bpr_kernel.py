"""Compiled per-triple SGD epochs of BPR-MF and APR (numba).

One call runs one epoch: every training pair ``(u, i)`` once, in a given order,
each with a negative item ``j`` drawn uniformly inside the kernel and rejected
while it is one of ``u``'s items: one bit of a users x items bitmap when that
fits in :data:`BITMAP_MAX_BYTES`, else a binary search in the user's sorted CSR
row, as Cornac does (the same draws and decisions either way). Each triple takes one SGD step on the per-triple loss::

    softplus(-x) + reg_adv * softplus(-x_adv) + l2 * (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2)

with ``x = p_u . (q_i - q_j) + b_i - b_j``. ``x_adv`` is ``x`` at the embeddings
moved by the APR perturbation (He et al., SIGIR 2018) of this triple: each
embedding row involved moves by ``eps`` times the L2-normalised gradient of
``softplus(-x)`` with respect to that row, held constant in the update. All
gradients are in closed form, in float32 like the embeddings (mixing in float64
scalars would convert every element); the step reads the old values of the
triple's rows and writes them back once. Each epoch starts by copying the pairs
into work buffers and shuffling them there (Fisher-Yates, seeded), so the loop
reads them sequentially; doing that in compiled code rather than as a NumPy
permutation and gather halves the time an epoch spends outside the SGD loop.

With ``threads == 1`` the epoch is a plain loop and the result is a function of
the inputs (bit-reproducible). With more threads the pairs are cut into one chunk
per thread (each shuffled within itself, so a thread always gets the same slice of
the pairs, in a new order every epoch), run at the same time on shared arrays
without locks (Hogwild, as Cornac's BPR does): updates of different threads may
interleave, so such runs are not bit-reproducible.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit, prange

__all__ = ["BITMAP_MAX_BYTES", "LOSS_STRIDE", "seen_bitmap", "sgd_epoch"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2 ** -53
#: the epoch's loss is the mean over every LOSS_STRIDE-th triple of each chunk (an unbiased
#: sample: the triples come in random order); the exact mean would cost ~15 % of an epoch
LOSS_STRIDE = 8
#: the largest users x items bitmap of seen pairs built for the negative sampling (8 MiB: ML-1M
#: takes 2.7 MiB; Gowalla's would take 146 MiB and keeps the binary search)
BITMAP_MAX_BYTES = 1 << 23


@njit(inline="always")
def _splitmix(state: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - compiled
    """Next state and output of the SplitMix64 generator."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@njit(inline="always")
def _contains(indices: np.ndarray, lo: int, hi: int, j: int) -> bool:  # pragma: no cover - compiled
    """Whether ``j`` is in the sorted slice ``indices[lo:hi]``."""
    while lo < hi:
        mid = (lo + hi) >> 1
        v = indices[mid]
        if v == j:
            return True
        if v < j:
            lo = mid + 1
        else:
            hi = mid
    return False


@njit(nogil=True, cache=True)
def _fill_bitmap(indptr: np.ndarray, indices: np.ndarray, bits: np.ndarray) -> None:  # pragma: no cover - compiled
    for u in range(indptr.shape[0] - 1):
        for k in range(indptr[u], indptr[u + 1]):
            j = indices[k]
            bits[u, j >> 3] |= np.uint8(1) << np.uint8(j & 7)


def seen_bitmap(indptr: np.ndarray, indices: np.ndarray, n_items: int) -> np.ndarray:
    """``(n_users, ceil(n_items / 8))`` uint8 bitmap of the CSR's pairs (bit ``j % 8`` of byte
    ``j // 8`` in row ``u``), or an empty ``(0, 0)`` array when it would exceed
    :data:`BITMAP_MAX_BYTES` (the kernel then searches the CSR rows)."""
    rows, width = len(indptr) - 1, (int(n_items) + 7) >> 3
    if rows * width > BITMAP_MAX_BYTES:
        return np.zeros((0, 0), np.uint8)
    bits = np.zeros((rows, width), np.uint8)
    _fill_bitmap(indptr, indices, bits)
    return bits


@njit(inline="always")
def _seen(bits: np.ndarray, indices: np.ndarray, u: int, lo: int, hi: int, j: int) -> bool:  # pragma: no cover
    """Whether user ``u`` (CSR slice ``indices[lo:hi]``) has item ``j``: the bitmap when there is one."""
    if bits.shape[0] > 0:
        return ((bits[u, j >> 3] >> (j & 7)) & 1) != 0
    return _contains(indices, lo, hi, j)


@njit(inline="always")
def _bpr_terms(x: float, want: bool) -> tuple[float, float]:  # pragma: no cover - compiled
    """``softplus(-x)`` (0 unless ``want``) and its derivative ``-sigmoid(-x)``, from one exponential."""
    e = math.exp(-abs(x))
    if x >= 0:
        return (math.log1p(e) if want else 0.0), -e / (1.0 + e)
    return (-x + math.log1p(e) if want else 0.0), -1.0 / (1.0 + e)


@njit(fastmath=True, inline="always")
def _step(U: np.ndarray, V: np.ndarray, b: np.ndarray, u: int, i: int, j: int, lr: float, l2: float,
          eps: float, reg_adv: float, want: bool) -> float:  # pragma: no cover - compiled
    """One SGD step on triple ``(u, i, j)``; returns the triple's loss before the step if
    ``want`` (else 0: the loss costs a logarithm and three squared norms)."""
    d = U.shape[1]
    lr = np.float32(lr)
    l2 = np.float32(l2)
    eps = np.float32(eps)
    reg_adv = np.float32(reg_adv)
    pu, qi, qj = U[u], V[i], V[j]
    has_bias = b.shape[0] > 0
    adv = reg_adv > 0.0
    x = np.float32(0.0)  # p_u . (q_i - q_j)
    sq = np.float32(0.0)
    nd = np.float32(0.0)  # |q_i - q_j|^2
    npu = np.float32(0.0)  # |p_u|^2
    if adv:
        for f in range(d):
            diff = qi[f] - qj[f]
            x += pu[f] * diff
            sq += qi[f] * qi[f] + qj[f] * qj[f]
            nd += diff * diff
            npu += pu[f] * pu[f]
        sq += npu
    elif want:
        for f in range(d):
            x += pu[f] * (qi[f] - qj[f])
            sq += pu[f] * pu[f] + qi[f] * qi[f] + qj[f] * qj[f]
    else:
        for f in range(d):
            x += pu[f] * (qi[f] - qj[f])
    bi = b[i] if has_bias else np.float32(0.0)
    bj = b[j] if has_bias else np.float32(0.0)
    loss, gx64 = _bpr_terms(x + bi - bj, want)
    gx = np.float32(gx64)  # gx = d softplus(-x) / dx < 0
    loss += l2 * (sq + bi * bi + bj * bj)
    ga = np.float32(0.0)
    cu = np.float32(0.0)  # delta_u = cu * (q_i - q_j)
    cq = np.float32(0.0)  # delta_i = cq * p_u = -delta_j
    if adv:
        if eps > 0.0 and gx != 0.0:
            # the rows' gradients are gx (q_i - q_j), gx p_u and -gx p_u: normalised, with gx < 0
            cu = -eps / math.sqrt(nd) if nd > 0.0 else 0.0
            cq = -eps / math.sqrt(npu) if npu > 0.0 else 0.0
        # (p_u + cu (q_i - q_j)) . (q_i - q_j + 2 cq p_u), expanded
        xa = x + 2.0 * cq * npu + cu * nd + 2.0 * cu * cq * x
        la, ga64 = _bpr_terms(xa + bi - bj, want)
        ga = np.float32(ga64)
        loss += reg_adv * la
        ga *= reg_adv
    r = np.float32(2.0) * l2
    if not adv:  # plain BPR: the short update
        for f in range(d):
            p, a, c = pu[f], qi[f], qj[f]
            pu[f] = p - lr * (gx * (a - c) + r * p)
            qi[f] = a - lr * (gx * p + r * a)
            qj[f] = c - lr * (r * c - gx * p)
    else:  # the same rule with the per-triple scalars folded: four multiply-adds per row element
        s1 = lr * (gx + ga)  # on q_i - q_j (user row) and on p_u (item rows)
        s2 = lr * ga * cu  # on q_i - q_j (item rows)
        keep_u = np.float32(1.0) - lr * (np.float32(2.0) * ga * cq + r)  # p_u's own factor
        keep_q = np.float32(1.0) - lr * r
        for f in range(d):
            p, a, c = pu[f], qi[f], qj[f]
            diff = a - c
            g = s1 * p + s2 * diff
            pu[f] = keep_u * p - s1 * diff
            qi[f] = keep_q * a - g
            qj[f] = keep_q * c + g
    if has_bias:
        b[i] = bi - lr * (gx + ga + r * bi)
        b[j] = bj - lr * (r * bj - gx - ga)
    return loss


@njit(nogil=True, cache=True)
def _shuffle_into(users: np.ndarray, items: np.ndarray, out_users: np.ndarray, out_items: np.ndarray,
                  start: int, stop: int, seed: np.uint64) -> None:  # pragma: no cover - compiled
    """``out_*[start:stop] = *[start:stop]`` in a uniformly random order (Fisher-Yates, splitmix64)."""
    out_users[start:stop] = users[start:stop]
    out_items[start:stop] = items[start:stop]
    state = seed
    for k in range(stop - 1, start, -1):
        state, z = _splitmix(state)
        r = start + int((z >> np.uint64(11)) * _TO_UNIT * (k - start + 1))
        out_users[k], out_users[r] = out_users[r], out_users[k]
        out_items[k], out_items[r] = out_items[r], out_items[k]


@njit(nogil=True, parallel=True, cache=True)
def _shuffle_chunks(users: np.ndarray, items: np.ndarray, out_users: np.ndarray, out_items: np.ndarray,
                    n_chunks: int, seed: np.uint64) -> None:  # pragma: no cover - compiled
    """:func:`_shuffle_into` on each of the ``n_chunks`` slices that :func:`_run_hogwild` runs, at once."""
    n = users.shape[0]
    for c in prange(n_chunks):
        _shuffle_into(users, items, out_users, out_items, c * n // n_chunks, (c + 1) * n // n_chunks,
                      seed + np.uint64(c) * _MIX2)


@njit(fastmath=True, nogil=True, cache=True)
def _run(U: np.ndarray, V: np.ndarray, b: np.ndarray, indptr: np.ndarray, indices: np.ndarray, bits: np.ndarray,
         users: np.ndarray, items: np.ndarray, start: int, stop: int, seed: np.uint64,
         lr: float, l2: float, eps: float, reg_adv: float) -> float:  # pragma: no cover - compiled
    """Triples ``start:stop`` of ``users`` / ``items`` in sequence; the sum of the losses of every
    :data:`LOSS_STRIDE`-th triple (the first included)."""
    n_items = V.shape[0]
    state = seed
    total = 0.0
    for k in range(start, stop):
        want = (k - start) % LOSS_STRIDE == 0
        u = users[k]
        lo, hi = indptr[u], indptr[u + 1]
        while True:
            state, z = _splitmix(state)
            j = int((z >> np.uint64(11)) * _TO_UNIT * n_items)
            if not _seen(bits, indices, u, lo, hi, j):
                break
        loss = _step(U, V, b, u, items[k], j, lr, l2, eps, reg_adv, want)
        if want:
            total += loss
    return total


@njit(fastmath=True, nogil=True, parallel=True, cache=True)
def _run_hogwild(U: np.ndarray, V: np.ndarray, b: np.ndarray, indptr: np.ndarray, indices: np.ndarray,
                 bits: np.ndarray, users: np.ndarray, items: np.ndarray, n_chunks: int, seed: np.uint64,
                 lr: float, l2: float, eps: float, reg_adv: float) -> float:  # pragma: no cover - compiled
    """:func:`_run` on ``n_chunks`` slices of the triples at once, lock-free."""
    totals = np.zeros(n_chunks)
    n = users.shape[0]
    for c in prange(n_chunks):
        s = seed + np.uint64(c) * _MIX1
        totals[c] = _run(U, V, b, indptr, indices, bits, users, items, c * n // n_chunks,
                         (c + 1) * n // n_chunks, s, lr, l2, eps, reg_adv)
    return totals.sum()


def sgd_epoch(
    user_emb: np.ndarray,
    item_emb: np.ndarray,
    item_bias: np.ndarray | None,
    indptr: np.ndarray,
    indices: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    seed: int,
    lr: float,
    l2: float,
    eps: float = 0.0,
    reg_adv: float = 0.0,
    threads: int = 1,
    work: tuple[np.ndarray, np.ndarray] | None = None,
    bits: np.ndarray | None = None,
) -> float:
    """One epoch of per-triple SGD, updating the arrays in place.

    Parameters
    ----------
    user_emb, item_emb
        ``(n_users, d)`` and ``(n_items, d)`` C-contiguous float32 embeddings.
    item_bias
        ``(n_items,)`` float32 item biases, or None for a model without them.
    indptr, indices
        int64 CSR structure of every user's positive items, each row sorted.
    users, items
        Training pairs (int32 or int64, left unchanged); every user in ``users`` must have a
        negative item. The epoch visits each pair once, in an order drawn from ``seed``.
    seed
        Seed of the epoch's order and of the negative sampling (the same inputs and seed give
        the same result when ``threads == 1``).
    lr, l2
        Step size of each triple and L2 weight of the per-triple loss.
    eps, reg_adv
        APR perturbation size and weight of the adversarial loss; ``reg_adv = 0`` trains BPR
        (``eps = 0`` leaves the adversarial loss equal to the BPR loss: BPR with a scaled loss).
    threads
        Parallel Hogwild chunks (capped by numba's thread count); above 1 the result is
        not bit-reproducible.
    work
        Two arrays like ``users`` and ``items`` to shuffle into (allocated when None; a model
        passes the same ones every epoch).
    bits
        :func:`seen_bitmap` of ``indptr`` / ``indices`` (built when None; a model passes the same
        one every epoch). It changes the speed only, never the draws.

    Returns
    -------
    float
        Mean per-triple loss (before its step) of every :data:`LOSS_STRIDE`-th triple of the epoch.
    """
    bias = np.zeros(0, dtype=np.float32) if item_bias is None else item_bias
    s = np.uint64(seed & 0xFFFFFFFFFFFFFFFF)
    ou, oi = work if work is not None else (np.empty_like(users), np.empty_like(items))
    if bits is None:
        bits = seen_bitmap(indptr, indices, item_emb.shape[0])
    args = (user_emb, item_emb, bias, indptr, indices, bits, ou, oi)
    n = len(users)
    threads = max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS, max(n, 1)))
    sampled = sum(-(-((c + 1) * n // threads - c * n // threads) // LOSS_STRIDE) for c in range(threads))
    if threads == 1:
        _shuffle_into(users, items, ou, oi, 0, n, s ^ _GOLDEN)  # the sampling below draws from s itself
        total = _run(*args, 0, n, s, float(lr), float(l2), float(eps), float(reg_adv))
    else:
        before = numba.get_num_threads()
        numba.set_num_threads(threads)
        try:  # each thread's chunk of the pairs is shuffled within itself, in parallel
            _shuffle_chunks(users, items, ou, oi, threads, s ^ _GOLDEN)
            total = _run_hogwild(*args, threads, s, float(lr), float(l2), float(eps), float(reg_adv))
        finally:
            numba.set_num_threads(before)
    return float(total) / max(sampled, 1)
