"""Per-row samples of unobserved entries, fixed for an epoch, drawn batch by batch.

CFGAN draws, once per epoch and for every row ``u``, a set of ``floor(ratio *
|unobserved_u|)`` unobserved items without replacement (the ZR and PM negative
sets ``N_u^ZR`` and ``N_u^PM``), and reuses them in all the epoch's D and G
passes. Storing those sets is a dense rows x items matrix; instead each row
gets one 64-bit seed per epoch and every entry a hash key
``splitmix64(seed_u + j * golden)``: the sample is the row's unobserved entries
with the smallest keys. Any batch of rows can thus rebuild its masks exactly,
vectorised, without a Python loop over rows and without storing the matrix.
"""

from __future__ import annotations

import torch

_MASK64 = (1 << 64) - 1


def _signed(x: int) -> int:
    x &= _MASK64
    return x - (1 << 64) if x >= 1 << 63 else x


_GOLDEN = _signed(0x9E3779B97F4A7C15)
_M1 = _signed(0xBF58476D1CE4E5B9)
_M2 = _signed(0x94D049BB133111EB)


def _shr(z: torch.Tensor, s: int) -> torch.Tensor:
    """Logical right shift of int64 (torch's ``>>`` is arithmetic)."""
    return (z >> s).bitwise_and_((1 << (64 - s)) - 1)


def splitmix64(z: torch.Tensor) -> torch.Tensor:
    """The splitmix64 finaliser on int64 tensors (wrapping arithmetic); ``z`` is not modified."""
    z = z ^ _shr(z, 30)
    z.mul_(_M1)
    z.bitwise_xor_(_shr(z, 27)).mul_(_M2)
    return z.bitwise_xor_(_shr(z, 31))


def draw_row_seeds(n_rows: int, generator: torch.Generator) -> torch.Tensor:
    """One int64 seed per row, drawn from ``generator``."""
    return torch.randint(-(1 << 62), 1 << 62, (n_rows,), generator=generator, dtype=torch.int64)


def sample_unobserved(positives: torch.Tensor, seeds: torch.Tensor, ratio: float) -> torch.Tensor:
    """Mask of ``floor(ratio * n_unobserved)`` unobserved entries per row.

    Parameters
    ----------
    positives
        ``(b, n)`` boolean (or 0/1) matrix of observed entries of the batch rows.
    seeds
        ``(b,)`` int64 seeds of these rows for the current epoch
        (:func:`draw_row_seeds`); the same seed gives the same sample.
    ratio
        Fraction of each row's unobserved entries to select, in ``[0, 1]``.

    Returns
    -------
    torch.Tensor
        ``(b, n)`` boolean mask; never true on an observed entry.
    """
    if not 0.0 <= ratio <= 1.0:
        raise ValueError(f"ratio must be in [0, 1], got {ratio}")
    pos = positives.to(torch.bool)
    b, n = pos.shape
    dev = pos.device
    mask = torch.zeros((b, n), dtype=torch.bool, device=dev)
    if b == 0 or n == 0 or ratio == 0.0:
        return mask
    unobserved = n - pos.sum(1)
    counts = torch.floor(unobserved.to(torch.float64) * ratio).to(torch.long)
    kmax = int(counts.max())
    if kmax == 0:
        return mask
    cols = torch.arange(n, dtype=torch.int64, device=dev) * _GOLDEN
    keys = splitmix64(seeds.to(dev, torch.int64)[:, None] + cols[None, :])
    rest = unobserved - counts
    rmax = int(rest.max())
    if rmax < kmax:
        # cheaper to rank the entries left out: the row's unobserved entries minus the
        # rest_u largest keys (the same set, as the 64-bit keys do not tie in practice)
        keys.masked_fill_(pos, torch.iinfo(torch.int64).min)  # observed entries rank last
        largest = torch.topk(keys, rmax, dim=1, largest=True, sorted=True).indices
        keep = torch.arange(rmax, device=dev)[None, :] >= rest[:, None]
        mask.fill_(True).scatter_(1, largest, keep)
        return mask & ~pos
    keys.masked_fill_(pos, torch.iinfo(torch.int64).max)  # observed entries sort last
    smallest = torch.topk(keys, kmax, dim=1, largest=False, sorted=True).indices
    take = torch.arange(kmax, device=dev)[None, :] < counts[:, None]
    mask.scatter_(1, smallest, take)
    return mask & ~pos
