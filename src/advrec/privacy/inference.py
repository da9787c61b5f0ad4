"""Attribute inference: how well private attributes can be read off what a model learned or shows.

An attacker who knows the attribute of some users trains a classifier on what the model gives
away about them and predicts it for the others. :func:`attribute_audit` plays that attacker
against a fitted model, for each attribute, from several *feature sources*:

``embeddings``
    The model's user vectors (models with the ``embeddings`` capability): what leaks if the
    embedding table is published or stolen.
``encodings``
    The latent code each user is scored from, for models with an encoder instead of an embedding
    table (capability ``encoder``: Mult-VAE's encoder means, which its adversary heads read).
``scores``
    Each user's full score vector over the items, for models with neither (their learned user
    representation is the scores they produce).
``recommendations``
    A multi-hot vector of the user's top-``k`` list (training items excluded, as served): what
    any observer of the recommendations sees.
``raw``
    A multi-hot vector of the items the user has in the training data: the leakage already in
    the raw data, the ceiling of what a model could leak from it.

Two attackers are trained afresh on each source, after the model is trained: a logistic
regression (L2, ``C = 0.005``: stronger regularisation than scikit-learn's default gave higher
AUCs on every source of ML-100K) and a small MLP (one hidden layer of 64 units, early stopping on
a stratified 15% of the training fold), both on standardised inputs and seeded. Users are split by stratified K-fold; every user is predicted by the fold
model that did not see them, and those out-of-fold probabilities are scored by ROC AUC (binary,
or the macro one-vs-rest mean over the classes for more than two) with a 95% percentile-bootstrap
interval over users (:mod:`advrec.privacy.auc`). The accuracy of the most likely class is
reported next to it. On the model's own representation (``embeddings`` / ``scores``), each fold's
attacker checks itself on its own training users first and reads a class backwards when it ranks
it below chance there (:func:`out_of_fold_proba`): the signature of a representation trained to
hide the attribute, which still leaks it inverted.
"""

from __future__ import annotations

import hashlib
import warnings
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import numpy as np
import scipy.sparse as sp

from advrec.data.interactions import Interactions
from advrec.errors import CapabilityError, DataError
from advrec.models.base import Recommender
from advrec.privacy.attributes import AttributeLabels, attribute_labels
from advrec.privacy.auc import auc_ci, bootstrap_counts

__all__ = ["ATTACKERS", "SOURCES", "attribute_audit", "feature_sources", "out_of_fold_proba"]

#: feature sources, in the order they are reported
SOURCES = ("embeddings", "encodings", "scores", "recommendations", "raw")
#: the sources that are a model's own user representation, in order of preference
OWN_SOURCES = ("embeddings", "encodings", "scores")
#: attackers trained on each source
ATTACKERS = ("logreg", "mlp")
#: users scored per chunk when building score and recommendation features
CHUNK_USERS = 2048
#: the fewest users a class needs to be audited (with fewer folds than this)
MIN_CLASS_USERS = 4
#: attack results kept in memory (:func:`_attack`, a few hundred bytes each), keyed by a hash of the inputs
MEMO_SIZE = 1024
_MEMO: OrderedDict[bytes, dict[str, Any]] = OrderedDict()


def attribute_audit(model: Recommender, data: Interactions, attributes: Sequence[str], *, seed: int = 0,
                    folds: int = 5, bootstrap: int = 1000, k: int = 20) -> dict[str, dict[str, Any]]:
    """Attribute-inference audit of a fitted model: per attribute, how well attackers predict it.

    Parameters
    ----------
    model
        A fitted model.
    data
        The model's training data, with a user side table holding the attributes.
    attributes
        Attribute names (``gender``, ``age``, ``occupation``).
    seed
        Seed of the folds, the attackers and the bootstrap.
    folds
        Stratified folds over users (at least 2). Classes with fewer users than ``folds`` (or
        than 4: the MLP's stratified early-stopping split needs two per class) are left out of
        the audit of that attribute.
    bootstrap
        Resamples of the users for the 95% interval (0: none).
    k
        Length of the recommendation lists of the ``recommendations`` source.

    Returns
    -------
    dict
        Attribute name -> ``{"auc", "ci", "attacker", "source", "majority", "n_users",
        "n_classes", "classes", "sources"}``. ``auc`` / ``ci`` / ``attacker`` are those of the
        stronger attacker on the model's own representation (source ``embeddings``, else
        ``encodings``, else ``scores``: the first the model has); ``sources`` holds every source and attacker
        as ``{"auc", "ci", "accuracy"}``. ``majority`` is the share of the most frequent class
        among the audited users: the accuracy of the attacker that always guesses it, whose AUC
        is 0.5 by definition (it gives every user the same score), so the AUCs compare to 0.5
        and the accuracies to ``majority``.

    Raises
    ------
    DataError
        Without a user side table or the attribute's column, or with fewer than two classes
        of at least ``folds`` users.
    """
    if folds < 2:
        raise DataError(f"attribute audit: folds must be at least 2, got {folds}")
    if model.n_users != data.n_users or model.n_items != data.n_items:
        raise DataError(f"attribute audit: {data.name!r} has {data.n_users} users / {data.n_items} items, the "
                        f"model {model.name!r} {model.n_users} / {model.n_items}: pass its training data")
    labels = {name: attribute_labels(data, name) for name in attributes}
    active = data.user_counts() > 0
    known = np.zeros(data.n_users, bool)
    for lab in labels.values():
        known |= lab.labels >= 0
    users = np.flatnonzero(active & known)
    feats = feature_sources(model, data, users, k=k)
    own = next(source for source in OWN_SOURCES if source in feats)
    out: dict[str, dict[str, Any]] = {}
    for name, lab in labels.items():
        rows, y, classes = _audited(lab, users, folds)
        counts = bootstrap_counts(len(y), bootstrap, seed)
        sources: dict[str, dict[str, dict[str, Any]]] = {}
        for source, x in feats.items():
            sources[source] = {}
            for attacker in ATTACKERS:
                # only the model's own representation is trained against an adversary, so only there
                # may an attacker learn backwards (the check costs three inner fits per fold)
                sources[source][attacker] = _attack(x[rows], y, attacker, folds=folds, seed=seed,
                                                    flip=source == own, bootstrap=bootstrap, counts=counts)
        best = max(ATTACKERS, key=lambda a: _finite(sources[own][a]["auc"]))
        out[name] = {"auc": sources[own][best]["auc"], "ci": sources[own][best]["ci"], "attacker": best,
                     "source": own, "majority": float(np.bincount(y).max() / len(y)), "n_users": len(y),
                     "n_classes": len(classes), "classes": list(classes), "sources": sources}
    return out


def _attack(x: np.ndarray, y: np.ndarray, attacker: str, *, folds: int, seed: int, flip: bool, bootstrap: int,
            counts: np.ndarray | None) -> dict[str, Any]:
    """``{"auc", "ci", "accuracy"}`` of one attacker, memoised on the inputs' contents: the ``raw``
    source is the same for every model of a data set and seed, so audits of several models (a
    trade-off curve, a benchmark's runs) attack it once."""
    h = hashlib.blake2b(digest_size=16)
    for part in (x, y):
        h.update(str((part.dtype, part.shape)).encode())
        h.update(np.ascontiguousarray(part).view(np.uint8))
    h.update(f"{attacker}|{folds}|{seed}|{flip}|{bootstrap}".encode())
    key = h.digest()
    if key in _MEMO:
        _MEMO.move_to_end(key)
    else:
        proba = out_of_fold_proba(x, y, attacker, folds=folds, seed=seed, flip=flip)
        auc, ci = auc_ci(proba, y, bootstrap=bootstrap, seed=seed, counts=counts)
        _MEMO[key] = {"auc": auc, "ci": ci, "accuracy": float((proba.argmax(axis=1) == y).mean())}
        while len(_MEMO) > MEMO_SIZE:
            _MEMO.popitem(last=False)
    got = _MEMO[key]
    return {**got, "ci": list(got["ci"])}


def _finite(v: float) -> float:
    return v if np.isfinite(v) else -np.inf


def _audited(lab: AttributeLabels, users: np.ndarray, folds: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Positions in ``users`` of the audited users, their classes re-indexed ``0..c-1``, the class names."""
    y_all = lab.labels[users]
    size = np.bincount(y_all[y_all >= 0], minlength=lab.n_classes)
    least = max(folds, MIN_CLASS_USERS)
    kept = np.flatnonzero(size >= least)
    if len(kept) < 2:
        raise DataError(f"attribute audit: {lab.name!r} needs at least two classes of at least {least} users "
                        f"among the users with records; class sizes: "
                        f"{dict(zip(lab.classes, size.tolist(), strict=True))}")
    remap = np.full(lab.n_classes, -1, np.int64)
    remap[kept] = np.arange(len(kept))
    y = np.where(y_all >= 0, remap[np.maximum(y_all, 0)], -1)
    rows = np.flatnonzero(y >= 0)
    return rows, y[rows], [lab.classes[c] for c in kept]


def feature_sources(model: Recommender, data: Interactions, users: np.ndarray, *, k: int = 20) -> dict[str, np.ndarray]:
    """Attacker inputs of ``users``, by source: the model's own representation (``embeddings``,
    else ``encodings``, else ``scores``), ``recommendations``, ``raw``.

    Every source is a dense float32 ``(len(users), d)`` matrix; the multi-hot sources keep only
    the items that occur among ``users`` (an all-zero column tells an attacker nothing).
    """
    out: dict[str, np.ndarray] = {}
    if _has(model, "embeddings"):
        out["embeddings"] = model.embeddings()[0][users].cpu().numpy().astype(np.float32)
    elif _has(model, "encoder"):
        out["encodings"] = np.concatenate([model.encode_users(c).cpu().numpy() for c in _chunks(users)]).astype(
            np.float32)
    else:
        out["scores"] = np.concatenate([model.score(c).cpu().numpy() for c in _chunks(users)]).astype(np.float32)
    k = min(int(k), model.n_items)
    top = np.concatenate([model.recommend(c, k=k, exclude_seen=True)[0] for c in _chunks(users)]) if len(users) \
        else np.zeros((0, k), np.int64)
    rec = sp.csr_matrix((np.ones(top.size, np.float32), (np.repeat(np.arange(len(users)), k), top.ravel())),
                        shape=(len(users), model.n_items))
    out["recommendations"] = _multi_hot(rec)
    out["raw"] = _multi_hot(data.binary_csr[users])
    return out


def _has(model: Recommender, capability: str) -> bool:
    try:
        model.require(capability)
    except CapabilityError:
        return False
    return True


def _chunks(users: np.ndarray) -> list[np.ndarray]:
    return [users[a:a + CHUNK_USERS] for a in range(0, len(users), CHUNK_USERS)]


def _multi_hot(rows: sp.csr_matrix) -> np.ndarray:
    rows = sp.csr_matrix(rows, dtype=np.float32)
    rows.data[:] = 1.0
    used = np.flatnonzero(rows.getnnz(axis=0))
    return np.asarray(rows[:, used].toarray(), np.float32)


def _attacker(kind: str, seed: int) -> Any:
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "logreg":
        clf = LogisticRegression(C=0.005, max_iter=500)
    elif kind == "mlp":
        clf = MLPClassifier(hidden_layer_sizes=(64,), alpha=1e-2, learning_rate_init=1e-3, max_iter=200,
                            early_stopping=True, validation_fraction=0.15, n_iter_no_change=10, random_state=seed)
    else:
        raise ValueError(f"unknown attacker {kind!r}; known: {ATTACKERS}")
    return make_pipeline(StandardScaler(), clf)


def out_of_fold_proba(x: np.ndarray, y: np.ndarray, attacker: str, *, folds: int = 5, seed: int = 0,
                      flip: bool = True) -> np.ndarray:
    """``(n, c)`` class scores of every user from the fold model that did not train on them.

    With ``flip``, each fold first cross-validates a logistic regression on its own training users
    (3 inner folds) and the attacker turns round every class whose inner AUC is below 0.5 (its
    score becomes ``1 - p``). A representation trained to equalise the classes over *all* users (adversarial
    removal) makes any attacker learn the attribute backwards: the class difference on its
    training users is minus that on the others, so its AUC on them falls below 0.5 (0.25-0.30
    measured on ML-100K), which is leakage all the same; an attacker who checks itself on held-out
    users of its own notices and flips. Without anti-learning the inner AUC is above 0.5 and
    nothing changes; under no signal at all, flips are coin tosses and the AUC stays near 0.5.

    Parameters
    ----------
    x, y
        Inputs ``(n, d)`` and classes ``0..c-1`` (every class with at least ``folds`` users).
    attacker
        ``"logreg"`` or ``"mlp"`` (see :data:`ATTACKERS`).
    folds, seed
        Stratified K-fold over users, shuffled by ``seed``; ``seed`` also seeds the MLP.
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import StratifiedKFold

    n_classes = int(y.max()) + 1
    proba = np.zeros((len(y), n_classes))
    cv = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_rows, test_rows in cv.split(x, y):
        clf = _attacker(attacker, seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x[fit_rows], y[fit_rows])
        got = clf.predict_proba(x[test_rows])
        if flip:
            turn = _backwards(x[fit_rows], y[fit_rows], seed)[clf.classes_]
            got[:, turn] = 1.0 - got[:, turn]
        proba[np.ix_(test_rows, clf.classes_)] = got
    return proba


def _backwards(x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Per class (``0..max(y)``): whether logistic regression, cross-validated on these users (3
    folds), ranks the class below chance (one-vs-rest AUC < 0.5). Two classes flip together. Both
    attackers take the linear check: anti-learning comes from class means equalised over all
    users, which a linear attacker shows, and an inner MLP per fold made audits of 1682-dimensional
    score vectors several times slower."""
    from advrec.privacy.auc import weighted_auc

    n_classes = int(y.max()) + 1
    try:
        inner = out_of_fold_proba(x, y, "logreg", folds=3, seed=seed, flip=False)
    except ValueError:  # a class too small for the inner folds: trust the attacker as trained
        return np.zeros(n_classes, bool)
    ones = np.ones((1, len(y)))
    aucs = np.array([weighted_auc(inner[:, c], y == c, ones)[0] for c in range(n_classes)])
    return np.nan_to_num(aucs, nan=0.5) < 0.5
