"""The one :class:`Recommender` contract every model, attack and defence follows."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import numpy as np
import scipy.sparse as sp
import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

import advrec
from advrec.data.interactions import Interactions
from advrec.errors import ConfigError, ModelFileError
from advrec.train.callbacks import Callback
from advrec.utils.io import atomic_path, atomic_write_json, read_json

FORMAT_VERSION = 1
WEIGHTS_FILE = "model.safetensors"
META_FILE = "meta.json"
IDS_FILE = "ids.json"

R = TypeVar("R", bound="Recommender")


def same_hyperparameters(config: BaseModel, recorded: dict[str, Any] | None, *,
                         ignore: Iterable[str] = ()) -> bool:
    """Whether ``config`` equals a recorded one (its JSON form).

    An option added since (absent from the record) counts as equal when it is at its
    default, so records and checkpoints written before a new option stay usable.
    Fields in ``ignore`` are not compared.
    """
    if recorded is None:
        return False
    skip = set(ignore)
    now = {k: v for k, v in config.model_dump(mode="json").items() if k not in skip}
    recorded = {k: v for k, v in recorded.items() if k not in skip}
    fields = type(config).model_fields
    added = set(now) - set(recorded)
    defaults = {k: fields[k].get_default(call_default_factory=True) for k in added}
    if set(recorded) - set(now) or any(now[k] != defaults[k] for k in added):
        return False
    return all(now[k] == recorded[k] for k in recorded)


class ModelConfig(BaseModel):
    """Base of every model's typed configuration.

    Unknown keys are errors (a misspelt hyper-parameter must never be silently
    ignored) and values are validated on construction.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    """Seed of every random choice the model makes."""


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

    def __init__(self, config: ModelConfig | None = None, **params: Any) -> None:
        if config is not None and params:
            raise ConfigError("pass either a config object or keyword parameters, not both")
        if config is None:
            try:
                config = self.config_class(**params)
            except ValidationError as exc:
                raise ConfigError(_format_validation(self.name, exc)) from None
        elif not isinstance(config, self.config_class):
            raise ConfigError(f"{self.name}: expected {self.config_class.__name__}, got {type(config).__name__}")
        self.config: ModelConfig = config
        self.n_users = 0
        self.n_items = 0
        self._seen: sp.csr_matrix | None = None
        self.user_ids: np.ndarray | None = None
        self.item_ids: np.ndarray | None = None
        self.history: list[dict[str, float]] = []

    # -------------------------------------------------------------- public API
    def fit(
        self: R,
        train: Interactions,
        valid: Interactions | None = None,
        *,
        show_progress: bool = False,
        callbacks: Sequence[Callback] = (),
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

        Returns
        -------
        Recommender
            ``self``.
        """
        from advrec.utils.seed import seed_everything

        seed_everything(self.config.seed)
        self.n_users, self.n_items = train.n_users, train.n_items
        self._seen = train.binary_csr
        self.user_ids, self.item_ids = train.user_ids, train.item_ids
        self.history = []
        self._fit(train, valid, show_progress=show_progress, callbacks=callbacks)
        return self

    def score(self, users: np.ndarray | Sequence[int]) -> torch.Tensor:
        """Scores of every item for each user index: a ``(len(users), n_items)`` float32 tensor.

        The tensor lives on the model's device (the CPU unless a PyTorch model was
        fit with ``device="cuda"``); loaded models score on the CPU.
        """
        u = self._check_users(users)
        with torch.no_grad():
            out = self._score(u)
        out = torch.as_tensor(out, dtype=torch.float32)
        if out.shape != (len(u), self.n_items):
            raise RuntimeError(f"{self.name}: score returned shape {tuple(out.shape)}")
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
        self._require_fitted()
        assert self._seen is not None
        out = Path(path)
        tensors = {f"state.{k}": torch.as_tensor(v).detach().cpu().contiguous() for k, v in self._state().items()}
        tensors["seen.indptr"] = torch.from_numpy(self._seen.indptr.astype(np.int64))
        tensors["seen.indices"] = torch.from_numpy(self._seen.indices.astype(np.int64))
        meta = {
            "format_version": FORMAT_VERSION,
            "model": self.name,
            "config": self.config.model_dump(mode="json"),
            "n_users": self.n_users,
            "n_items": self.n_items,
            "history": self.history,
            "versions": {"advrec": advrec.__version__, "torch": torch.__version__, "numpy": np.__version__},
            "extra": extra_meta or {},
        }
        out.mkdir(parents=True, exist_ok=True)
        with atomic_path(out / WEIGHTS_FILE) as tmp:
            save_file(tensors, str(tmp), metadata={"model": self.name})
        if self.user_ids is not None and self.item_ids is not None:
            ids = {"users": self.user_ids.tolist(), "items": self.item_ids.tolist()}
            atomic_write_json(out / IDS_FILE, ids)
        atomic_write_json(out / META_FILE, meta)
        return out

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
        from advrec.models.registry import get_model_class

        d = Path(path)
        meta = read_meta(d)
        saved = meta.get("model")
        if cls is not Recommender and saved != cls.name:
            raise ModelFileError(f"{d}: holds a {saved!r} model, not {cls.name!r}")
        klass = get_model_class(str(saved))
        try:
            model = klass(**meta["config"])
        except ConfigError as exc:
            raise ModelFileError(f"{d / META_FILE}: bad config: {exc}") from None
        try:
            tensors = load_file(str(d / WEIGHTS_FILE))
        except (SafetensorError, OSError, ValueError) as exc:
            raise ModelFileError(f"{d / WEIGHTS_FILE}: cannot read weights ({exc})") from None
        n_users, n_items = int(meta["n_users"]), int(meta["n_items"])
        try:
            indptr = tensors.pop("seen.indptr").numpy()
            indices = tensors.pop("seen.indices").numpy()
            seen = sp.csr_matrix(
                (np.ones(len(indices), np.float32), indices, indptr), shape=(n_users, n_items)
            )
            model.n_users, model.n_items, model._seen = n_users, n_items, seen
            model.history = list(meta.get("history", []))
            model._set_state({k[len("state."):]: v for k, v in tensors.items() if k.startswith("state.")})
        except (KeyError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{d}: weights do not match the metadata ({exc})") from None
        model.user_ids, model.item_ids = _read_ids(d, n_users, n_items)
        return model

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


def read_meta(path: Path) -> dict[str, Any]:
    """Read and check ``meta.json`` of a saved model directory."""
    f = path / META_FILE
    if not f.is_file():
        raise ModelFileError(f"{path}: not a saved advrec model (no {META_FILE})")
    meta = read_json(f, "metadata")
    if not isinstance(meta, dict) or meta.get("format_version") != FORMAT_VERSION:
        raise ModelFileError(f"{f}: unsupported format (expected format_version {FORMAT_VERSION})")
    for key in ("model", "config", "n_users", "n_items"):
        if key not in meta:
            raise ModelFileError(f"{f}: missing field {key!r}")
    return meta


def _read_ids(path: Path, n_users: int, n_items: int) -> tuple[np.ndarray | None, np.ndarray | None]:
    f = path / IDS_FILE
    if not f.is_file():
        return None, None
    try:
        ids = json.loads(f.read_text(encoding="utf-8"))
        users, items = np.asarray(ids["users"]), np.asarray(ids["items"])
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{f}: corrupted id vocabulary ({exc})") from None
    if len(users) != n_users or len(items) != n_items:
        raise ModelFileError(f"{f}: {len(users)} users / {len(items)} items, expected {n_users} / {n_items}")
    return users, items


def _format_validation(name: str, exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(x) for x in err["loc"]) or "config"
        parts.append(f"{loc}: {err['msg']}")
    return f"{name}: invalid parameters: " + "; ".join(parts)
