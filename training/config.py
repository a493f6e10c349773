"""Training configuration: YAML -> validated pydantic model, with `--set a.b=value` overrides.

A config file may name another as its `base: other.yaml` (relative to its own folder) and set
only the keys that differ: the base is read first (itself possibly with a base), the file is
merged over it (sections key by key; lists and values replace), then `--set` overrides apply.
Unknown keys and bad values are errors that name the key. The resolved configuration is
saved with every run (`config.yaml` in the run folder and as an MLflow artifact).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from secondlook.errors import SecondlookError
from secondlook.yamlfile import load_yaml, validation_message


class ConfigError(SecondlookError, ValueError):
    """A configuration file or override that cannot be used; the message names the key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(_Section):
    manifest: Path = Path("data/synth/manifest.csv")
    split_seed: int = 0  # the reviewer's own train/val partition of the non-test items
    val_fraction: float = Field(default=0.15, gt=0, lt=1)
    # reviewer: validate (pick the best epoch, calibrate) on the reviewer's own partition of the
    # benchmark's train items; benchmark: train on all of them and validate on the benchmark's
    # val split (learning curves; such a reviewer must not then fit the verdict policy on val).
    validation: Literal["reviewer", "benchmark"] = "reviewer"
    max_items: int | None = Field(default=None, ge=2)  # cap for quick runs; None = all
    # Train on only the first N of the reviewer's training items (data-scaling curves,
    # `secondlook curves --items`); validation and test keep all theirs. None = all.
    train_items: int | None = Field(default=None, ge=1)
    # Train only on the photos of these views (a per-view specialist; None = every view). An
    # item then counts as counterfeit only if a kept photo shows a recorded cue.
    views: list[str] | None = None
    workers: int = Field(default=2, ge=0)  # data-loading processes
    # With model.frozen_levels > 0: run each photo through the frozen levels once, before the
    # first epoch, and train on the cached maps (photos are then not augmented).
    cache_features: bool = True


class ModelConfig(_Section):
    backbone: str = "resnet18"
    # ImageNet weights from this machine (training/weights.py): pretrained_path, then the
    # Hugging Face / torch hub cache, then an installed weights package. Never downloaded.
    pretrained: bool = False
    pretrained_path: Path | None = None  # a local .safetensors/.pth/.bin state dict
    # Feature levels (strides 2, 4, 8, ...) kept at their ImageNet weights: 0 trains everything.
    frozen_levels: int = Field(default=0, ge=0)
    drop_rate: float = Field(default=0.1, ge=0, lt=1)
    seg_channels: int = Field(default=64, ge=8)
    # Counterfeit cues read by one head for every view, or by one head per view (training/cues.py).
    cue_heads: Literal["shared", "per_view"] = "shared"
    # True: each view gets its own copy of the trainable backbone levels (training/view_branches.py).
    view_branches: bool = False


class PreprocessConfig(_Section):
    size: int = Field(default=224, ge=32, le=1024)
    resize: Literal["squash", "center_crop"] = "squash"


class TrainLoopConfig(_Section):
    epochs: int = Field(default=10, ge=1)
    batch_items: int = Field(default=8, ge=1)  # items per batch; all photos of an item travel together
    lr: float = Field(default=2e-3, gt=0)
    head_lr_scale: float = Field(default=1.0, gt=0)  # the heads' learning rate, as a multiple of lr
    weight_decay: float = Field(default=0.05, ge=0)
    warmup_epochs: float = Field(default=1.0, ge=0)
    class_weights: bool = False
    ema: bool = False
    ema_decay: float = Field(default=0.998, gt=0, lt=1)
    early_stopping_patience: int | None = Field(default=None, ge=1)
    augment: Literal["none", "light", "standard"] = "standard"
    amp: bool = True  # mixed precision: float16 on CUDA, bfloat16 on a CPU with it (training/precision.py)
    channels_last: bool = True
    max_steps_per_epoch: int | None = Field(default=None, ge=1)  # for smoke tests
    # The heads refitted after training (training.refit) read at most this many training items.
    refit_items: int = Field(default=3000, ge=1)


class LossWeights(_Section):
    view: float = 0.5
    category: float = 0.5
    hardware_type: float = 0.5
    hardware_finish: float = 0.5
    stamp_type: float = 0.5
    condition_grade: float = 0.5
    evidence: float = 2.0
    cues: float = 4.0  # the per-cue terms (mean over cues, so about 1/11 of a task each)
    cue_regions: float = 4.0  # the cue maps' cells, where the photos record their cue region
    item_evidence: float = 1.0
    defects: float = 1.0
    defect_presence: float = 1.0


class TrackingConfig(_Section):
    tracking_uri: str | None = None  # None: a local file store in ./mlruns
    experiment: str = "secondlook"
    log_model: bool = True


class TrainConfig(_Section):
    name: str = "reviewer"
    seed: int = 0
    out_dir: Path = Path("runs/reviewer")
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    preprocess: PreprocessConfig = PreprocessConfig()
    train: TrainLoopConfig = TrainLoopConfig()
    loss_weights: LossWeights = LossWeights()
    tracking: TrackingConfig = TrackingConfig()

    @field_validator("name")
    @classmethod
    def _name_is_a_folder_name(cls, value: str) -> str:
        if not value or any(c in value for c in "/\\ "):
            raise ValueError("name must be a plain word (it names folders and runs)")
        return value

    @model_validator(mode="after")
    def _cached_photos_are_not_augmented(self) -> TrainConfig:
        if self.model.frozen_levels and self.data.cache_features and self.train.augment != "none":
            raise ValueError(
                "train.augment must be none when frozen features are cached (model.frozen_levels > 0 "
                "with data.cache_features); set data.cache_features=false to augment every epoch"
            )
        return self

    @property
    def caches_features(self) -> bool:
        return bool(self.model.frozen_levels) and self.data.cache_features

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> dict[str, Any]:
    """`a.b=value` strings onto a nested dict; values are parsed as YAML scalars."""
    for override in overrides:
        key, sep, text = override.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--set {override!r}: expected key=value, e.g. train.epochs=3")
        node = raw
        parts = key.strip().split(".")
        for part in parts[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--set {key}: {part} is not a section")
            node = child
        node[parts[-1]] = yaml.safe_load(text) if text.strip() else None
    return raw


BASE_KEY = "base"  # top-level key naming the config file a config extends


def merge_config(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child` over `base`: mappings merge key by key, anything else (lists, values) replaces."""
    merged = dict(base)
    for key, value in child.items():
        below = merged.get(key)
        if isinstance(value, dict) and isinstance(below, dict):
            merged[key] = merge_config(below, value)
        else:
            merged[key] = value
    return merged


def _read_config(path: Path, chain: list[Path]) -> tuple[dict[str, Any], list[Path]]:
    """The file's mapping merged over its bases (without `base`), and the bases read, nearest first."""
    loaded = load_yaml(path, ConfigError, what="config file")
    if loaded is not None and not isinstance(loaded, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    raw: dict[str, Any] = dict(loaded or {})
    if BASE_KEY not in raw:
        return raw, []
    name = raw.pop(BASE_KEY)
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{path}: base: expected the name of a config file, e.g. base: reviewer_a.yaml")
    base_path = path.parent / name.strip()
    seen = [*chain, path]
    if any(base_path.resolve() == other.resolve() for other in seen):
        raise ConfigError("config base cycle: " + " -> ".join(str(p) for p in [*seen, base_path]))
    if not base_path.is_file():
        raise ConfigError(f"{path}: base config not found: {base_path}")
    base_raw, bases = _read_config(base_path, seen)
    return merge_config(base_raw, raw), [base_path, *bases]


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> TrainConfig:
    """Read a YAML config (or the defaults when `path` is None) over its bases, and apply overrides."""
    raw: dict[str, Any] = {}
    source = "defaults"
    if path is not None:
        path = Path(path)
        raw, bases = _read_config(path, [])
        source = str(path) + (f" (base {', '.join(str(b) for b in bases)})" if bases else "")
    raw = apply_overrides(raw, overrides or [])
    try:
        return TrainConfig(**raw)
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, source)) from None
