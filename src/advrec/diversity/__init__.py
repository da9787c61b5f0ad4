"""Diversity: re-rankers over any recommender (MMR, fast greedy DPP) and their evaluation."""

from advrec.diversity.evaluate import RerankedView, evaluate_reranked, intra_list_distance
from advrec.diversity.rerank import dpp, mmr, rerank

__all__ = ["RerankedView", "dpp", "evaluate_reranked", "intra_list_distance", "mmr", "rerank"]
