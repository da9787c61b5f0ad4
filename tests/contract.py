"""The shared contract test every recommender must pass: ``check_contract``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from advrec.data import Interactions
from advrec.models import Recommender, create
from advrec.train.callbacks import Callback


def check_contract(name: str, train: Interactions, tmp_path, **params) -> Recommender:
    """Fit, score shape/dtype, seen items excluded, save/load identity, determinism."""
    model = create(name, **params).fit(train)
    users = np.arange(train.n_users)
    scores = model.score(users)
    assert scores.shape == (train.n_users, train.n_items)
    assert scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    items, _ = model.recommend(users, k=5)
    seen = train.binary_csr
    for u in range(train.n_users):
        assert not set(items[u]).intersection(seen[u].indices[: seen[u].nnz])
    loaded = Recommender.load(model.save(tmp_path / name))
    assert type(loaded) is type(model)
    torch.testing.assert_close(loaded.score(users), scores, rtol=0, atol=0)
    again = create(name, **params).fit(train)
    torch.testing.assert_close(again.score(users), scores, rtol=1e-5, atol=1e-6)
    return model


class TableModel(Recommender):
    """Scores from a fixed table (integer-valued tables create many ties)."""

    name = "table"

    def __init__(self, table: np.ndarray) -> None:
        super().__init__()
        self.table = torch.as_tensor(np.asarray(table, np.float32))

    def _fit(self, train: Interactions, valid: Interactions | None, *, show_progress: bool,
             callbacks: Sequence[Callback]) -> None:
        pass

    def _score(self, users: np.ndarray) -> torch.Tensor:
        if len(users) == 1:  # a view into the model: the evaluator must not write into it
            return self.table[int(users[0]) : int(users[0]) + 1]
        return self.table[torch.from_numpy(users)]

    def _state(self) -> dict[str, torch.Tensor]:
        return {"table": self.table}

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        self.table = state["table"]
