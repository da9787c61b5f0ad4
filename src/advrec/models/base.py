"""The one :class:`Recommender` contract every model, attack and defence follows."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import ValidationError

from advrec.data.interactions import Interactions
from advrec.errors import CapabilityError, ConfigError, DataError
from advrec.models.config import ModelConfig, format_validation, same_hyperparameters, upgrade_names
from advrec.models.persistence import FORMAT_VERSION, IDS_FILE, META_FILE, WEIGHTS_FILE, read_meta
from advrec.train.callbacks import Callback

__all__ = [
    "CAPABILITIES", "FORMAT_VERSION", "IDS_FILE", "META_FILE", "WEIGHTS_FILE", "ModelConfig", "Recommender",
    "read_meta", "same_hyperparameters", "upgrade_names",
]


R = TypeVar("R", bound="Recommender")

#: What a model class may declare in ``Recommender.capabilities`` beyond fit / score / save.
#: The contract suite (``tests/contract.py``) checks every declared capability for every
#: registered model; asking an undeclared one raises :class:`CapabilityError`.
CAPABILITIES: dict[str, str] = {
    "embeddings": "embeddings() gives (user, item) vectors; score_embeddings() turns any such vectors "
                  "into scores, differentiably (FGSM / PGD perturb them)",
    "differentiable": "score(users, grad=True) keeps the autograd graph back to the learned parameters",
    "warm_start": "fit(train, init=model) starts from a fitted model's parameters (continued training, "
                  "fine-tuning, a grown id space)",
    "fold_in": "fold_in(history) scores users outside training from their interactions",
    "encoder": "encode_users(users) gives the latent code each training user is scored from (an "
               "autoencoder's mean), the user representation of a model without an embedding table",
    "side_features": "fit reads the user / item side features of the training data and saves them "
                     "with the model",
}


class Recommender(ABC):
    """Fit on :class:`Interactions`, score all items, recommend, save and load.

    Subclasses set ``name`` and ``config_class`` and implement :meth:`_fit`,
    :meth:`_score`, :meth:`_state` and :meth:`_set_state`.

    Parameters
    ----------
    config
        A ready config object of ``config_class``.
    **params
        Or the config's fields as keyword arguments (validated).
    """

    name: ClassVar[str] = "recommender"
    config_class: ClassVar[type[ModelConfig]] = ModelConfig
    #: whether the fit depends on ``config.seed``; False: the same data give the same model
    seeded: ClassVar[bool] = True
    #: the keys of :data:`CAPABILITIES` this class provides
    capabilities: ClassVar[frozenset[str]] = frozenset()

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ConfigError("pass either a config object or keyword parameters, not both")
        if config is None:
            try:
                config = self.config_class(**params)
            except ValidationError as exc:
                raise ConfigError(format_validation(self.name, exc)) from None
        elif not isinstance(config, self.config_class):
            raise ConfigError(f"{self.name}: expected {self.config_class.__name__}, got {type(config).__name__}")
        self.config: ModelConfig = config
        self.n_users = 0
        self.n_items = 0
        self._seen: sp.csr_matrix | None = None
        self.user_ids: np.ndarray | None = None
        self.item_ids: np.ndarray | None = None
        self.history: list[dict[str, float]] = []
        self._init: Recommender | None = None

    # -------------------------------------------------------------- public API
    def fit(
        self: R,
        train: Interactions,
        valid: Interactions | None = None,
        *,
        show_progress: bool = False,
        callbacks: Sequence[Callback] = (),
        init: Recommender | None = None,
    ) -> R:
        """Fit on ``train``; ``valid`` (if given) may drive early stopping.

        Parameters
        ----------
        train
            Training interactions; its id space fixes ``n_users`` / ``n_items``.
        valid
            Validation interactions over the same id space (never test data).
        show_progress
            Show a progress bar on long work.
        callbacks
            Objects called at the end of each epoch (iterative models only).
        init
            A fitted model whose parameters start this fit (capability ``warm_start``):
            the same model loaded from disk to train on, or a model this class declares
            it can start from. Its id space must be a prefix of ``train``'s (users or
            items appended since start fresh).

        Returns
        -------
        Recommender
            ``self``.
        """
        from advrec.utils.seed import seed_everything

        if init is not None:
            self._check_init(init, train)
        self._init = init
        seed_everything(self.config.seed)
        self.n_users, self.n_items = train.n_users, train.n_items
        self._seen = train.binary_csr
        self.user_ids, self.item_ids = train.user_ids, train.item_ids
        self.history = []
        if "side_features" in self.capabilities:
            self._encode_side_features(train)
        try:
            self._fit(train, valid, show_progress=show_progress, callbacks=callbacks)
        finally:
            self._init = None
        return self

    def score(self, users: np.ndarray | Sequence[int], *, grad: bool = False) -> torch.Tensor:
        """Scores of every item for each user index: a ``(len(users), n_items)`` float32 tensor.

        The tensor lives on the model's device (the CPU unless a PyTorch model was
        fit with ``device="cuda"``); loaded models score on the CPU. With ``grad=True``
        (capability ``differentiable``) the scores keep their autograd graph back to the
        model's learned parameters, for gradient-based attacks and audits.
        """
        u = self._check_users(users)
        if grad:
            self.require("differentiable")
            with torch.enable_grad():
                out = self._score_grad(u)
        else:
            with torch.no_grad():
                out = self._score(u)
        out = torch.as_tensor(out, dtype=torch.float32)
        if out.shape != (len(u), self.n_items):
            raise RuntimeError(f"{self.name}: score returned shape {tuple(out.shape)}")
        return out

    # ------------------------------------------------------------ capabilities
    def require(self, capability: str) -> None:
        """Raise :class:`CapabilityError` unless this model declares ``capability`` and its
        configuration allows it (checked before a fit, so a run fails before it trains)."""
        if capability not in CAPABILITIES:
            raise ValueError(f"unknown capability {capability!r}; known: {sorted(CAPABILITIES)}")
        if capability not in self.capabilities:
            have = ", ".join(sorted(self.capabilities)) or "none"
            raise CapabilityError(f"model {self.name!r} does not support {capability} "
                                  f"({CAPABILITIES[capability]}); its capabilities: {have}")
        why = self._unavailable(capability)
        if why is not None:
            raise CapabilityError(why)

    def _unavailable(self, capability: str) -> str | None:
        """Why a declared capability is off under this configuration (None: it is available)."""
        return None

    def embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """``(user_vectors (n_users, d), item_vectors (n_items, d))`` that the model scores with.

        Detached copies: changing them does not change the model. ``score_embeddings`` of
        them gives ``score`` of every user (capability ``embeddings``).
        """
        self.require("embeddings")
        self._require_fitted()
        u, i = self._embeddings()
        return u.detach().clone(), i.detach().clone()

    def score_embeddings(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        """Scores ``(len(user_vectors), len(item_vectors))`` of the given vectors, differentiably.

        The model's own scoring rule (a dot product plus the item bias, if any) applied
        to vectors from :meth:`embeddings`, perturbed or not; gradients flow to the inputs.
        """
        self.require("embeddings")
        self._require_fitted()
        return self._score_embeddings(user_vectors, item_vectors)

    def encode_users(self, users: Sequence[int] | np.ndarray) -> torch.Tensor:
        """The latent code ``(len(users), d)`` each training user is scored from (capability
        ``encoder``): a detached copy, deterministic (no sampling, no dropout)."""
        self.require("encoder")
        self._require_fitted()
        return self._encode_users(np.asarray(users, dtype=np.int64)).detach().clone()

    def fold_in(self, history: sp.spmatrix | np.ndarray,
                user_features: np.ndarray | None = None) -> torch.Tensor:
        """Scores ``(n, n_items)`` for ``n`` users outside the training data, from their interactions.

        Parameters
        ----------
        history
            ``(n, n_items)`` interactions of the new users over the model's item space
            (non-zero = interacted), e.g. the revealed items of cold users.
        user_features
            ``(n, d)`` side features of the new users, encoded as in training (models with
            ``side_features`` that read them; others ignore it).

        Raises
        ------
        CapabilityError
            If the model cannot score users it was not trained on.
        """
        self.require("fold_in")
        self._require_fitted()
        rows = sp.csr_matrix(history, dtype=np.float32)
        if rows.shape[1] != self.n_items:
            raise DataError(f"{self.name}: fold_in history has {rows.shape[1]} item columns, "
                            f"the model {self.n_items} items")
        with torch.no_grad():
            out = torch.as_tensor(self._fold_in(rows, user_features), dtype=torch.float32)
        if out.shape != (rows.shape[0], self.n_items):
            raise RuntimeError(f"{self.name}: fold_in returned shape {tuple(out.shape)}")
        return out

    def recommend(
        self, users: np.ndarray | Sequence[int], k: int = 20, exclude_seen: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and their scores for each user, best first.

        Parameters
        ----------
        users
            User indices.
        k
            Number of items per user (capped at ``n_items``).
        exclude_seen
            Never recommend items the user has in the training data.

        Returns
        -------
        tuple of numpy.ndarray
            ``(items, scores)``, both of shape ``(len(users), k)``.
        """
        u = self._check_users(users)
        scores = self.score(u)
        if exclude_seen:
            scores = scores.masked_fill(self.seen_mask(u).to(scores.device), float("-inf"))
        k = min(int(k), self.n_items)
        top = torch.topk(scores, k, dim=1)
        return top.indices.cpu().numpy(), top.values.cpu().numpy()

    def seen_mask(self, users: np.ndarray) -> torch.Tensor:
        """Dense bool mask ``(len(users), n_items)`` of training items for a chunk of users."""
        self._require_fitted()
        assert self._seen is not None
        rows = self._seen[users]
        mask = torch.zeros((len(users), self.n_items), dtype=torch.bool)
        r = np.repeat(np.arange(len(users)), np.diff(rows.indptr))
        mask[torch.from_numpy(r), torch.from_numpy(rows.indices.astype(np.int64))] = True
        return mask

    def selected_params(self) -> dict[str, Any]:
        """Hyper-parameter values the last ``fit`` chose on its validation data.

        Tuning merges them into the trial's values for the final fit (which has
        no validation data); e.g. iterative models give the early-stopping
        epoch as ``{"epochs": n}``. The default chooses nothing.
        """
        return {}

    def selection_scores(self) -> dict[str, dict[str, float]]:
        """Validation score of every candidate the last ``fit`` chose among, per choice.

        E.g. ``{"prior_weight": {"0.0": 0.19, "0.05": 0.20, ...}}`` for a blend weight picked
        on a grid. Tuning records it with the trial, so the choice can be inspected later.
        The default (nothing chosen on a grid) is empty.
        """
        return {}

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` or :meth:`load` has run."""
        return self._seen is not None

    # ------------------------------------------------------------ persistence
    def save(self, path: str | Path, extra_meta: dict[str, Any] | None = None) -> Path:
        """Save to directory ``path`` as ``model.safetensors`` plus ``meta.json`` (atomic writes)."""
        from advrec.models.persistence import save_model

        return save_model(self, Path(path), extra_meta)

    @classmethod
    def load(cls, path: str | Path) -> Recommender:
        """Load a model saved by :meth:`save`.

        Called on :class:`Recommender` it builds whatever model was saved; called on
        a subclass it also checks that the file holds that model.

        Raises
        ------
        ModelFileError
            If files are missing, corrupted, or of another model or format.
        """
        from advrec.models.persistence import load_model

        return load_model(cls, Path(path))

    # ------------------------------------------------------- for subclasses
    @abstractmethod
    def _fit(
        self,
        train: Interactions,
        valid: Interactions | None,
        *,
        show_progress: bool,
        callbacks: Sequence[Callback],
    ) -> None:
        """Learn parameters from ``train``."""

    @abstractmethod
    def _score(self, users: np.ndarray) -> torch.Tensor | np.ndarray:
        """Scores ``(len(users), n_items)`` for valid user indices."""

    @abstractmethod
    def _state(self) -> dict[str, torch.Tensor | np.ndarray]:
        """Every learned array needed to score, by name."""

    @abstractmethod
    def _set_state(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what :meth:`_state` returned (raise KeyError/ValueError on mismatch)."""

    # ---------------------------------------- capability hooks (declared ones only)
    def _score_grad(self, users: np.ndarray) -> torch.Tensor:
        """``_score`` with the autograd graph kept (``differentiable``)."""
        raise NotImplementedError

    def _embeddings(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The user and item vectors of scoring (``embeddings``)."""
        raise NotImplementedError

    def _score_embeddings(self, user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> torch.Tensor:
        """Default scoring rule of embedding models: the dot product."""
        return user_vectors @ item_vectors.T

    def _encode_users(self, users: np.ndarray) -> torch.Tensor:
        """The users' latent codes (``encoder``)."""
        raise NotImplementedError

    def _fold_in(self, history: sp.csr_matrix, user_features: np.ndarray | None) -> torch.Tensor | np.ndarray:
        """Scores of new users from their interaction rows (``fold_in``)."""
        raise NotImplementedError

    def _warm_start(self, init: Recommender) -> None:
        """Copy ``init``'s parameters into the freshly built ones (``warm_start``)."""
        raise NotImplementedError

    #: registered names of other models whose fitted parameters this class can start from
    warm_start_from: ClassVar[tuple[str, ...]] = ()

    def _check_init(self, init: Recommender, train: Interactions) -> None:
        self.require("warm_start")
        if not init.is_fitted:
            raise CapabilityError(f"{self.name}: init model {init.name!r} is not fitted")
        if init.name != self.name and init.name not in self.warm_start_from:
            ok = ", ".join((self.name, *self.warm_start_from))
            raise CapabilityError(f"{self.name}: cannot start from a {init.name!r} model (only from: {ok})")
        if init.n_users > train.n_users or init.n_items > train.n_items:
            raise DataError(f"{self.name}: init model has {init.n_users} users / {init.n_items} items, more "
                            f"than the training data ({train.n_users} / {train.n_items})")
        for label, old, new in (("user", init.user_ids, train.user_ids), ("item", init.item_ids, train.item_ids)):
            if old is not None and not np.array_equal(old, new[: len(old)]):
                raise DataError(f"{self.name}: the init model's {label} ids are not a prefix of the training "
                                f"data's (warm starts need the same id space, optionally grown at the end)")

    def _encode_side_features(self, train: Interactions) -> None:
        """Side features of ``train`` as float32 matrices (``side_features``), saved with the model.

        Sets ``user_features_`` / ``item_features_`` (``(n_users, d)`` / ``(n_items, d)``, None
        without a table) and ``user_feature_names_`` / ``item_feature_names_``; see
        :func:`advrec.data.features.encode_side_features`.
        """
        from advrec.data.features import encode_side_features

        self.user_features_, self.user_feature_names_ = encode_side_features(train, "user")
        self.item_features_, self.item_feature_names_ = encode_side_features(train, "item")

    # ---------------------------------------------------------------- helpers
    def _require_fitted(self) -> None:
        if self._seen is None:
            raise RuntimeError(f"{self.name}: call fit() or load() first")

    def _check_users(self, users: np.ndarray | Sequence[int]) -> np.ndarray:
        self._require_fitted()
        u = np.asarray(users, dtype=np.int64).reshape(-1)
        if len(u) and (u.min() < 0 or u.max() >= self.n_users):
            raise IndexError(f"{self.name}: user index out of range [0, {self.n_users})")
        return u

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.config.model_dump().items())
        return f"{type(self).__name__}({params})"
