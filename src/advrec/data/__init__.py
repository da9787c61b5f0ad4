"""Data: the :class:`Interactions` model, loaders, splits and side features."""

from advrec.data.interactions import Interactions
from advrec.data.split import Split

__all__ = ["Interactions", "Split"]
