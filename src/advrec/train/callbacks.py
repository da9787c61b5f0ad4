"""The callback protocol of iterative models."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Callback(Protocol):
    """Called by iterative models at the end of each epoch.

    ``logs`` holds the epoch's numbers (e.g. ``loss``, ``valid_ndcg@20``).
    Return ``True`` to stop training early.
    """

    def on_epoch_end(self, model: Any, epoch: int, logs: dict[str, float]) -> bool | None:
        """React to a finished epoch."""
        ...
