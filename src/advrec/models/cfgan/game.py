"""CFGAN's game: the mini-batches, the discriminator's and the generator's losses per epoch.

The dense game is the paper's (whole rows, ZR / PM masks of the epoch); the sampled
game (``negatives=m``) scores the observed entries and ``m`` sampled unobserved ones
per row (see :mod:`advrec.models.cfgan.sampled`).
"""

from __future__ import annotations

import numpy as np
import torch

from advrec.gan.diagnostics import profile_diagnostics
from advrec.gan.trainer import DOut, GOut
from advrec.models.cfgan.config import CFGANConfig
from advrec.models.cfgan.networks import RowStore
from advrec.models.cfgan.sampled import (
    SampledBatch,
    discriminator_logits,
    generator_outputs,
    sample_batch,
)


class CFGANGame:
    """The training hooks of :class:`~advrec.models.cfgan.CFGAN` that
    :class:`~advrec.models.gan_base.GANRecommender` calls every epoch.

    A mixin: the model provides the networks (``g_net``, ``d_net``), the row store,
    ``generate``, ``gan_objective`` and the diagnostic users set up by its build.
    """

    config: CFGANConfig
    store: RowStore
    g_net: torch.nn.Module
    d_net: torch.nn.Module | None
    device: torch.device
    _train_rows: torch.Tensor
    _diag_users: np.ndarray
    _diag_real: torch.Tensor
    _diag_real_pairwise: float

    def start_epoch(self, epoch: int, generator: torch.Generator) -> None:
        if self.config.negatives is None:
            self.store.new_epoch(generator)

    def _batches(self, size: int, generator: torch.Generator) -> list[torch.Tensor]:
        order = self._train_rows[torch.randperm(len(self._train_rows), generator=generator)]
        return list(order.split(size))

    def d_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        return self._batches(self.config.batch_size_d, generator)

    def g_batches(self, generator: torch.Generator) -> list[torch.Tensor]:
        return self._batches(self.config.batch_size, generator)

    def _fake_mask(self, real: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """``m_u = r_u + 1[N^PM]`` (just ``r_u`` without partial masking)."""
        pm = self.store.mask("pm", index)
        return real if pm is None else real + pm.to(real.dtype)

    def _sampled(self, batch: torch.Tensor, generator: torch.Generator) -> SampledBatch:
        c = self.config
        assert c.negatives is not None
        return sample_batch(self.store.rows, batch, c.negatives, self.store.ratios["zr"], self.store.ratios["pm"],
                            generator, self.device)

    def d_loss(self, batch: torch.Tensor, generator: torch.Generator) -> DOut:
        assert self.d_net is not None
        d_net = self.d_net
        if self.config.negatives is not None:
            sb = self._sampled(batch, generator)
            out_pos, out_pool = generator_outputs(self.g_net, sb)  # type: ignore[arg-type]
            real_logits = discriminator_logits(d_net, sb, torch.ones_like(out_pos), None)  # type: ignore[arg-type]
            fake_logits = discriminator_logits(d_net, sb, out_pos, out_pool * sb.pm)  # type: ignore[arg-type]
            return DOut(self.gan_objective().d_loss(real_logits, fake_logits), real_logits, fake_logits)
        real = self.store.vectors(batch)
        fake = self.generate(real, batch) * self._fake_mask(real, batch)
        real_logits = d_net(real, real)
        fake_logits = d_net(fake, real)
        gan = self.gan_objective()
        loss = gan.d_loss(real_logits, fake_logits)
        if gan.uses_penalty:
            loss = loss + gan.penalty(lambda x: d_net(x, real), real, fake, generator)
        return DOut(loss, real_logits, fake_logits)

    def g_loss(self, batch: torch.Tensor, generator: torch.Generator) -> GOut:
        c = self.config
        if c.negatives is not None:
            return self._g_loss_sampled(batch, generator)
        real = self.store.vectors(batch)
        out = self.generate(real, batch)
        mask = self._fake_mask(real, batch)
        parts: dict[str, torch.Tensor] = {}
        if self.d_net is not None:
            main = self.gan_objective().g_loss(self.d_net(out * mask, real))
            parts["g_adv"] = main
        else:
            main = ((out - real).square() * mask).sum(1).mean()
            parts["g_recon"] = main
        loss = main
        zr = self.store.mask("zr", batch)
        if zr is not None:
            zr_term = c.alpha * (out.square() * zr).sum(1).mean()
            parts["g_zr"] = zr_term
            loss = loss + zr_term
        return GOut(loss, len(batch), parts)

    def _g_loss_sampled(self, batch: torch.Tensor, generator: torch.Generator) -> GOut:
        """The generator loss of the sampled game (see :mod:`advrec.models.cfgan.sampled`)."""
        c = self.config
        sb = self._sampled(batch, generator)
        out_pos, out_pool = generator_outputs(self.g_net, sb)  # type: ignore[arg-type]
        parts: dict[str, torch.Tensor] = {}
        if self.d_net is not None:
            fake = discriminator_logits(self.d_net, sb, out_pos, out_pool * sb.pm)  # type: ignore[arg-type]
            main = parts["g_adv"] = self.gan_objective().g_loss(fake)
        else:  # masked reconstruction over observed entries and the (reweighted) PM negatives
            per_row = torch.zeros(sb.size, device=out_pos.device).index_add(0, sb.pos_row, (out_pos - 1.0).square())
            main = parts["g_recon"] = (per_row + sb.scale * (out_pool.square() * sb.pm).sum(1)).mean()
        loss = main
        if self.store.ratios["zr"] is not None:
            zr_term = parts["g_zr"] = c.alpha * (sb.scale * (out_pool.square() * sb.zr).sum(1)).mean()
            loss = loss + zr_term
        return GOut(loss, sb.size, parts)

    def diagnostics(self, epoch: int) -> dict[str, float]:
        gen = self._generated(self._diag_users)
        return profile_diagnostics(self._diag_real, gen, self.config.diag_k,
                                   real_pairwise=self._diag_real_pairwise)
