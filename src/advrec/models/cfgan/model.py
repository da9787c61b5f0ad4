"""CFGAN: vector-wise conditional GAN for top-N recommendation (Chae et al., CIKM 2018)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.errors import CapabilityError, ConfigError
from advrec.gan.diagnostics import (
    mean_pairwise_distance,
    profile_diagnostics,
    sample_rows,
)
from advrec.gan.trainer import DOut, GOut
from advrec.models.cfgan.config import CFGANConfig
from advrec.models.cfgan.networks import Discriminator, Generator, RowStore, densify
from advrec.models.cfgan.prior import Prior, blend, standardise
from advrec.models.cfgan.sampled import (
    SampledBatch,
    SparseDiscriminator,
    SparseGenerator,
    discriminator_logits,
    generator_outputs,
    sample_batch,
)
from advrec.models.ease import ease_weights
from advrec.models.foldin import binary_rows, map_row_chunks
from advrec.models.gan_base import GANRecommender
from advrec.train.loop import Validator

if TYPE_CHECKING:
    import optuna

#: item mode refuses data whose users x items score cache would exceed this (GB)
MAX_ITEM_CACHE_GB = 8.0


class CFGAN(GANRecommender):
    """CFGAN (Chae, Kang, Kim, Lee, "CFGAN: A Generic Collaborative Filtering
    Framework based on Generative Adversarial Networks", CIKM 2018).

    A row ``u`` (a user, or an item in ``mode="item"``) has a real 0/1 vector
    ``r_u``. The generator maps the condition ``c_u = r_u`` to ``G(c_u)``; the
    discriminator scores pairs ``[c_u, x]``. Each epoch draws for every row two
    sets of unobserved entries, ``N^ZR`` and ``N^PM`` (``zr_ratio`` /
    ``pm_ratio`` of them, without replacement, fixed for the epoch). With
    ``m_u = r_u + 1[N^PM]`` (PM; ``m_u = r_u`` without PM) the objectives are::

        L_D = -log D(r_u | c_u) - log(1 - D(G(c_u) * m_u | c_u))
        L_G = -log D(G(c_u) * m_u | c_u) + alpha * sum_{j in N^ZR} G(c_u)_j^2

    (the non-saturating loss; ZR term only in schemes ZR and ZP). With
    ``adversarial=False`` there is no discriminator and
    ``L_G = sum_j m_uj (G(c_u)_j - r_uj)^2 + alpha * ZR``, a masked denoising
    reconstruction with the same negatives. A user's scores are the
    generator's output for their training vector (in item mode, column ``u`` of
    ``G`` applied to every item's vector). Diagnostics (coverage, pairwise
    distance, popularity JS, self-overlap) are logged every epoch.

    TOML::

        [[models]]
        name = "cfgan"
        mode = "item"
        scheme = "ZP"
        zr_ratio = 0.7
        pm_ratio = 0.7
        alpha = 0.03
        epochs = 250
    """

    name = "cfgan"
    supports_device = True
    config_class = CFGANConfig
    capabilities = frozenset({"differentiable", "fold_in"})
    config: CFGANConfig

    #: fixed early-stopping settings of tuning (the tuned epochs is where it stops)
    tuning_settings: ClassVar[dict[str, Any]] = {"epochs": 300, "eval_every": 10, "patience": 4}

    @classmethod
    def search_space(cls, t: optuna.Trial) -> dict[str, Any]:
        """Optuna search space of tuning (the keys are config fields)."""
        return {
            "lr": t.suggest_float("lr", 1e-5, 3e-3, log=True),
            "lr_d": t.suggest_float("lr_d", 1e-5, 3e-3, log=True),
            "alpha": t.suggest_float("alpha", 1e-3, 1.0, log=True),
            "zr_ratio": t.suggest_float("zr_ratio", 0.1, 0.9),
            "pm_ratio": t.suggest_float("pm_ratio", 0.1, 0.9),
            "g_hidden": [t.suggest_categorical("g_hidden", [200, 400, 800])],
            "l2": t.suggest_float("l2", 1e-5, 1e-2, log=True),
        }

    def __init__(self, config: CFGANConfig | None = None, **params: object) -> None:
        super().__init__(config, **params)
        self._score_cache: torch.Tensor | None = None
        self._prior: Prior | None = None
        self._fold_b: tuple[Prior, torch.Tensor] | None = None  # EASE^R weights of fold_in (see _fold_in_rows)
        self._blend_weight = self.config.prior_weight
        self.blend_scores_: dict[float, float] = {}
        self._train_for_blend: Interactions | None = None
        self._valid_for_blend: Interactions | None = None
        self.d_net = None

    # ------------------------------------------------------------- building
    def _row_matrix(self) -> sp.csr_matrix:
        """The training rows: users x items (user mode) or items x users (item mode)."""
        assert self._seen is not None
        return self._seen if self.config.mode == "user" else self._seen.T.tocsr()

    def _build(self, train: Interactions) -> None:
        c = self.config
        cache_gb = 4 * self.n_users * self.n_items / 1e9
        if c.mode == "item" and cache_gb > MAX_ITEM_CACHE_GB:
            raise ConfigError(
                f"cfgan: item mode scores from a cache of every user's generated scores, {cache_gb:.0f} GB "
                f"for {self.n_users} users x {self.n_items} items (limit {MAX_ITEM_CACHE_GB:g} GB); "
                "use mode='user' (and negatives=256 for the sampled game on a catalogue this large)")
        rows = self._row_matrix()
        zr = c.zr_ratio if c.scheme in ("ZR", "ZP") else None
        pm = c.pm_ratio if c.scheme in ("PM", "ZP") else None
        self.store = RowStore(rows, zr, pm, self.device)
        n = self.store.n_cols
        gen_cls, disc_cls = self._network_classes()
        self.g_net = gen_cls(n, c.g_hidden, c.activation).to(self.device)
        self.d_net = disc_cls(n, c.d_hidden, c.activation).to(self.device) if c.adversarial else None
        self._prior = self._fit_prior(train)
        if self._prior is not None and c.prior_mode == "residual":
            if not self._prior.dense:
                raise ConfigError("prior_mode='residual' needs every user's prior scores in memory; "
                                  "this data is too large for that: use prior_mode='blend'")
            # start at the prior: the MLP learns a residual
            last = [m for m in self.g_net.modules() if isinstance(m, torch.nn.Linear)][-1]
            torch.nn.init.zeros_(last.weight)
            torch.nn.init.zeros_(last.bias)
        self._train_rows = torch.arange(self.store.n_rows)  # every row of the id space, empty ones too
        users = sample_rows(self.n_users, c.diag_rows, torch.Generator().manual_seed(c.seed))
        self._diag_users = users.numpy()
        assert self._seen is not None
        self._diag_real = densify(self._seen, self._diag_users).to(self.device)
        self._diag_real_pairwise = mean_pairwise_distance(self._diag_real)
        self._score_cache = None

    def _network_classes(self) -> tuple[type[torch.nn.Module], type[torch.nn.Module]]:
        """Dense networks (the paper's game) or per-column tables (the sampled game)."""
        if self.config.negatives is None:
            return Generator, Discriminator
        return SparseGenerator, SparseDiscriminator

    def _make_optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        if c.negatives is None:
            return super()._make_optimizers()
        from advrec.train.lazy_adam import LazyAdam

        if c.optimizer != "adam":
            raise ConfigError("the sampled game (negatives) trains with Adam only; set optimizer='adam'")
        def groups(net: torch.nn.Module, lr: float) -> list[dict[str, object]]:
            if c.table_lr_scale == 1.0:  # one group (as checkpoints written before the option)
                return [{"params": list(net.parameters())}]
            tables = [m.weight for m in net.modules() if isinstance(m, torch.nn.Embedding)]
            rest = [p for p in net.parameters() if all(p is not t for t in tables)]
            return [{"params": tables, "lr": lr * c.table_lr_scale}, {"params": rest}]

        opts: dict[str, torch.optim.Optimizer] = {"g": LazyAdam(groups(self.g_net, c.lr), lr=c.lr, weight_decay=c.l2)}
        if self.d_net is not None:
            opts["d"] = LazyAdam(groups(self.d_net, c.lr_d), lr=c.lr_d, weight_decay=c.l2_d)
        return opts

    def _fit(self, train: Interactions, valid: Interactions | None, **kw: object) -> None:
        self._train_for_blend, self._valid_for_blend = train, valid
        self._blend_weight = 0.0  # early stopping follows the generator alone
        self.blend_scores_ = {}
        try:
            super()._fit(train, valid, **kw)  # type: ignore[arg-type]
        finally:
            self._train_for_blend = self._valid_for_blend = None

    def _fit_prior(self, train: Interactions) -> Prior | None:
        """The prior fit on the training data, or None without a prior."""
        c = self.config
        if c.prior == "none":
            return None
        if c.prior == "itemknn":
            return Prior.fit_itemknn(train, c.prior_params)
        assert self._seen is not None
        return Prior.fit(self._seen, c.prior_l2, precision=c.prior_precision, topk=c.prior_topk)

    def generate(self, condition: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        """Generator output (float32) for rows ``index`` with real vectors ``condition`` (plus a residual prior)."""
        out = self.g_net(condition).float()
        if self._prior is not None and self.config.prior_mode == "residual":
            assert self._prior.scores is not None
            scores = self._prior.scores if self.config.mode == "user" else self._prior.scores.T
            out = out + self.config.prior_weight * scores[index.cpu()].to(self.device)
        return out

    # ------------------------------------------------------------- the game
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

    # -------------------------------------------------------------- scoring
    def weights_changed(self) -> None:
        self._score_cache = None

    def _generated(self, users: np.ndarray) -> torch.Tensor:
        """Generated user x item scores of ``users`` (no grad; item mode from a cache of all users)."""
        with torch.no_grad():
            if self.config.mode == "user":
                return self._generate_users(users)
            if self._score_cache is None:
                self._score_cache = self._generate_all_items().T.contiguous()
            return self._score_cache[torch.from_numpy(np.asarray(users, dtype=np.int64))]

    def _generate_users(self, users: np.ndarray) -> torch.Tensor:
        """User mode: the generator's output for the users' training vectors."""
        assert self._seen is not None
        if isinstance(self.g_net, SparseGenerator):  # sparse input: no dense rows x items condition
            return self.g_net.forward_rows(self._seen[np.asarray(users)]).float()
        idx = torch.from_numpy(np.asarray(users, dtype=np.int64))
        return self.generate(densify(self._seen, users).to(self.device), idx)

    def _generate_all_items(self) -> torch.Tensor:
        """Item mode: the generator's output for every item's vector, items x users."""
        rows = self._row_matrix()
        parts = [self.generate(densify(rows, idx).to(self.device), torch.from_numpy(idx))
                 for idx in np.array_split(np.arange(rows.shape[0]), max(1, rows.shape[0] // 1024))]
        return torch.cat(parts)

    def _score(self, users: np.ndarray) -> torch.Tensor:
        self.g_net.eval()
        return self._combine(lambda: self._generated(users), lambda: self._prior_rows(users))

    def _score_grad(self, users: np.ndarray) -> torch.Tensor:
        """:meth:`_score` with the graph back to the generator (item mode: through every item's row)."""
        if self._prior is not None and self.config.prior_mode == "blend" and self._blend_weight == 1.0:
            raise CapabilityError("cfgan: the blend weight (prior_weight) is 1: the scores are the prior's alone, "
                                  "with no gradient to the generator; set_blend_weight(w < 1) first")
        self.g_net.eval()
        if self.config.mode == "user":
            return self._combine(lambda: self._generate_users(users), lambda: self._prior_rows(users))
        return self._combine(lambda: self._generate_all_items().T[torch.from_numpy(users)],
                             lambda: self._prior_rows(users))

    def _combine(self, generated: Callable[[], torch.Tensor], prior: Callable[[], torch.Tensor]) -> torch.Tensor:
        """What users are ranked by: the generator's scores, or their blend with the prior's."""
        if self._prior is None or self.config.prior_mode == "residual":
            return generated()
        w = self._blend_weight
        if w in (0.0, 1.0):  # one part only (exactly what blend gives at the ends)
            return standardise(generated() if w == 0.0 else prior())
        return blend(generated(), prior(), w)

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor:
        """New users' rows through the generator (and prior) exactly as a training user's (user mode)."""
        if self.config.mode != "user":
            raise CapabilityError(
                "cfgan: fold_in needs mode='user'. In mode='item' the networks' rows are items and a user is "
                "one input dimension (a column of every item's vector), so a new user is a new input "
                "dimension the trained networks do not have; fit with mode='user' to score new users")
        self.g_net.eval()
        return map_row_chunks(binary_rows(history), self._fold_in_rows, self.n_items)

    def _fold_in_rows(self, rows: sp.csr_matrix) -> torch.Tensor:
        g, c = self.g_net, self.config
        def prior() -> torch.Tensor:  # the prior's weights (recomputed once if only scores are kept)
            assert self._prior is not None and self._seen is not None
            if self._prior.weights is None and (self._fold_b is None or self._fold_b[0] is not self._prior):
                b = ease_weights(self._seen, c.prior_l2, precision=c.prior_precision)
                self._fold_b = (self._prior, torch.from_numpy(b))
            w = self._fold_b[1] if self._prior.weights is None else self._prior.weights  # type: ignore[index]
            return Prior(rows, weights=w).user_rows(np.arange(rows.shape[0])).to(self.device)
        def generated() -> torch.Tensor:
            if isinstance(g, SparseGenerator):
                return g.forward_rows(rows).float()
            out = g(densify(rows, np.arange(rows.shape[0])).to(self.device)).float()
            return out + c.prior_weight * prior() if self._prior is not None and c.prior_mode == "residual" else out
        return self._combine(generated, prior)

    def _prior_rows(self, users: np.ndarray) -> torch.Tensor:
        """The prior's scores of ``users`` (users x items)."""
        assert self._prior is not None
        return self._prior.user_rows(users).to(self.device)

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

    def _state(self) -> dict[str, torch.Tensor]:
        out = {f"g.{k}": v.detach() for k, v in self.g_net.state_dict().items()}
        if self._prior is not None:
            state = self._prior.state()
            if "prior" in state and self.config.mode == "item":  # saved as rows x columns of the mode
                state["prior"] = state["prior"].T.contiguous()
            out.update(state)
        if self.d_net is not None:
            out.update({f"d.{k}": v.detach() for k, v in self.d_net.state_dict().items()})
        return out

    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        c = self.config
        n = self.n_items if c.mode == "user" else self.n_users
        gen_cls, disc_cls = self._network_classes()
        self.g_net = gen_cls(n, c.g_hidden, c.activation)
        self.g_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("g.")}, strict=True)
        self.g_net.eval()
        self.d_net = None
        if c.adversarial:
            self.d_net = disc_cls(n, c.d_hidden, c.activation)
            self.d_net.load_state_dict({k[2:]: v for k, v in state.items() if k.startswith("d.")}, strict=True)
        if "prior" in state and c.mode == "item":
            state = {**state, "prior": state["prior"].T.contiguous()}
        assert self._seen is not None
        self._prior = Prior.from_state(state, self._seen)
        self._blend_weight = c.prior_weight
        if (self._prior is None) != (c.prior == "none"):
            raise ValueError(f"saved prior tensor {'missing' if self._prior is None else 'present'} "
                             f"but the config says prior={c.prior!r}")
        self._score_cache = None
