"""Vectorised uniform negative sampling over a users x items positive set.

The sampler draws, for each requested user, an item uniformly among the items
the user has *not* interacted with, in one pass and without rejection: with the
user's positives sorted as ``p_0 < p_1 < ...`` and ``q_k = p_k - k``, the
``r``-th negative item (0-based) is ``r + #{k : q_k <= r}``. All users' ``q``
values are stored as one sorted array of pair keys ``user * n_items + q`` so one
:func:`torch.searchsorted` call answers a whole epoch of draws.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import torch

from advrec.errors import DataError


class NegativeSampler:
    """Uniform negative items and positive-pair lookups for a fixed positive set.

    Parameters
    ----------
    positives
        Users x items sparse matrix; every stored entry is a positive pair
        (values are ignored).

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> s = NegativeSampler(sp.csr_matrix([[1, 1, 0, 1, 0]]))
    >>> g = torch.Generator().manual_seed(0)
    >>> sorted(set(s.sample(torch.zeros(100, dtype=torch.long), g).tolist()))
    [2, 4]
    """

    def __init__(self, positives: sp.spmatrix) -> None:
        csr = sp.csr_matrix(positives, copy=True)
        csr.sum_duplicates()
        csr.sort_indices()
        self.n_users, self.n_items = csr.shape
        indptr = csr.indptr.astype(np.int64)
        indices = csr.indices.astype(np.int64)
        deg = np.diff(indptr)
        rows = np.repeat(np.arange(self.n_users, dtype=np.int64), deg)
        rank = np.arange(len(indices), dtype=np.int64) - indptr[rows]
        n = np.int64(self.n_items)
        self.indptr = torch.from_numpy(indptr)
        self.n_negatives = torch.from_numpy(self.n_items - deg)
        #: sorted keys ``user * n_items + item`` of the positive pairs
        self.pair_keys = torch.from_numpy(rows * n + indices)
        #: sorted keys ``user * n_items + (item - rank)`` used to map ranks to negatives
        self._rank_keys = torch.from_numpy(rows * n + (indices - rank))
        #: user and item of every positive pair, in user-major order
        self.pair_users = torch.from_numpy(rows)
        self.pair_items = torch.from_numpy(indices)

    def __len__(self) -> int:
        return len(self.pair_keys)

    def contains(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Bool tensor: whether each ``(users[k], items[k])`` is a positive pair."""
        keys = users.to(torch.int64) * self.n_items + items.to(torch.int64)
        if len(self.pair_keys) == 0:
            return torch.zeros(keys.shape, dtype=torch.bool)
        pos = torch.searchsorted(self.pair_keys, keys).clamp_(max=len(self.pair_keys) - 1)
        return self.pair_keys[pos] == keys

    def sample(self, users: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """One uniformly drawn negative item per entry of ``users``.

        Parameters
        ----------
        users
            int64 user indices.
        generator
            Source of randomness (the result is a function of its state).

        Returns
        -------
        torch.Tensor
            int64 items, ``items[k]`` never a positive of ``users[k]``.

        Raises
        ------
        DataError
            If a user has interacted with every item (no negative exists).
        """
        users = users.to(torch.int64)
        n_neg = self.n_negatives[users]
        if len(users) and int(n_neg.min()) <= 0:
            bad = int(users[int(torch.argmin(n_neg))])
            raise DataError(f"user index {bad} has interacted with every item: no negative to sample")
        # float64 keeps the floor exact and unbiased for any realistic item count
        r = (torch.rand(len(users), dtype=torch.float64, generator=generator) * n_neg).to(torch.int64)
        r = torch.minimum(r, n_neg - 1)
        base = users * self.n_items
        below = torch.searchsorted(self._rank_keys, base + r, right=True) - self.indptr[users]
        return r + below

    def epoch_triples(
        self, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every positive pair once, in random order, each with a sampled negative.

        Users with no negative item (they have every item) are left out.

        Returns
        -------
        tuple of torch.Tensor
            ``(users, positive_items, negative_items)``, int64, equal length.
        """
        order = torch.randperm(len(self.pair_keys), generator=generator)
        users = self.pair_users[order]
        items = self.pair_items[order]
        ok = self.n_negatives[users] > 0
        if not bool(ok.all()):
            users, items = users[ok], items[ok]
        return users, items, self.sample(users, generator)
