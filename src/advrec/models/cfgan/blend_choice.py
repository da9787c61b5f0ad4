"""CFGAN's choice of the blend weight on validation data (``prior_mode="blend"``)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from advrec.data.interactions import Interactions
from advrec.models.cfgan.config import CFGANConfig
from advrec.models.cfgan.prior import Prior, standardise
from advrec.train.loop import Validator


class CFGANBlendChoice:
    """Early stopping on the best blend and the final choice of ``prior_weight`` of
    :class:`~advrec.models.cfgan.CFGAN`.

    A mixin placed before :class:`~advrec.models.gan_base.GANRecommender`: its
    ``_validator`` and ``selected_params`` extend the base class's. The model provides
    ``_generated`` and ``_prior_rows`` (the two parts of a blend) and keeps the training
    and validation data of the running fit.
    """

    config: CFGANConfig
    g_net: torch.nn.Module
    _prior: Prior | None
    _blend_weight: float
    blend_scores_: dict[float, float]
    _train_for_blend: Interactions | None
    _valid_for_blend: Interactions | None

    def _validator(self, train: Interactions, valid: Interactions) -> Validator:
        if self.config.blend_select == "generator" or self._prior is None:
            return super()._validator(train, valid)
        # the best blend that uses the generator (w < 1): with the prior alone in the maximum the
        # score would sit at the prior's level while the generator is still weak, and early
        # stopping would end the game there (measured on ML-100K, docs/models/cfgan.md)
        return lambda model: max(v for w, v in self._blend_search(train, valid).items() if w < 1.0)

    def _blend_search(self, train: Interactions, valid: Interactions) -> dict[float, float]:
        """Validation ``valid_metric`` of every blend weight on the grid, in one evaluation pass."""
        from advrec.eval import Evaluator
        from advrec.train.loop import parse_metric

        metric = self.config.valid_metric
        name, k = parse_metric(metric)
        ev = Evaluator(ks=(k,), metrics=(name,), beyond=False)  # only what the choice needs (no AUC sort)
        weights = [round(float(w), 4) for w in np.linspace(0.0, 1.0, 21)]

        def variants(users: np.ndarray) -> Iterator[tuple[float, torch.Tensor]]:
            # both parts once per chunk of users, then every weight on them
            self.g_net.eval()
            za, zb = standardise(self._generated(users)), standardise(self._prior_rows(users))
            for w in weights:
                yield w, (1.0 - w) * za + w * zb

        results = ev.evaluate_variants(self, train, valid, variants)
        return {w: float(results[w].summary[metric]) for w in weights}

    def _after_fit(self) -> None:
        """Blend mode with validation data: choose the blend weight on it (stored in the config)."""
        self._blend_weight = self.config.prior_weight
        valid = self._valid_for_blend
        if self._prior is None or self.config.prior_mode != "blend" or valid is None:
            return
        assert self._train_for_blend is not None
        scores = self._blend_search(self._train_for_blend, valid)
        self._blend_weight = max(scores, key=lambda w: (scores[w], -w))
        self.config = self.config.model_copy(update={"prior_weight": self._blend_weight})
        self.blend_scores_ = scores

    def set_blend_weight(self, w: float) -> None:
        """Score with ``(1 - w) z(G) + w z(prior)`` from now on (blend mode only).

        ``w = 0`` scores with the generator alone, ``w = 1`` with the prior alone: both parts of
        one fitted model can so be evaluated without refitting.
        """
        if self._prior is None or self.config.prior_mode != "blend":
            raise ValueError("set_blend_weight needs prior='ease' and prior_mode='blend'")
        if not 0.0 <= w <= 1.0:
            raise ValueError(f"blend weight must be in [0, 1], got {w}")
        self._blend_weight = float(w)

    def selected_params(self) -> dict[str, object]:
        out = dict(super().selected_params())
        if self.blend_scores_:
            out["prior_weight"] = self._blend_weight
        return out

    def selection_scores(self) -> dict[str, dict[str, float]]:
        if not self.blend_scores_:
            return {}
        return {"prior_weight": {f"{w:g}": float(v) for w, v in sorted(self.blend_scores_.items())}}
