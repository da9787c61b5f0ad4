"""CFGAN's scoring: the generator's scores of users, their blend with the prior, fold-in."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
import torch

from advrec.errors import CapabilityError
from advrec.models.cfgan.config import CFGANConfig
from advrec.models.cfgan.networks import densify
from advrec.models.cfgan.prior import Prior, blend, standardise
from advrec.models.cfgan.sparse_networks import SparseGenerator
from advrec.models.ease import ease_weights
from advrec.models.foldin import binary_rows, map_row_chunks


class CFGANScoring:
    """The scoring hooks of :class:`~advrec.models.cfgan.CFGAN` (``_score``, ``_score_grad``, ``_fold_in``).

    A mixin: the model provides the generator ``g_net``, ``generate``, the training rows
    and the fitted prior with its blend weight.
    """

    config: CFGANConfig
    g_net: torch.nn.Module
    device: torch.device
    n_items: int
    _seen: sp.csr_matrix | None
    _prior: Prior | None
    _fold_b: tuple[Prior, torch.Tensor] | None
    _blend_weight: float
    _score_cache: torch.Tensor | None

    def weights_changed(self) -> None:
        self._score_cache = None

    def _generated(self, users: np.ndarray) -> torch.Tensor:
        """Generated user x item scores of ``users`` (no grad; item mode from a cache of all users)."""
        with torch.no_grad():
            if self.config.mode == "user":
                return self._generate_users(users)
            if self._score_cache is None:
                self._score_cache = self._generate_all_items().T.contiguous()
            return self._score_cache[torch.from_numpy(np.asarray(users, dtype=np.int64))]

    def _generate_users(self, users: np.ndarray) -> torch.Tensor:
        """User mode: the generator's output for the users' training vectors."""
        assert self._seen is not None
        if isinstance(self.g_net, SparseGenerator):  # sparse input: no dense rows x items condition
            return self.g_net.forward_rows(self._seen[np.asarray(users)]).float()
        idx = torch.from_numpy(np.asarray(users, dtype=np.int64))
        return self.generate(densify(self._seen, users).to(self.device), idx)

    def _generate_all_items(self) -> torch.Tensor:
        """Item mode: the generator's output for every item's vector, items x users."""
        rows = self._row_matrix()
        parts = [self.generate(densify(rows, idx).to(self.device), torch.from_numpy(idx))
                 for idx in np.array_split(np.arange(rows.shape[0]), max(1, rows.shape[0] // 1024))]
        return torch.cat(parts)

    def _score(self, users: np.ndarray) -> torch.Tensor:
        self.g_net.eval()
        return self._combine(lambda: self._generated(users), lambda: self._prior_rows(users))

    def _score_grad(self, users: np.ndarray) -> torch.Tensor:
        """:meth:`_score` with the graph back to the generator (item mode: through every item's row)."""
        if self._prior is not None and self.config.prior_mode == "blend" and self._blend_weight == 1.0:
            raise CapabilityError("cfgan: the blend weight (prior_weight) is 1: the scores are the prior's alone, "
                                  "with no gradient to the generator; set_blend_weight(w < 1) first")
        self.g_net.eval()
        if self.config.mode == "user":
            return self._combine(lambda: self._generate_users(users), lambda: self._prior_rows(users))
        return self._combine(lambda: self._generate_all_items().T[torch.from_numpy(users)],
                             lambda: self._prior_rows(users))

    def _combine(self, generated: Callable[[], torch.Tensor], prior: Callable[[], torch.Tensor]) -> torch.Tensor:
        """What users are ranked by: the generator's scores, or their blend with the prior's."""
        if self._prior is None or self.config.prior_mode == "residual":
            return generated()
        w = self._blend_weight
        if w in (0.0, 1.0):  # one part only (exactly what blend gives at the ends)
            return standardise(generated() if w == 0.0 else prior())
        return blend(generated(), prior(), w)

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        """New users' rows through the generator (and prior) exactly as a training user's (user mode)."""
        self.g_net.eval()
        return map_row_chunks(binary_rows(history), self._fold_in_rows, self.n_items)

    def _unavailable(self, capability: str) -> str | None:
        if capability == "fold_in" and self.config.mode != "user":
            return ("cfgan: fold_in needs mode='user'. In mode='item' the networks' rows are items and a user is "
                    "one input dimension (a column of every item's vector), so a new user is a new input "
                    "dimension the trained networks do not have; fit with mode='user' to score new users")
        return None

    def _fold_in_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        g, c = self.g_net, self.config
        def prior() -> torch.Tensor:  # the prior's weights (recomputed once if only scores are kept)
            assert self._prior is not None and self._seen is not None
            if self._prior.weights is None and (self._fold_b is None or self._fold_b[0] is not self._prior):
                b = ease_weights(self._seen, c.prior_l2, precision=c.prior_precision)
                self._fold_b = (self._prior, torch.from_numpy(b))
            w = self._fold_b[1] if self._prior.weights is None else self._prior.weights  # type: ignore[index]
            return Prior(rows, weights=w).user_rows(np.arange(rows.shape[0])).to(self.device)
        def generated() -> torch.Tensor:
            if isinstance(g, SparseGenerator):
                return g.forward_rows(rows).float()
            out = g(densify(rows, np.arange(rows.shape[0])).to(self.device)).float()
            return out + c.prior_weight * prior() if self._prior is not None and c.prior_mode == "residual" else out
        return self._combine(generated, prior)

    def _prior_rows(self, users: np.ndarray) -> torch.Tensor:
        """The prior's scores of ``users`` (users x items)."""
        assert self._prior is not None
        return self._prior.user_rows(users).to(self.device)
