"""Honest cold-user evaluation: cold users are scored through ``fold_in`` on their revealed items.

A cold-user split (``cold-user:F:R``) holds some users out of training entirely and reveals R of
their interactions. A model never saw those users, so its ``score`` rows for them are untrained;
the only fair way to rank for them is to fold in the revealed interactions
(:meth:`~advrec.models.base.Recommender.fold_in`). The revealed items are then excluded from the
candidates, as training items are for warm users.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.errors import DataError
from advrec.eval.evaluator import EvalResult, Evaluator
from advrec.models.base import Recommender


class FoldInView:
    """A fitted model seen through ``fold_in``: ``score(users)`` folds in each user's ``history`` row.

    It has what the evaluator needs of a model (``name``, ``n_users``, ``n_items``,
    ``is_fitted``, ``score``), over the id space of ``history``.

    Parameters
    ----------
    model
        A fitted model that declares ``fold_in`` (others raise
        :class:`~advrec.errors.CapabilityError` here, naming the model).
    history
        Interactions over the model's item space whose rows are the users' known items
        (their revealed interactions); rows of users it does not hold are empty.
    user_features
        Optional encoded side features, one row per user index of ``history``.
    """

    def __init__(self, model: Recommender, history: Interactions, user_features: np.ndarray | None = None) -> None:
        model.require("fold_in")
        if history.n_items != model.n_items:
            raise DataError(f"{history.name!r} has {history.n_items} items, the model {model.name!r} "
                            f"{model.n_items}")
        self.model = model
        self.name = model.name
        self.n_users, self.n_items = history.n_users, history.n_items
        self.is_fitted = True
        self._rows: sp.csr_matrix = history.binary_csr
        self._features = user_features

    def score(self, users: np.ndarray) -> torch.Tensor:
        """Fold-in scores ``(len(users), n_items)`` of the given user indices."""
        u = np.asarray(users, dtype=np.int64)
        feats = None if self._features is None else self._features[u]
        return self.model.fold_in(self._rows[u], feats)


def evaluate_cold_users(model: Recommender, train: Interactions, revealed: Interactions, test: Interactions,
                        cold_users: np.ndarray, *, ks: tuple[int, ...] = (20,),
                        user_features: np.ndarray | None = None, **kwargs: Any) -> EvalResult:
    """Evaluate ``model`` on the cold users of ``test``, folding in their ``revealed`` interactions.

    Only cold users are evaluated; their revealed items are excluded from the candidates (warm
    users' training records concern other users, so they change no cold user's candidates and
    only serve as the popularity base of novelty / ARP, with the revealed records).
    ``kwargs`` go to :class:`~advrec.eval.Evaluator`.

    Returns
    -------
    EvalResult
        Over the cold users that have held-out test items.
    """
    cold = np.zeros(test.n_users, bool)
    cold[np.asarray(cold_users, np.int64)] = True
    held = test.subset(cold[test.users], name=test.name)
    shown = revealed.subset(cold[revealed.users], name=revealed.name)
    view = FoldInView(model, shown, user_features)
    exclude = train.concat(shown, name=f"{train.name}+{revealed.name}")
    return Evaluator(ks, **kwargs).evaluate(view, exclude, held)  # type: ignore[arg-type]
