"""CFGAN (Chae et al., CIKM 2018), whole: the model, its config, networks, masks, prior and sampled game.

========================  =====================================================
``model``                 :class:`CFGAN`, the recommender (game, blend, fold-in)
``config``                :class:`CFGANConfig`, every hyper-parameter
``networks``              dense generator / discriminator and the row store
``sampled``               the sampled game for large catalogues (sparse tables)
``masks``                 seeded ZR / PM masks of unobserved items
``prior``                 the EASE^R / ItemKNN prior and blend
========================  =====================================================
"""

from advrec.models.cfgan.config import CFGANConfig
from advrec.models.cfgan.model import CFGAN, blend, standardise

__all__ = ["CFGAN", "CFGANConfig", "blend", "standardise"]
