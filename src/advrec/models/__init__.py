"""Recommenders: the contract, the registry and the baselines."""

from advrec.models.base import ModelConfig, Recommender
from advrec.models.registry import available, create, get_model_class

__all__ = ["ModelConfig", "Recommender", "available", "create", "get_model_class"]
