"""Hyper-parameters of :class:`~advrec.models.cfgan.CFGAN` (the original code's ML-100K values)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from advrec.models.gan_base import GANConfig

__all__ = ["CFGANConfig"]


class CFGANConfig(GANConfig):
    """Hyper-parameters of :class:`CFGAN`; defaults are the original code's ML-100K values.

    Sources: ``parameters.py`` (``benchmark == "ML100K"``) of the authors' release
    (www.agape.hanyang.ac.kr/cfgan, mirrored at github.com/Bigdasgit/CFGAN), the
    same values in ``get_cfgan_code_hyper_parameters`` of the ECIR 2022 study's
    code (Perez Maurera, Ferrari Dacrema, Cremonesi). See docs/models/cfgan.md.
    """

    mode: Literal["user", "item"] = "item"
    """Rows are users (vectors over items) or items (vectors over users). Code: itemBased."""
    scheme: Literal["ZR", "PM", "ZP"] = "ZP"
    """Zero-reconstruction, partial masking, or both. Code: ZP."""
    zr_ratio: float = Field(0.7, ge=0, le=1)
    """Fraction of a row's unobserved entries in N^ZR each epoch. Code: ZR_ratio = 70 (%)."""
    pm_ratio: float = Field(0.7, ge=0, le=1)
    """Fraction of a row's unobserved entries in N^PM each epoch. Code: ZP_ratio = 70 (%)."""
    alpha: float = Field(0.03, ge=0)
    """ZR coefficient. Code: ZR_coefficient = 0.03 (the ECIR study reads 0.1 from the paper)."""
    g_hidden: list[int] = Field(default_factory=lambda: [400])
    """Generator hidden layers. Code: hiddenDim_G = 400, hiddenLayer_G = 1."""
    d_hidden: list[int] = Field(default_factory=lambda: [125])
    """Discriminator hidden layers. Code: hiddenDim_D = 125, hiddenLayer_D = 1."""
    activation: Literal["sigmoid", "tanh", "relu"] = "sigmoid"
    """Hidden activation of both networks (outputs are linear). Code: sigmoid."""
    adversarial: bool = True
    """False: no discriminator; the generator minimises a masked reconstruction (ablation)."""
    prior: Literal["none", "ease", "itemknn"] = "none"
    """A linear item model fit on the same training data, combined with the generator (advrec's
    extension; not in the paper): ``"ease"`` (EASE^R, ``prior_l2``) or ``"itemknn"`` (ItemKNN
    with ``prior_params``; sparse, for catalogues too large for EASE^R; blend mode only)."""
    prior_params: dict[str, Any] = Field(default_factory=dict)
    """Hyper-parameters of the ``"itemknn"`` prior (e.g. its validation-chosen ``k``, ``shrink``)."""
    prior_l2: float = Field(400.0, gt=0)
    """L2 weight of the EASE^R prior."""
    prior_precision: Literal["float64", "float32"] = "float64"
    """Arithmetic of the prior's inverse (``"float32"``: a third of the memory; see EASE)."""
    prior_topk: int | None = Field(None, ge=1)
    """Keep only the ``k`` largest-magnitude EASE^R weights per item (a sparse prior for large
    catalogues, blend mode only); None keeps them all."""
    prior_weight: float = Field(0.5, ge=0)
    """``prior_mode="residual"``: scale of the prior in the generator's output.
    ``"blend"``: weight ``w`` of the prior in ``(1 - w) z(G) + w z(prior)`` (``<= 1``)."""
    prior_mode: Literal["residual", "blend"] = "blend"
    """``"residual"``: the generator outputs ``prior + MLP`` in the game (the MLP starts at 0).
    ``"blend"``: the game is plain CFGAN; recommendations blend the per-user standardised scores of
    the generator and the prior. A fit with validation data picks ``w`` on it (a grid of 21 values)."""
    blend_select: Literal["generator", "blend"] = "generator"
    """Blend mode with validation data: what early stopping follows. ``"generator"``: the
    generator alone, then ``w`` is chosen for the restored generator. ``"blend"``: at each
    evaluation the best blend with ``w < 1`` (one that uses the generator), so the rounds are
    chosen for the blend (a generator that is weaker alone may complement the prior better);
    ``w`` is then chosen among all 21 weights."""
    negatives: int | None = Field(None, ge=1)
    """None: the paper's dense game (whole rows, ZR/PM masks over all unobserved entries).
    An integer ``m``: the sampled game for large catalogues (advrec's extension): each mini-batch
    draws ``m`` columns, the rows' ZR/PM negatives are drawn among them (ZR reweighted to its
    dense expectation) and the networks are evaluated on observed entries and these columns
    only, so a step costs ``batch x (observed + m) x hidden``. See
    :mod:`advrec.models.cfgan.sampled`."""
    table_lr_scale: float = Field(1.0, gt=0)
    """Sampled game only: the per-column tables learn at ``lr x table_lr_scale`` (``lr_d x ...`` in
    D). A column's rows are updated only in mini-batches whose pool or observed entries hold it,
    about ``m / columns`` of them, so with small pools they move far less per round than the dense
    game's weights; a scale near ``columns / m`` compensates (choose it on validation)."""
    epochs: int = Field(250, ge=1)
    """Rounds of (d_steps D passes, g_steps G passes). Code: epochs = 1000 G passes / step_G = 4."""
    batch_size: int = Field(32, ge=1)
    """Generator batch. Code: batchSize_G = 32."""
    batch_size_d: int = Field(64, ge=1)
    """Discriminator batch. Code: batchSize_D = 64."""
    lr: float = Field(1e-4, gt=0)
    """Generator learning rate (Adam). Code: lr_G = 0.0001."""
    lr_d: float = Field(1e-4, gt=0)
    """Discriminator learning rate (Adam). Code: lr_D = 0.0001."""
    l2: float = Field(1e-3, ge=0)
    """Generator L2 (``l2 * l2_loss``). Code: reg_G = 0.001."""
    l2_d: float = Field(0.0, ge=0)
    """Discriminator L2. Code: reg_D = 0."""
    g_steps: int = Field(4, ge=1)
    """Generator passes per round. Code: step_G = 4."""
    d_steps: int = Field(2, ge=0)
    """Discriminator passes per round. Code: step_D = 2."""

    @model_validator(mode="after")
    def _blend_weight_ok(self) -> CFGANConfig:
        if self.prior_mode == "blend" and self.prior_weight > 1:
            raise ValueError(f"prior_weight must be <= 1 with prior_mode='blend', got {self.prior_weight}")
        if self.prior == "itemknn" and self.prior_mode == "residual":
            raise ValueError("prior='itemknn' works with prior_mode='blend', not 'residual'")
        if self.prior_params and self.prior != "itemknn":
            raise ValueError("prior_params are the itemknn prior's; set prior='itemknn' or drop them")
        if self.prior_topk is not None and self.prior_mode == "residual":
            raise ValueError("prior_topk (a sparse prior) works with prior_mode='blend', not 'residual'")
        if self.negatives is not None and self.prior != "none" and self.prior_mode == "residual":
            raise ValueError("negatives (the sampled game) works with prior_mode='blend', not 'residual'")
        if self.blend_select == "blend" and (self.prior == "none" or self.prior_mode != "blend"):
            raise ValueError("blend_select='blend' needs a prior in blend mode (prior='ease' or 'itemknn')")
        if self.negatives is not None and self.gan_loss == "wgan-gp":
            raise ValueError("negatives (the sampled game) does not support gan_loss='wgan-gp'")
        return self

    @field_validator("g_hidden", "d_hidden")
    @classmethod
    def _layers_ok(cls, v: list[int]) -> list[int]:
        if not v or min(v) < 1:
            raise ValueError("hidden layers must be a non-empty list of positive sizes")
        return v
