"""Private user attributes as class labels: what the audits predict and the adversary hides.

``gender``, ``age`` (grouped into the ML-1M age groups, so both MovieLens sets agree) and
``occupation`` come from the user side table of the data (``u.user`` / ``users.dat``). A user
without a value gets label ``-1``: attackers and the adversary skip them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from advrec.data.features import AGE_LABELS, age_groups
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, DataError

#: the attributes the audits and the adversary know, in their usual order
PRIVATE_ATTRIBUTES = ("gender", "age", "occupation")


@dataclass(frozen=True)
class AttributeLabels:
    """One private attribute of every user as integer classes.

    Attributes
    ----------
    name
        The attribute (``"gender"``, ``"age"``, ``"occupation"``).
    labels
        int64 ``(n_users,)``: the class index of each user, ``-1`` where unknown.
    classes
        The class names, by index (age groups in age order, other values sorted).
    """

    name: str
    labels: np.ndarray
    classes: tuple[str, ...]

    @property
    def n_classes(self) -> int:
        """Number of classes."""
        return len(self.classes)

    @property
    def known(self) -> np.ndarray:
        """Indices of the users whose value is known."""
        return np.flatnonzero(self.labels >= 0)

    def majority_share(self, users: np.ndarray | None = None) -> float:
        """Share of the most frequent class among ``users`` (default: every user with a value)."""
        lab = self.labels[self.known if users is None else users]
        lab = lab[lab >= 0]
        return float(np.bincount(lab, minlength=self.n_classes).max() / max(len(lab), 1))


def parse_attributes(text: str | Sequence[str], option: str = "--attributes") -> tuple[str, ...]:
    """``"gender,age"`` (or a list) to a tuple of known attribute names, in the order given.

    Raises
    ------
    ConfigError
        Empty, repeated or unknown names, naming ``option``.
    """
    names = [s.strip() for s in (text.split(",") if isinstance(text, str) else text)]
    names = [s for s in names if s]
    if not names:
        raise ConfigError(f"{option}: name at least one of {list(PRIVATE_ATTRIBUTES)}")
    unknown = [s for s in names if s not in PRIVATE_ATTRIBUTES]
    if unknown:
        raise ConfigError(f"{option}: unknown attribute {unknown[0]!r}; choose from {list(PRIVATE_ATTRIBUTES)}")
    if len(set(names)) != len(names):
        raise ConfigError(f"{option}: {names} names an attribute twice")
    return tuple(names)


def attribute_labels(data: Interactions, name: str) -> AttributeLabels:
    """The classes of attribute ``name`` for every user of ``data`` (from its user side table).

    Raises
    ------
    DataError
        If the data has no user side table, or the table lacks the attribute's column.
    """
    table = data.user_features
    if table is None:
        raise DataError(f"{data.name}: no user side table, so no private attributes (built in: ml-100k's u.user, "
                        "ml-1m's users.dat)")
    if name not in table.columns:
        raise DataError(f"{data.name}: the user side table has no {name!r} column (it has {list(table.columns)})")
    raw = table[name].reset_index(drop=True)
    missing = raw.isna().to_numpy()
    if name == "age":
        values = age_groups(raw.fillna(0)).astype(object)
        classes = [g for g in AGE_LABELS if ((values == g).to_numpy() & ~missing).any()]
    else:
        values = raw.astype(str)
        classes = sorted(pd.unique(values[~missing]).tolist())
    labels = pd.Categorical(values, categories=classes).codes.astype(np.int64)  # -1 outside the classes
    labels[missing] = -1
    return AttributeLabels(name, labels, tuple(str(c) for c in classes))


def all_labels(data: Interactions, names: Sequence[str]) -> dict[str, AttributeLabels]:
    """:func:`attribute_labels` of each name, by name."""
    return {n: attribute_labels(data, n) for n in names}
