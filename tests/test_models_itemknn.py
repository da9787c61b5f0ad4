"""ItemKNN: hand-computed similarities, shrinkage, top-k truncation, weighting, contract."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from contract import check_contract

from advrec.data import Interactions
from advrec.errors import ConfigError
from advrec.models import create
from advrec.models.itemknn import bm25_weights, item_similarity, tfidf_weights

# 4 users x 3 items. Item columns: i0 = {u0, u1, u3}, i1 = {u0, u1, u2}, i2 = {u1, u2}.
# Dot products: <0,1> = 2, <0,2> = 1, <1,2> = 2; squared norms 3, 3, 2.
X = np.array([[1, 1, 0], [1, 1, 1], [0, 1, 1], [1, 0, 0]], dtype=np.float32)


def _inter(x: np.ndarray) -> Interactions:
    u, i = np.nonzero(x)
    ids = {"user_ids": np.arange(x.shape[0]), "item_ids": np.arange(x.shape[1])}
    return Interactions.from_records(u, i, x[u, i], **ids)


def test_similarity_by_hand_with_shrink_and_topk():
    r6 = np.sqrt(6.0)
    s01, s02, s12 = 2 / (3 + 1), 1 / (r6 + 1), 2 / (r6 + 1)  # shrink = 1
    full = item_similarity(sp.csr_matrix(X), k=2, shrink=1.0).toarray()
    expected = np.array([[0, s01, s02], [s01, 0, s12], [s02, s12, 0]])
    np.testing.assert_allclose(full, expected, rtol=1e-6)
    # k = 1: column j keeps only its best neighbour: col0 -> i1 (0.5 > 0.29),
    # col1 -> i2 (0.58 > 0.5), col2 -> i1 (0.58 > 0.29).
    top1 = item_similarity(sp.csr_matrix(X), k=1, shrink=1.0).toarray()
    expected1 = np.zeros((3, 3))
    expected1[1, 0], expected1[2, 1], expected1[1, 2] = s01, s12, s12
    np.testing.assert_allclose(top1, expected1, rtol=1e-6)
    # without shrinkage the plain cosine
    plain = item_similarity(sp.csr_matrix(X), k=2, shrink=0.0).toarray()
    np.testing.assert_allclose(plain[0, 1], 2 / 3, rtol=1e-6)
    np.testing.assert_allclose(plain[1, 2], 2 / r6, rtol=1e-6)


def test_model_scores_sum_neighbour_similarities():
    model = create("itemknn", k=1, shrink=1.0).fit(_inter(X))
    s01, s12 = 0.5, 2 / (np.sqrt(6.0) + 1)
    np.testing.assert_allclose(model.similarity_.toarray()[1, 0], s01, rtol=1e-6)
    scores = model.score([0, 3]).numpy()
    # user 0 holds items 0 and 1: rows 0 + 1 of S; user 3 holds item 0 only (row 0 is empty).
    np.testing.assert_allclose(scores[0], [s01, 0.0, s12], rtol=1e-6)
    np.testing.assert_allclose(scores[1], [0.0, 0.0, 0.0])


def test_asymmetric_cosine_and_dot_product():
    a1 = item_similarity(sp.csr_matrix(X), k=2, shrink=0.0, alpha=1.0).toarray()
    # alpha = 1: <x_i, x_j> / ||x_i||^2, i the neighbour (row)
    np.testing.assert_allclose(a1[2, 1], 2 / 2, rtol=1e-6)
    np.testing.assert_allclose(a1[1, 2], 2 / 3, rtol=1e-6)
    dot = item_similarity(sp.csr_matrix(X), k=2, shrink=5.0, normalize=False).toarray()
    np.testing.assert_allclose(dot, [[0, 2, 1], [2, 0, 2], [1, 2, 0]])


def test_blocks_do_not_change_the_result(synthetic):
    x = synthetic.binary_csr
    one = item_similarity(x, k=7, shrink=3.0, block_cells=x.shape[1])  # one column per block
    big = item_similarity(x, k=7, shrink=3.0)
    np.testing.assert_array_equal(one.toarray(), big.toarray())
    assert np.all(np.diff(big.tocsc().indptr) <= 7)
    assert np.all(big.diagonal() == 0)


def test_feature_weighting_by_hand():
    x = sp.csr_matrix(X)
    n_items, df = 3, np.array([2, 3, 2, 1.0])  # items per user
    idf = np.log((1 + n_items) / (1 + df)) + 1
    np.testing.assert_allclose(tfidf_weights(x).toarray(), X * idf[:, None], rtol=1e-6)
    k1, b = 1.2, 0.75
    length = X.sum(axis=0)  # item lengths 3, 3, 2
    bidf = np.log1p((n_items - df + 0.5) / (df + 0.5))
    tf = (k1 + 1) / (1 + k1 * (1 - b + b * length / length.mean()))
    expected = X * tf[None, :] * bidf[:, None]
    np.testing.assert_allclose(bm25_weights(x, k1, b).toarray(), expected, rtol=1e-6)


@pytest.mark.parametrize(
    "params",
    [{}, {"feature_weighting": "bm25", "k": 5}, {"feature_weighting": "tfidf", "binary": False},
     {"asymmetric_alpha": 0.8, "normalize": True, "block_cells": 50}],
)
def test_itemknn_contract(synthetic, tmp_path, params):
    check_contract("itemknn", synthetic, tmp_path, **params)


def test_raw_values_change_scores(synthetic):
    binary = create("itemknn").fit(synthetic).score([0]).numpy()
    raw = create("itemknn", binary=False).fit(synthetic).score([0]).numpy()
    assert not np.allclose(binary, raw)


def test_bad_params_are_config_errors():
    with pytest.raises(ConfigError, match="feature_weighting"):
        create("itemknn", feature_weighting="bm26")
    with pytest.raises(ConfigError, match="k"):
        create("itemknn", k=0)
    with pytest.raises(ConfigError, match="shrink"):
        create("itemknn", shrink=-1.0)
