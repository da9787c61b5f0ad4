"""Generic adversarial training: losses, the min-max step, generator heads, diagnostics.

Nothing here knows about recommenders: the recommender base of adversarial models
(:class:`advrec.models.gan_base.GANRecommender`) lives in :mod:`advrec.models.gan_base`.
"""

from advrec.gan.diagnostics import (
    binarize_topk,
    catalogue_coverage,
    js_divergence,
    mean_pairwise_distance,
    popularity_js,
    profile_diagnostics,
)
from advrec.gan.heads import GaussianHead, GaussianSample, kl_standard_normal
from advrec.gan.losses import GANLoss, gradient_penalty
from advrec.gan.trainer import DOut, GOut, MinMaxProblem, MinMaxSettings, minmax_epoch

__all__ = [
    "DOut",
    "GANLoss",
    "GOut",
    "GaussianHead",
    "GaussianSample",
    "MinMaxProblem",
    "MinMaxSettings",
    "binarize_topk",
    "catalogue_coverage",
    "gradient_penalty",
    "js_divergence",
    "kl_standard_normal",
    "mean_pairwise_distance",
    "minmax_epoch",
    "popularity_js",
    "profile_diagnostics",
]
