"""Warm splits: per-user random holdout, leave-one-out and a global temporal cut."""

from __future__ import annotations

import numpy as np

from advrec.data.interactions import Interactions
from advrec.data.splits.arrays import (
    TAG_LOO,
    TAG_RANDOM,
    check_by,
    check_fraction,
    part_names,
    rng_for,
    round_half_up,
    user_ranks,
)
from advrec.data.splits.split import Split
from advrec.errors import ConfigError, DataError

UNKNOWN_POLICIES = ("keep", "drop")


def _from_mask(
    inter: Interactions, train: np.ndarray, test: np.ndarray, name: str, meta: dict
) -> Split:
    names = part_names(inter.name)
    return Split(
        train=inter.subset(train, name=names["train"]),
        test=inter.subset(test, name=names["test"]),
        name=name,
        meta=meta,
    )


def random_holdout(
    inter: Interactions, train_ratio: float = 0.8, *, seed: int = 0, min_train: int = 1
) -> Split:
    """Per-user random holdout.

    Each user's records are shuffled (seeded) and the first
    ``n_train = round_half_up(train_ratio * n)`` go to train, the rest to test,
    where ``n`` is the user's record count; ``n_train`` is then raised to
    ``min(min_train, n)``. So with ``train_ratio=0.8`` a user with 10 records
    gets 8/2, 5 records 4/1, 3 records 2/1, 2 records 2/0 and 1 record 1/0.

    Parameters
    ----------
    inter
        The records (one per (user, item) pair).
    train_ratio
        Fraction of each user's records kept for training, in (0, 1).
    seed
        Seed of the shuffle.
    min_train
        Every user keeps at least this many records (or all, if fewer) in train.

    Returns
    -------
    Split
        ``train`` and ``test`` over the full id space; ``meta["kind"] == "random"``.
    """
    ratio = check_fraction(train_ratio, "train_ratio")
    if isinstance(min_train, bool) or not isinstance(min_train, (int, np.integer)) or min_train < 0:
        raise ConfigError(f"min_train must be a non-negative integer, got {min_train!r}")
    rank, counts = user_ranks(inter, "random", rng_for(seed, TAG_RANDOM))
    n_train = np.maximum(round_half_up(ratio * counts), np.minimum(min_train, counts))
    train = rank < n_train[inter.users]
    meta = {"kind": "random", "train_ratio": ratio, "min_train": int(min_train), "seed": int(seed)}
    return _from_mask(inter, train, ~train, f"random:{ratio:g}", meta)


def leave_one_out(inter: Interactions, *, by: str = "time", seed: int = 0) -> Split:
    """Hold out one record per user: the latest by timestamp, or a random one.

    Users with fewer than 2 records stay train-only. With ``by="time"`` ties
    on the latest timestamp go to the record that comes last in ``inter``.

    Parameters
    ----------
    inter
        The records; ``by="time"`` needs timestamps.
    by
        ``"time"`` or ``"random"``.
    seed
        Seed of the random choice (unused for ``by="time"``).
    """
    check_by(by, inter)
    rank, counts = user_ranks(inter, by, rng_for(seed, TAG_LOO))
    c = counts[inter.users]
    test = (c >= 2) & (rank == c - 1)
    meta = {"kind": "loo", "by": by, "seed": int(seed)}
    return _from_mask(inter, ~test, test, f"loo:{by}", meta)


def temporal(
    inter: Interactions,
    train_frac: float = 0.8,
    *,
    cutoff: int | None = None,
    unknown: str = "keep",
) -> Split:
    """One global time cut: records before it train, records at or after it test.

    Without ``cutoff`` the cut is the timestamp of the record at position
    ``round_half_up(train_frac * n)`` in time order, so roughly ``train_frac``
    of the records train; all records sharing the cut timestamp go to test,
    hence every test timestamp is >= every train timestamp (strictly >).

    Parameters
    ----------
    inter
        The records; they must have timestamps.
    train_frac
        Target fraction of records before the cut, in (0, 1). Ignored when
        ``cutoff`` is given.
    cutoff
        An explicit unix time: train is ``timestamp < cutoff``.
    unknown
        What to do with test records whose user or item has no train record
        (the cut naturally creates such "new" users and items):
        ``"keep"`` (default) leaves them in test; ``"drop"`` removes them
        from the split altogether. Either way ``meta`` records the policy and
        how many test records were affected (``unknown_user_records``,
        ``unknown_item_records``, ``dropped_records``); nothing is silent.

    Raises
    ------
    DataError
        Without timestamps, or when the cut leaves train or test empty.
    """
    if inter.timestamps is None:
        raise DataError(
            f"{inter.name}: a temporal split needs timestamps but the records have none"
        )
    if unknown not in UNKNOWN_POLICIES:
        raise ConfigError(f"unknown must be one of {UNKNOWN_POLICIES}, got {unknown!r}")
    ts = inter.timestamps
    if len(ts) < 2:
        raise DataError(f"{inter.name}: a temporal split needs at least 2 records, got {len(ts)}")
    if cutoff is None:
        frac = check_fraction(train_frac, "train_frac")
        cut = time_cut(ts, frac)
    else:
        frac, cut = None, int(cutoff)
    train = ts < cut
    n_train = int(train.sum())
    if n_train == 0 or n_train == len(ts):
        empty = "train" if n_train == 0 else "test"
        raise DataError(
            f"{inter.name}: the temporal cut at {cut} leaves {empty} empty "
            f"(timestamps span {int(ts.min())}..{int(ts.max())})"
        )
    test, new_u, new_i, dropped = _unknown_after_cut(inter, train, unknown, cut)
    meta = {
        "kind": "temporal",
        "train_frac": frac,
        "cutoff": cut,
        "unknown": unknown,
        "unknown_user_records": int(new_u.sum()),
        "unknown_item_records": int(new_i.sum()),
        "dropped_records": dropped,
    }
    name = f"temporal:{frac:g}" if cutoff is None else f"temporal@{cut}"
    return _from_mask(inter, train, test, name, meta)


def time_cut(ts: np.ndarray, frac: float) -> int:
    """The timestamp at position ``round_half_up(frac * n)`` of ``ts`` in time order (clipped to
    ``1 .. n - 1``): records before it are about ``frac`` of all."""
    k = int(np.clip(round_half_up(frac * len(ts)), 1, len(ts) - 1))
    return int(np.partition(ts, k)[k])


def _unknown_after_cut(
    inter: Interactions, train: np.ndarray, unknown: str, cut: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(test, new_user, new_item, dropped)``: the test mask after the ``unknown`` policy, the
    masks of test records whose user / item has no train record, and how many were dropped."""
    test = ~train
    known_u = np.bincount(inter.users[train], minlength=inter.n_users) > 0
    known_i = np.bincount(inter.items[train], minlength=inter.n_items) > 0
    new_u = test & ~known_u[inter.users]
    new_i = test & ~known_i[inter.items]
    dropped = 0
    if unknown == "drop":
        bad = new_u | new_i
        dropped = int(bad.sum())
        test &= ~bad
        if not test.any():
            raise DataError(
                f"{inter.name}: unknown='drop' leaves the temporal test empty (cut at {cut})"
            )
    return test, new_u, new_i, dropped
