"""CFGAN: vector-wise conditional GAN for top-N recommendation (Chae et al., CIKM 2018)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import scipy.sparse as sp
import torch

from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.gan.diagnostics import mean_pairwise_distance, sample_rows
from advrec.models.cfgan.blend_choice import CFGANBlendChoice
from advrec.models.cfgan.config import CFGANConfig
from advrec.models.cfgan.game import CFGANGame
from advrec.models.cfgan.networks import Discriminator, Generator, RowStore, densify
from advrec.models.cfgan.prior import Prior
from advrec.models.cfgan.scoring import CFGANScoring
from advrec.models.cfgan.sparse_networks import SparseDiscriminator, SparseGenerator
from advrec.models.gan_base import GANRecommender

if TYPE_CHECKING:
    import optuna

#: item mode refuses data whose users x items score cache would exceed this (GB)
MAX_ITEM_CACHE_GB = 8.0


class CFGAN(CFGANGame, CFGANScoring, CFGANBlendChoice, GANRecommender):
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
