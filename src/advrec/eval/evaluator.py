"""Full-ranking evaluation streamed over chunks of users: :class:`Evaluator`."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.data.splits.split import Split
from advrec.errors import AdvrecError, ConfigError, DataError, LeakageError
from advrec.eval.beyond import BeyondAccumulator, normalise_features
from advrec.eval.metrics import (
    CUTOFF_METRICS,
    DEFAULT_METRICS,
    auc,
    cutoff_metrics,
    dense_rows,
    finite_scores,
    relevant_matrix,
    top_items,
)
from advrec.eval.result import EvalResult
from advrec.models.base import Recommender

MEMORY_FACTOR = 8
"""Working copies per chunk cell, in float32 units (scores, masked copy, masks, AUC sort, headroom)."""

Variants = Callable[[np.ndarray], Iterable[tuple[Hashable, torch.Tensor]]]
"""``variants(chunk)`` yields ``(key, scores of chunk)`` per variant of a model's scoring."""


class Evaluator:
    """Rank all items for every test user, in chunks, and compute metrics.

    For each chunk of evaluated users: ``model.score(chunk)``; the user's
    excluded (training) items are set to ``-inf``; ``top-max(ks)`` items are
    taken with ties broken by lower item index; hits are looked up in the
    test CSR. With ``candidates`` only those items are ranked. Memory is bounded by the chunk: no users x items matrix of the
    whole data set is ever built.

    Parameters
    ----------
    ks
        Cutoffs K (each ``1 <= K <= n_items``).
    metrics
        Subset of :data:`~advrec.eval.metrics.DEFAULT_METRICS`.
    chunk_size
        Users per chunk; by default ``max_chunk_bytes // (n_items * 4 * MEMORY_FACTOR)``.
    max_chunk_bytes
        Memory budget of one chunk when ``chunk_size`` is None.
    beyond
        Also compute beyond-accuracy metrics (coverage, Gini, novelty, ARP, ILD).
    item_features
        ``(n_items, d)`` features or embeddings for intra-list diversity.
    show_progress
        Show a progress bar over chunks.
    candidates
        Indices of the items that may be recommended (None: all). Other items are
        never ranked, test items outside it are dropped, only users with a test
        item among the candidates are evaluated, and coverage / Gini are over the
        candidates (e.g. the cold or warm items of a cold-start split).
    """

    def __init__(
        self,
        ks: Iterable[int] = (20,),
        metrics: Iterable[str] = DEFAULT_METRICS,
        *,
        chunk_size: int | None = None,
        max_chunk_bytes: int = 256 << 20,
        beyond: bool = True,
        item_features: np.ndarray | None = None,
        show_progress: bool = False,
        candidates: np.ndarray | None = None,
    ) -> None:
        self.ks = _check_ks(ks)
        self.candidates = None if candidates is None else _check_candidates(candidates)
        self.metrics = tuple(metrics)
        unknown = [m for m in self.metrics if m not in DEFAULT_METRICS]
        if unknown or not self.metrics:
            raise ConfigError(
                f"metrics: unknown {unknown} (choose from {list(DEFAULT_METRICS)})"
                if unknown
                else "metrics: at least one metric is needed"
            )
        if chunk_size is not None and (not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1):
            raise ConfigError(f"chunk_size must be a positive integer or None, got {chunk_size!r}")
        if max_chunk_bytes < 1:
            raise ConfigError(f"max_chunk_bytes must be positive, got {max_chunk_bytes}")
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.max_chunk_bytes = int(max_chunk_bytes)
        self.beyond = bool(beyond)
        self.item_features = item_features
        self.show_progress = show_progress

    def chunk_users(self, n_items: int) -> int:
        """Users per chunk for a catalogue of ``n_items`` items."""
        if self.chunk_size is not None:
            return self.chunk_size
        return max(1, self.max_chunk_bytes // (max(n_items, 1) * 4 * MEMORY_FACTOR))

    def evaluate(self, model: Recommender, train: Interactions, test: Interactions) -> EvalResult:
        """Evaluate ``model`` on ``test``, excluding the items of ``train`` from ranking.

        Parameters
        ----------
        model
            A fitted recommender over the same id space.
        train
            The interactions to exclude (what the model was fit on); also the
            popularity base of novelty and ARP.
        test
            Held-out interactions; test pairs that are also in ``train`` are
            dropped with a warning (they can never be recommended).
        """
        return self.evaluate_variants(model, train, test, lambda chunk: [(None, model.score(chunk))])[None]

    def evaluate_variants(
        self, model: Recommender, train: Interactions, test: Interactions, variants: Variants
    ) -> dict[Hashable, EvalResult]:
        """Evaluate several scorings of one model in a single pass over the users.

        For each chunk of users, ``variants(chunk)`` yields ``(key, scores)`` pairs
        (the same keys, in the same order, for every chunk); each is ranked and
        scored as :meth:`evaluate` would rank ``model.score``. Use it when the
        variants share expensive work, e.g. blends of two score parts computed once
        per chunk. Yielding one variant at a time keeps one extra score matrix in memory.

        Returns
        -------
        dict
            One :class:`EvalResult` per key.
        """
        start = time.perf_counter()
        n_users, n_items = _check_spaces(model, train, test)
        if max(self.ks) > n_items:
            raise ConfigError(f"ks: cutoff {max(self.ks)} exceeds the number of items ({n_items})")
        excl = train.binary_csr
        rel = relevant_matrix(test.binary_csr, excl, test.name, train.name)
        catalogue = self.candidates
        rel, blocked = _restrict(rel, catalogue, n_items)
        n_rel_all = np.diff(rel.indptr)
        users = np.flatnonzero(n_rel_all > 0).astype(np.int64)
        if not len(users):
            among = "" if catalogue is None else f" among the {len(catalogue)} candidate items"
            raise DataError(f"{test.name}: no user has a test item outside {train.name!r}{among}; "
                            "nothing to evaluate")
        feats = None
        if self.beyond and self.item_features is not None:
            feats = normalise_features(self.item_features, n_items)
        item_users = np.bincount(excl.indices, minlength=n_items)
        accs: dict[Hashable, BeyondAccumulator | None] = {}
        step = self.chunk_users(n_items)
        parts: dict[Hashable, dict[str, list[np.ndarray]]] = {}
        starts = range(0, len(users), step)
        if self.show_progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"evaluate {model.name}", unit="chunk")
        for s in starts:
            chunk = users[s : s + step]
            for var, scores in variants(chunk):
                if var not in accs:
                    accs[var] = BeyondAccumulator(self.ks, item_users, int(np.count_nonzero(np.diff(excl.indptr))),
                                                  feats, catalogue=catalogue) if self.beyond else None
                if tuple(scores.shape) != (len(chunk), n_items):
                    raise AdvrecError(f"{model.name}: variant {var!r} scored shape {tuple(scores.shape)}, "
                                      f"expected {(len(chunk), n_items)}")
                scores = finite_scores(model, chunk, scores)
                for key, vec in self._chunk(scores, chunk, excl, rel, accs[var], blocked).items():
                    parts.setdefault(var, {}).setdefault(key, []).append(vec)
                del scores
        out = {}
        for var, got in parts.items():
            per_user = {k: np.concatenate(v) for k, v in got.items()}
            if any(len(v) != len(users) for v in per_user.values()):
                raise AdvrecError(f"{model.name}: variant {var!r} was not yielded for every chunk of users")
            summary = {k: _nanmean(v) for k, v in per_user.items()}
            acc = accs[var]
            if acc is not None:
                summary.update(acc.finish())
            meta = {
                "model": model.name,
                "test": test.name,
                "exclude": train.name,
                "chunk_size": step,
                "seconds": round(time.perf_counter() - start, 3),
            }
            if catalogue is not None:
                meta["n_candidates"] = len(catalogue)
            if var is not None:
                meta["variant"] = var
            out[var] = EvalResult(users, per_user, summary, self.ks, n_users, n_items, meta)
        return out

    def _chunk(
        self,
        scores: torch.Tensor,
        chunk: np.ndarray,
        excl: sp.csr_matrix,
        rel: sp.csr_matrix,
        acc: BeyondAccumulator | None,
        blocked: torch.Tensor | None = None,
    ) -> dict[str, np.ndarray]:
        dev = scores.device
        excl_rows = excl[chunk]
        mask = dense_rows(excl_rows, dev)
        if blocked is None:
            n_excl = torch.from_numpy(np.diff(excl_rows.indptr).astype(np.int64)).to(dev)
        else:  # non-candidates are excluded like training items
            mask |= blocked.to(dev)[None, :]
            n_excl = mask.sum(dim=1)
        scores = scores.masked_fill(mask, float("-inf"))
        del mask
        kmax = max(self.ks)
        top, top_val = top_items(scores, kmax)
        rows = rel[chunk]
        rr = torch.from_numpy(np.repeat(np.arange(len(chunk)), np.diff(rows.indptr))).to(dev)
        rc = torch.from_numpy(rows.indices.astype(np.int64)).to(dev)
        n_items = scores.shape[1]
        rel_keys = rr * n_items + rc
        top_keys = torch.arange(len(chunk), device=dev)[:, None] * n_items + top
        hits = torch.isin(top_keys, rel_keys).to(torch.float64)
        n_rel = torch.from_numpy(np.diff(rows.indptr).astype(np.float64)).to(dev)
        out: dict[str, torch.Tensor] = {}
        names = tuple(m for m in CUTOFF_METRICS if m in self.metrics)
        for k in self.ks:
            for name, vec in cutoff_metrics(hits, n_rel, k, names).items():
                out[f"{name}@{k}"] = vec
        order = [f"{m}@{k}" for m in self.metrics if m != "auc" for k in self.ks]
        out = {key: out[key] for key in order}
        if "auc" in self.metrics:
            out["auc"] = auc(scores, rr, rc, n_excl)
        del scores
        if acc is not None:
            out.update(acc.update(top, top_val > float("-inf")))
        return {k: v.detach().cpu().numpy().astype(np.float64) for k, v in out.items()}


def evaluate(
    model: Recommender, train: Interactions, test: Interactions, *, ks: Iterable[int] = (20,), **kwargs: Any
) -> EvalResult:
    """Shortcut for ``Evaluator(ks, **kwargs).evaluate(model, train, test)``."""
    return Evaluator(ks, **kwargs).evaluate(model, train, test)


def evaluate_split(
    model: Recommender,
    split: Split,
    part: str = "test",
    *,
    exclude: Interactions | None = None,
    **kwargs: Any,
) -> EvalResult:
    """Evaluate on ``split.valid`` or ``split.test``, excluding what the model was fit on.

    Parameters
    ----------
    model
        Fitted recommender.
    split
        The split.
    part
        ``"valid"`` (tuning: the model was fit on ``split.train``) or ``"test"``
        (final: the model was refit on ``split.train_full()``, train plus valid).
    exclude
        The interactions masked from ranking; should be exactly what the model
        was fit on. Defaults: ``split.train`` for ``"valid"``,
        ``split.train_full()`` for ``"test"``. Pass ``exclude=split.train`` to
        test a model fit on train only without masking the validation items.
    **kwargs
        :class:`Evaluator` parameters (``ks``, ``metrics``, ``chunk_size`` ...).
    """
    if part == "valid":
        if split.valid is None:
            raise LeakageError(f"split {split.name!r} has no validation part to evaluate on")
        target, default = split.valid, split.train
    elif part == "test":
        target, default = split.test, split.train_full()
    else:
        raise ConfigError(f"part must be 'valid' or 'test', got {part!r}")
    ks = kwargs.pop("ks", (20,))
    return Evaluator(ks, **kwargs).evaluate(model, default if exclude is None else exclude, target)


# ----------------------------------------------------------------- helpers
def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    try:
        out = tuple(sorted({int(k) for k in ks}))
    except (TypeError, ValueError):
        raise ConfigError(f"ks must be positive integers, got {ks!r}") from None
    if not out or out[0] < 1:
        raise ConfigError(f"ks must be a non-empty set of positive integers, got {ks!r}")
    return out


def _check_candidates(candidates: np.ndarray) -> np.ndarray:
    """Sorted unique int64 item indices; ConfigError unless a non-empty 1-D index array."""
    c = np.asarray(candidates)
    if c.ndim != 1 or not len(c) or not np.issubdtype(c.dtype, np.integer):
        raise ConfigError(f"candidates must be a non-empty 1-D array of item indices, got shape {c.shape} "
                          f"and dtype {c.dtype}")
    if c.min() < 0:
        raise ConfigError(f"candidates: negative item index {int(c.min())}")
    return np.unique(c).astype(np.int64)


def _restrict(
    rel: sp.csr_matrix, candidates: np.ndarray | None, n_items: int
) -> tuple[sp.csr_matrix, torch.Tensor | None]:
    """Test pairs among the candidates only, and the ``(n_items,)`` mask of blocked items (or None)."""
    if candidates is None:
        return rel, None
    if candidates[-1] >= n_items:
        raise DataError(f"candidates: item index {int(candidates[-1])} is outside the {n_items} items")
    allowed = np.zeros(n_items, dtype=bool)
    allowed[candidates] = True
    keep = allowed[rel.indices]
    rows = np.repeat(np.arange(rel.shape[0]), np.diff(rel.indptr))
    out = sp.csr_matrix((rel.data[keep], (rows[keep], rel.indices[keep])), shape=rel.shape)
    out.sort_indices()
    return out, torch.from_numpy(~allowed)


def _check_spaces(model: Recommender, train: Interactions, test: Interactions) -> tuple[int, int]:
    if not model.is_fitted:
        raise AdvrecError(f"{model.name}: the model is not fitted; call fit() or load() first")
    space = (model.n_users, model.n_items)
    for label, part in (("train/exclude", train), ("test", test)):
        if (part.n_users, part.n_items) != space:
            raise DataError(
                f"{label} {part.name!r} has id space {(part.n_users, part.n_items)} but the model "
                f"{model.name!r} was fit on {space}"
            )
    return space


def _nanmean(v: np.ndarray) -> float:
    ok = np.isfinite(v)
    return float(v[ok].mean()) if ok.any() else float("nan")
