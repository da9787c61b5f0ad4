"""Full-ranking evaluation streamed over chunks of users: :class:`Evaluator`."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.data.splits.split import Split
from advrec.errors import AdvrecError, ConfigError, DataError, LeakageError
from advrec.eval.beyond import BeyondAccumulator, normalise_features
from advrec.eval.inputs import check_candidates, check_ks, check_spaces
from advrec.eval.metrics import DEFAULT_METRICS, finite_scores, relevant_matrix
from advrec.eval.ranking import chunk_metrics, restrict_to_candidates
from advrec.eval.result import EvalResult, nanmean
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
        self.ks = check_ks(ks)
        self.candidates = None if candidates is None else check_candidates(candidates)
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
        n_users, n_items = check_spaces(model, train, test)
        if max(self.ks) > n_items:
            raise ConfigError(f"ks: cutoff {max(self.ks)} exceeds the number of items ({n_items})")
        excl = train.binary_csr
        rel = relevant_matrix(test.binary_csr, excl, test.name, train.name)
        rel, blocked = restrict_to_candidates(rel, self.candidates, n_items)
        users = np.flatnonzero(np.diff(rel.indptr) > 0).astype(np.int64)
        if not len(users):
            among = "" if self.candidates is None else f" among the {len(self.candidates)} candidate items"
            raise DataError(f"{test.name}: no user has a test item outside {train.name!r}{among}; "
                            "nothing to evaluate")
        new_accumulator = self._accumulator_factory(excl, n_items)
        accs: dict[Hashable, BeyondAccumulator | None] = {}
        step = self.chunk_users(n_items)
        parts: dict[Hashable, dict[str, list[np.ndarray]]] = {}
        for chunk in self._chunks(users, step, model.name):
            for var, scores in variants(chunk):
                if var not in accs:
                    accs[var] = new_accumulator()
                if tuple(scores.shape) != (len(chunk), n_items):
                    raise AdvrecError(f"{model.name}: variant {var!r} scored shape {tuple(scores.shape)}, "
                                      f"expected {(len(chunk), n_items)}")
                scores = finite_scores(model, chunk, scores)
                got = chunk_metrics(scores, chunk, excl, rel, self.ks, self.metrics, accs[var], blocked)
                for key, vec in got.items():
                    parts.setdefault(var, {}).setdefault(key, []).append(vec)
                del scores
        meta = {"model": model.name, "test": test.name, "exclude": train.name, "chunk_size": step}
        return {var: self._result(var, got, accs[var], users, (n_users, n_items), meta, start)
                for var, got in parts.items()}

    def _accumulator_factory(self, excl: sp.csr_matrix, n_items: int) -> Callable[[], BeyondAccumulator | None]:
        """A maker of one beyond-accuracy accumulator per variant (None without beyond metrics)."""
        feats = None
        if self.beyond and self.item_features is not None:
            feats = normalise_features(self.item_features, n_items)
        item_users = np.bincount(excl.indices, minlength=n_items)
        n_train_users = int(np.count_nonzero(np.diff(excl.indptr)))

        def make() -> BeyondAccumulator | None:
            if not self.beyond:
                return None
            return BeyondAccumulator(self.ks, item_users, n_train_users, feats, catalogue=self.candidates)

        return make

    def _chunks(self, users: np.ndarray, step: int, model_name: str) -> Iterator[np.ndarray]:
        """``users`` in chunks of ``step``, under a progress bar if asked."""
        starts: Iterable[int] = range(0, len(users), step)
        if self.show_progress:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc=f"evaluate {model_name}", unit="chunk")
        for s in starts:
            yield users[s : s + step]

    def _result(
        self,
        var: Hashable,
        got: dict[str, list[np.ndarray]],
        acc: BeyondAccumulator | None,
        users: np.ndarray,
        space: tuple[int, int],
        meta: dict[str, Any],
        start: float,
    ) -> EvalResult:
        """The :class:`EvalResult` of one variant from its per-chunk vectors."""
        per_user = {k: np.concatenate(v) for k, v in got.items()}
        if any(len(v) != len(users) for v in per_user.values()):
            raise AdvrecError(f"{meta['model']}: variant {var!r} was not yielded for every chunk of users")
        summary = {k: nanmean(v) for k, v in per_user.items()}
        if acc is not None:
            summary.update(acc.finish())
        meta = {**meta, "seconds": round(time.perf_counter() - start, 3)}
        if self.candidates is not None:
            meta["n_candidates"] = len(self.candidates)
        if var is not None:
            meta["variant"] = var
        return EvalResult(users, per_user, summary, self.ks, space[0], space[1], meta)


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
