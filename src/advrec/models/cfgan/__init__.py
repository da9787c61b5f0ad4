"""CFGAN (Chae et al., CIKM 2018), whole: the model, its config, networks, masks, prior and sampled game.

========================  =====================================================
``model``                 :class:`CFGAN`, the recommender: build, prior, save / load
``game``                  its per-epoch game: batches, D and G losses, diagnostics
``scoring``               its scores: generator, blend with the prior, fold-in
``blend_choice``          its choice of the blend weight on validation data
``config``                :class:`CFGANConfig`, every hyper-parameter
``networks``              dense generator / discriminator and the row store
``sampled``               the sampled game for large catalogues (column pools)
``sparse_networks``       per-column table networks of the sampled game
``masks``                 seeded ZR / PM masks of unobserved items
``prior``                 the EASE^R / ItemKNN prior and blend
========================  =====================================================
"""

from advrec.models.cfgan.config import CFGANConfig
from advrec.models.cfgan.model import CFGAN
from advrec.models.cfgan.prior import blend, standardise

__all__ = ["CFGAN", "CFGANConfig", "blend", "standardise"]
