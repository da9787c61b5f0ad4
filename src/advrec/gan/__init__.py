"""Generic adversarial training: losses, the min-max step, generator heads, diagnostics.

Import :class:`advrec.gan.base.GANRecommender` / :class:`advrec.gan.base.GANConfig`
from :mod:`advrec.gan.base` (kept out of this namespace to avoid importing the
models package here).
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
