"""Base of the baselines that score a user from their training row alone (ItemKNN, EASE, ...)."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.models._sparse import csr_from_state, csr_to_state, training_matrix
from advrec.models.base import ModelConfig, Recommender
from advrec.train.callbacks import Callback


class RowModelConfig(ModelConfig):
    """Fields shared by the row-based baselines."""

    binary: bool = True
    """Learn from (and score) 1.0 per observed pair; ``False`` uses the raw values (e.g. ratings)."""


class RowModel(Recommender):
    """A model whose scores for user ``u`` are ``f(X[u])``, ``X`` the training matrix.

    With ``binary=True`` the rows come from the saved seen-items matrix of the base
    class; with ``binary=False`` the raw-valued matrix is kept and saved as CSR arrays
    under ``x.*``. Subclasses implement :meth:`_fit_matrix`, :meth:`_score_rows`,
    :meth:`_weights` and :meth:`_set_weights`.
    """

    config_class = RowModelConfig

    def _fit(
        self,
        train: Interactions,
        valid: Interactions | None,
        *,
        show_progress: bool,
        callbacks: Sequence[Callback],
    ) -> None:
        x = training_matrix(train, self._binary)
        self.x_ = None if self._binary else x
        self._fit_matrix(x, show_progress=show_progress)

    def _score(self, users: np.ndarray) -> torch.Tensor:
        source = self._seen if self.x_ is None else self.x_
        assert source is not None
        return self._score_rows(source[users].astype(np.float32))

    def _state(self) -> dict[str, torch.Tensor | np.ndarray]:
        state: dict[str, torch.Tensor | np.ndarray] = dict(self._weights())
        if self.x_ is not None:
            state.update(csr_to_state("x", self.x_))
        return state

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.x_ = None if self._binary else csr_from_state(state, "x", (self.n_users, self.n_items))
        self._set_weights(state)

    @property
    def _binary(self) -> bool:
        return bool(getattr(self.config, "binary", True))

    # ------------------------------------------------------- for subclasses
    @abstractmethod
    def _fit_matrix(self, x: sp.csr_matrix, *, show_progress: bool) -> None:
        """Learn from the users x items float32 CSR training matrix."""

    @abstractmethod
    def _score_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        """Scores ``(n_rows, n_items)`` float32 from the users' training rows."""

    @abstractmethod
    def _weights(self) -> dict[str, torch.Tensor]:
        """Every learned array needed by :meth:`_score_rows`."""

    @abstractmethod
    def _set_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Restore :meth:`_weights` (raise KeyError/ValueError on mismatch)."""


def check_dense(t: torch.Tensor, shape: tuple[int, ...], name: str) -> torch.Tensor:
    """Return ``t`` as float32 if it has ``shape``, else raise ValueError naming it."""
    if tuple(t.shape) != shape:
        raise ValueError(f"{name} has shape {tuple(t.shape)}, expected {shape}")
    return t.to(torch.float32).contiguous()
