"""Synthetic data release: an unconditional GAN over users' binary interaction vectors.

The generator maps Gaussian noise to one probability per item (an MLP with logits); the
discriminator is an MLP on 0/1 interaction vectors. Fakes reach the discriminator as Bernoulli
draws of the generator's probabilities with a straight-through gradient, so both players see
binary vectors. Training is the project's min-max step (:func:`advrec.gan.minmax_epoch`, the
interleaved schedule, the non-saturating generator loss of :class:`advrec.gan.GANLoss`) run by
the shared epoch loop (:func:`advrec.train.loop.train_loop`: seeding, one generator for all
sampling, the tqdm epoch bar).

**DP variant (DP-GAN, Xie et al. 2018).** Only the discriminator reads real data, so only its
updates need privacy: with ``dp_epsilon`` set it is trained with DP-SGD (Opacus: Poisson
sampling of users, per-example clipping at ``max_grad_norm``, Gaussian noise calibrated by
``make_private_with_epsilon`` for the whole run, RDP accountant by default). One example is
one user's whole interaction row, so the ``(epsilon, delta)`` guarantee is **per user**: the
synthetic data is almost as likely whether or not any one user's training records were used.
The generator sees real data only through the private discriminator, and sampling is pure
post-processing, so the released profiles carry the same guarantee. Each discriminator step
sees a fixed number of fakes (the expected batch size) so that adding a user changes one
clipped row of the step's gradient and nothing else.
"""

from __future__ import annotations

import itertools
import math
import time
import warnings
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from torch import nn

from advrec.data.features import MissingDependencyError
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError
from advrec.gan import DOut, GANLoss, GOut, MinMaxSettings, minmax_epoch

#: at most this many rounds of redrawing empty synthetic profiles before the most likely item is used
MAX_RESAMPLE_ROUNDS = 100


class SynthConfig(BaseModel):
    """Hyper-parameters of the synthetic-data GAN (defaults sized for ML-100K).

    Attributes
    ----------
    epochs
        Passes over the member users (about 12 discriminator and generator steps each on ML-100K).
        :func:`make_config` uses other defaults for the DP variant (:data:`DP_DEFAULTS`).
    batch_size
        Users per discriminator step (the expected size under Poisson sampling); also the number
        of fakes per step.
    g_hidden, d_hidden
        Hidden layer sizes of the generator and the discriminator MLPs.
    d_input_dropout, d_dropout
        Dropout of the discriminator's input and hidden layers (it otherwise wins too early and
        the generator collapses onto few popular items).
    lr
        Adam learning rate of both networks (betas 0.5, 0.999).
    noise_dim
        Size of the generator's Gaussian noise.
    init_rate
        Initial item probability of the generator (its output bias); a data-independent constant.
    seed
        Seed of the weights, the batches, the noise and the sampling.
    dp_epsilon
        Target epsilon of DP-SGD on the discriminator; None trains without privacy.
    dp_delta
        Target delta; None means ``min(1e-5, 1 / (10 * n_users))`` over the training users.
    max_grad_norm
        Per-example clipping norm of DP-SGD.
    accountant
        Opacus privacy accountant, ``"rdp"`` (default) or ``"prv"``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    epochs: int = Field(200, ge=1)
    batch_size: int = Field(64, ge=1)
    g_hidden: tuple[int, ...] = (512,)
    d_hidden: tuple[int, ...] = (256,)
    d_input_dropout: float = Field(0.2, ge=0.0, lt=1.0)
    d_dropout: float = Field(0.3, ge=0.0, lt=1.0)
    lr: float = Field(1e-3, gt=0.0)
    noise_dim: int = Field(64, ge=1)
    init_rate: float = Field(0.05, gt=0.0, lt=1.0)
    seed: int = Field(0, ge=0)
    dp_epsilon: float | None = Field(None, gt=0.0)
    dp_delta: float | None = Field(None, gt=0.0, lt=1.0)
    max_grad_norm: float = Field(1.0, gt=0.0)
    accountant: Literal["rdp", "prv"] = "rdp"

    @property
    def private(self) -> bool:
        """Whether the discriminator is trained with DP-SGD."""
        return self.dp_epsilon is not None


#: defaults that replace the class defaults when ``dp_epsilon`` is set and the field is not given:
#: larger batches (the noise of a step is divided by the batch size), fewer steps (each one spends
#: budget) and a smaller discriminator (the noise grows with the square root of its parameters)
DP_DEFAULTS: dict[str, Any] = {"epochs": 30, "batch_size": 256, "d_hidden": (64,)}


def make_config(**params: Any) -> SynthConfig:
    """A :class:`SynthConfig`, with invalid values reported as :class:`ConfigError` naming the field.

    With ``dp_epsilon`` set, :data:`DP_DEFAULTS` fill the fields not given.
    """
    if params.get("dp_epsilon") is not None:
        params = {**DP_DEFAULTS, **params}
    try:
        return SynthConfig(**params)
    except ValidationError as exc:
        parts = [f"{'.'.join(str(x) for x in e['loc']) or 'config'}: {e['msg']}" for e in exc.errors()]
        raise ConfigError("synthetic-data GAN: invalid parameters: " + "; ".join(parts)) from None


def default_delta(n_users: int) -> float:
    """The default delta: ``min(1e-5, 1 / (10 * n_users))``, well below one over the number of users."""
    return min(1e-5, 1.0 / (10.0 * max(n_users, 1)))


def _mlp(sizes: tuple[int, ...], out: int, act: nn.Module, dropout: tuple[float, float] = (0.0, 0.0)) -> nn.Sequential:
    """``sizes[0] -> sizes[1] -> ... -> out`` with ``act`` between layers; ``dropout`` on the input and
    on each hidden layer (zero: none)."""
    layers: list[nn.Module] = [nn.Dropout(dropout[0])] if dropout[0] > 0 else []
    for a, b in itertools.pairwise(sizes):
        layers += [nn.Linear(a, b), act] + ([nn.Dropout(dropout[1])] if dropout[1] > 0 else [])
    layers.append(nn.Linear(sizes[-1], out))
    return nn.Sequential(*layers)


def require_opacus() -> Any:
    """Opacus' ``PrivacyEngine``, or :class:`MissingDependencyError` saying how to install it."""
    try:
        from opacus import PrivacyEngine
    except ImportError:
        raise MissingDependencyError(
            "--dp-epsilon (DP-SGD) needs the optional package 'opacus': run `pip install advrec[privacy]`"
        ) from None
    return PrivacyEngine


class SynthGAN:
    """The GAN game over the rows of ``data`` (a :class:`~advrec.gan.MinMaxProblem` and a
    :class:`~advrec.train.loop.Trainable`).

    Parameters
    ----------
    data
        ``(n_users, n_items)`` binary CSR matrix: the rows the GAN may learn from.
    config
        The hyper-parameters.
    """

    name = "synth-gan"

    def __init__(self, data: sp.csr_matrix, config: SynthConfig) -> None:
        if data.shape[0] < 2 or data.nnz == 0:
            raise ConfigError(f"the synthetic-data GAN needs at least 2 users with records, got {data.shape[0]}")
        self.data = sp.csr_matrix(data, dtype=np.float32)
        self.data.data[:] = 1.0
        self.config = cfg = config
        self.n_users, self.n_items = self.data.shape
        self.history: list[dict[str, float]] = []
        self.loss = GANLoss("nonsaturating")
        torch.manual_seed(cfg.seed)
        self.g = _mlp((cfg.noise_dim, *cfg.g_hidden), self.n_items, nn.ReLU())
        head = self.g[-1]
        assert isinstance(head, nn.Linear)
        with torch.no_grad():
            head.bias.fill_(math.log(cfg.init_rate / (1.0 - cfg.init_rate)))
        self.d: nn.Module = _mlp((self.n_items, *cfg.d_hidden), 1, nn.LeakyReLU(0.2),
                                 (cfg.d_input_dropout, cfg.d_dropout))
        self.opt_g = torch.optim.Adam(self.g.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self.opt_d: torch.optim.Optimizer = torch.optim.Adam(self.d.parameters(), lr=cfg.lr, betas=(0.5, 0.999))
        self.steps = math.ceil(self.n_users / cfg.batch_size)
        self.loader: Any = None
        self.engine: Any = None
        self.criterion: Any = None
        self.delta: float | None = None
        self.train_seconds = 0.0
        if cfg.private:
            self._make_private()
        self.settings = MinMaxSettings(schedule="interleaved", loss=self.loss)

    # -------------------------------------------------------------- DP-SGD
    def _make_private(self) -> None:
        from torch.utils.data import DataLoader, TensorDataset

        cfg = self.config
        engine = require_opacus()(accountant=cfg.accountant)
        self.delta = cfg.dp_delta if cfg.dp_delta is not None else default_delta(self.n_users)
        loader = DataLoader(TensorDataset(torch.arange(self.n_users)), batch_size=cfg.batch_size,
                            generator=torch.Generator().manual_seed(cfg.seed + 1))
        # ghost clipping: the same per-example clipping, with per-example gradient norms computed
        # without materialising per-example gradients (a batch x 256 x n_items tensor per step)
        self.d, self.opt_d, self.criterion, self.loader = engine.make_private_with_epsilon(
            module=self.d, optimizer=self.opt_d, criterion=nn.BCEWithLogitsLoss(), data_loader=loader,
            target_epsilon=cfg.dp_epsilon, target_delta=self.delta, epochs=cfg.epochs,
            max_grad_norm=cfg.max_grad_norm, poisson_sampling=True, grad_sample_mode="ghost",
            noise_generator=torch.Generator().manual_seed(cfg.seed + 2))
        self.steps = len(self.loader)
        self.engine = engine

    def privacy_spent(self) -> dict[str, Any] | None:
        """``(epsilon, delta)`` spent so far from the accountant (None without DP)."""
        if self.engine is None:
            return None
        assert self.delta is not None
        opt: Any = self.opt_d  # Opacus' DPOptimizer
        return {"epsilon": float(self.engine.get_epsilon(self.delta)), "delta": self.delta,
                "guarantee": "per user", "target_epsilon": self.config.dp_epsilon,
                "accountant": self.config.accountant, "noise_multiplier": float(opt.noise_multiplier),
                "max_grad_norm": self.config.max_grad_norm, "sample_rate": 1.0 / self.steps,
                "steps": int(sum(step[2] for step in self.engine.accountant.history)),
                "secure_rng": False}

    def _hooks(self, on: bool) -> None:
        """Opacus' per-example hooks: on for discriminator steps, off while the generator learns."""
        if self.engine is not None:
            d: Any = self.d  # Opacus' GradSampleModule
            d.enable_hooks() if on else d.disable_hooks()

    # ---------------------------------------------------------- the game
    def noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, noise_dim)`` standard normal noise."""
        return torch.randn((n, self.config.noise_dim), generator=generator)

    def fakes(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """Bernoulli draws of the generator's probabilities, with a straight-through gradient."""
        p = torch.sigmoid(self.g(self.noise(n, generator)))
        hard = torch.bernoulli(p.detach(), generator=generator)
        return hard + p - p.detach()

    def d_batches(self, generator: torch.Generator) -> Any:
        """One pass of user-index batches: Poisson-sampled under DP, else a shuffled partition."""
        if self.loader is not None:
            return (batch[0] for batch in self.loader)
        return torch.randperm(self.n_users, generator=generator).split(self.config.batch_size)

    def g_batches(self, generator: torch.Generator) -> list[int]:
        """As many generator steps as discriminator steps per pass (interleaved one for one)."""
        return [self.config.batch_size] * self.steps

    def d_loss(self, batch: torch.Tensor, generator: torch.Generator) -> DOut:
        """The non-saturating discriminator loss as a mean over the batch's real and fake rows.

        Written per row (binary cross-entropy with logits, the ``softplus`` forms of
        :mod:`advrec.gan.losses`) so that under DP each row's gradient depends on that row only.
        """
        self._hooks(True)
        idx = batch.numpy()
        real = torch.from_numpy(self.data[idx].toarray())
        with torch.no_grad():
            fake = self.fakes(self.config.batch_size, generator)
        logits = self.d(torch.cat([real, fake])).squeeze(-1)
        labels = torch.cat([torch.ones(len(idx)), torch.zeros(len(fake))])
        if self.criterion is not None:  # Opacus' loss wrapper: its backward clips each row's gradient
            loss = self.criterion(logits, labels)
        else:
            loss = F.binary_cross_entropy_with_logits(logits, labels)
        return DOut(loss, logits.detach()[: len(idx)], logits.detach()[len(idx):])

    def g_loss(self, batch: int, generator: torch.Generator) -> GOut:
        """``GANLoss("nonsaturating").g_loss`` on a batch of straight-through fakes."""
        self._hooks(False)
        logits = self.d(self.fakes(batch, generator)).squeeze(-1)
        return GOut(self.loss.g_loss(logits), batch)

    def d_parameters(self) -> list[nn.Parameter]:
        """The discriminator's parameters."""
        return list(self.d.parameters())

    def g_parameters(self) -> list[nn.Parameter]:
        """The generator's parameters."""
        return list(self.g.parameters())

    # ------------------------------------------------------ Trainable
    def train_epoch(self, epoch: int, generator: torch.Generator) -> dict[str, float]:
        """One epoch of :func:`advrec.gan.minmax_epoch`."""
        self.g.train()
        self.d.train()
        return minmax_epoch(self, {"g": self.opt_g, "d": self.opt_d}, self.settings, generator)

    def train_tensors(self) -> dict[str, torch.Tensor]:
        """The weights of both networks."""
        out = {f"g.{k}": v for k, v in self.g.state_dict(keep_vars=True).items()}
        out.update({f"d.{k}": v for k, v in self.d.state_dict(keep_vars=True).items()})
        return out

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """Both optimisers."""
        return {"g": self.opt_g, "d": self.opt_d}

    def weights_changed(self) -> None:
        """Nothing is cached."""

    # ------------------------------------------------------- release
    @torch.no_grad()
    def probabilities(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """``(n, n_items)`` item probabilities for ``n`` noise draws."""
        self.g.eval()
        return torch.sigmoid(self.g(self.noise(n, generator)))

    @torch.no_grad()
    def sample(self, n: int, seed: int) -> tuple[sp.csr_matrix, torch.Tensor]:
        """``n`` synthetic profiles: Bernoulli draws of the generator's probabilities.

        A profile drawn empty is drawn again from fresh noise (up to :data:`MAX_RESAMPLE_ROUNDS`
        rounds; then it gets its most likely item). Pure post-processing of the generator.

        Returns
        -------
        tuple
            The ``(n, n_items)`` binary CSR profiles and the probabilities they were drawn from.
        """
        gen = torch.Generator().manual_seed(seed)
        probs = self.probabilities(n, gen)
        draws = torch.bernoulli(probs, generator=gen).to(torch.bool)
        for _ in range(MAX_RESAMPLE_ROUNDS):
            empty = torch.nonzero(~draws.any(1)).squeeze(1)
            if len(empty) == 0:
                break
            probs[empty] = self.probabilities(len(empty), gen)
            draws[empty] = torch.bernoulli(probs[empty], generator=gen).to(torch.bool)
        empty = torch.nonzero(~draws.any(1)).squeeze(1)
        draws[empty, probs[empty].argmax(1)] = True
        return sp.csr_matrix(draws.numpy(), dtype=np.float32), probs


def train_synth_gan(data: sp.csr_matrix, config: SynthConfig, *, show_progress: bool = False) -> SynthGAN:
    """Train the GAN on the rows of ``data`` for ``config.epochs`` epochs.

    Parameters
    ----------
    data
        Binary users x items CSR matrix of the users the GAN may learn from.
    config
        Hyper-parameters (``dp_epsilon`` set: DP-SGD on the discriminator; needs ``opacus``).
    show_progress
        Show a tqdm bar over epochs on stderr.

    Returns
    -------
    SynthGAN
        The trained game; ``history`` holds the per-epoch logs, ``train_seconds`` the wall time.
    """
    from advrec.train.loop import LoopSettings, train_loop

    t0 = time.perf_counter()
    with warnings.catch_warnings():
        # Opacus' hooks on a discriminator whose inputs need no gradient, and RDP at the edge of its
        # orders (the bound is valid, only looser than it could be): neither is the user's doing
        warnings.filterwarnings("ignore", message="Full backward hook is firing")
        warnings.filterwarnings("ignore", message="Optimal order is the largest alpha")
        warnings.filterwarnings("ignore", message="Secure RNG turned off")  # recorded as secure_rng: false
        gan = SynthGAN(data, config)
        train_loop(gan, LoopSettings(epochs=config.epochs, seed=config.seed, show_progress=show_progress))
    gan.train_seconds = time.perf_counter() - t0
    return gan


def release(train: Interactions, test: Interactions, config: SynthConfig, *, n_users: int | None = None,
            ease_params: dict[str, Any] | None = None,
            show_progress: bool = False) -> tuple[Interactions, dict[str, Any]]:
    """Train the GAN on the members, sample a synthetic dataset, measure it (protocol in
    :mod:`advrec.privacy.synth_audit`).

    Parameters
    ----------
    train, test
        The real split's training and test records (one id space).
    config
        Hyper-parameters of the GAN; its seed also splits members from holdout users.
    n_users
        Synthetic users to draw (default: as many as the members).
    ease_params
        Hyper-parameters of the EASE^R models of the utility measurement.
    show_progress
        A tqdm bar over epochs.

    Returns
    -------
    tuple
        The synthetic interactions (users ``1..n``, the real item ids) and the record:
        ``utility``, ``privacy``, ``diagnostics``, ``dp`` (None without DP), ``config``,
        ``protocol``, counts and timings.
    """
    from advrec.privacy.synth_audit import (
        privacy_report,
        split_members,
        synthetic_diagnostics,
        synthetic_interactions,
        utility_report,
    )

    if n_users is not None and n_users < 1:
        raise ConfigError(f"--users must be a positive number of synthetic users, got {n_users}")
    members, holdout = split_members(train, config.seed)
    x = train.binary_csr
    gan = train_synth_gan(x[members], config, show_progress=show_progress)
    t0 = time.perf_counter()
    profiles, probs = gan.sample(len(members) if n_users is None else n_users, config.seed + 3)
    synthetic = synthetic_interactions(profiles, train.item_ids)
    last = gan.history[-1] if gan.history else {}
    record: dict[str, Any] = {
        "config": config.model_dump(mode="json"), "seed": config.seed,
        "protocol": {"member_share": 0.8, "members_train_on": "training records",
                     "utility_model": "ease", "utility_metric": "ndcg@20", "distance": "jaccard",
                     "dp_network": "discriminator" if config.private else None},
        "n_members": len(members), "n_holdout": len(holdout), "n_synthetic_users": synthetic.n_users,
        "n_synthetic_records": len(synthetic), "train_seconds": gan.train_seconds,
        "final_epoch": {k: last[k] for k in ("d_loss", "g_loss", "d_acc_real", "d_acc_fake") if k in last},
        "dp": gan.privacy_spent(),
        "utility": utility_report(train, test, members, synthetic, ease_params),
        "privacy": privacy_report(train, members, holdout, profiles, config.seed),
        "diagnostics": synthetic_diagnostics(x[members], profiles, probs, seed=config.seed),
    }
    record["measure_seconds"] = time.perf_counter() - t0
    return synthetic, record
