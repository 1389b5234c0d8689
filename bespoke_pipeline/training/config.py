"""Training configs: one YAML file per config in configs/, each a partition of the training
assets. Field names follow the user's Replicate notes (trigger_word, lora_rank, ...)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bespoke_pipeline.paths import PROJECT_DIR
from bespoke_pipeline.pixelart.layout import SIZE

CONFIG_DIR = PROJECT_DIR / "configs"
Family = Literal["pixel", "sdxl", "flux"]
SCHEDULERS = (
    "constant",
    "constant_with_warmup",
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
)


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Family = Field(description="pixel: the embedded 24x24 model; sdxl / flux: GPU")
    base_model: str = Field(
        description="A local diffusers folder (relative to the project) "
        "or a hub id already in the local cache"
    )
    trigger_word: str = "TOK"
    num_train_epochs: int | None = Field(default=None, ge=1)
    steps: int | None = Field(default=None, ge=1)
    lora_rank: int = Field(default=16, ge=1)
    lora_alpha: float = Field(default=16, gt=0)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: tuple[str, ...] = ("to_k", "to_q", "to_v", "to_out.0")
    learning_rate: float = Field(default=1e-4, gt=0)
    text_encoder_lr: float | None = Field(
        default=None,
        gt=0,
        description="Also train a LoRA on the text encoder, token embeddings included, at this "
        "learning rate (kohya's text_encoder_lr); prompts are then encoded every step",
    )
    text_encoder_target_modules: tuple[str, ...] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "out_proj",
        "fc1",
        "fc2",
        "token_embedding",
    )
    lr_scheduler: Literal[SCHEDULERS] = "cosine"  # type: ignore[valid-type]
    lr_warmup_steps: int = Field(default=0, ge=0)
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    batch_size: int = Field(default=1, ge=1)
    resolution: tuple[int, ...] = (24,)
    caption_dropout_rate: float = Field(default=0.0, ge=0, le=1)
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    noise_offset: float = Field(default=0.0, ge=0)
    snr_gamma: float | None = Field(default=None, gt=0, description="min-SNR weighting, e.g. 5")
    allow_cpu: bool = Field(
        default=False,
        description="Train an sdxl/flux config without a GPU: for tiny test models only",
    )
    cache_latents_to_disk: bool = False
    max_grad_norm: float = Field(default=1.0, gt=0)
    seed: int = 42
    save_every_n_epochs: int = Field(default=1, ge=1)
    validation_epochs: int = Field(default=1, ge=1)

    @field_validator("resolution", mode="before")
    @classmethod
    def _split_resolution(cls, value: object) -> object:
        """The notes write "512,768,1024"; YAML may give an int, a list or that string."""
        if isinstance(value, int):
            return (value,)
        if isinstance(value, str):
            return tuple(int(v) for v in value.split(","))
        return value

    @model_validator(mode="after")
    def _one_duration(self) -> TrainingConfig:
        if (self.num_train_epochs is None) == (self.steps is None):
            raise ValueError("set exactly one of num_train_epochs and steps")
        if self.family == "pixel" and self.resolution != (SIZE,):
            raise ValueError(
                f"the pixel family trains at its native {SIZE}x{SIZE}; set resolution: {SIZE}"
            )
        return self

    def epochs_for(self, steps_per_epoch: int) -> int:
        if self.num_train_epochs is not None:
            return self.num_train_epochs
        return max(1, -(-self.steps // steps_per_epoch))

    def base_model_path(self) -> Path | None:
        """The local folder, if `base_model` names one."""
        path = Path(self.base_model)
        path = path if path.is_absolute() else PROJECT_DIR / path
        return path if path.exists() else None

    def digest(self) -> str:
        return hashlib.sha256(
            json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()[:16]


class ConfigError(ValueError):
    """A config file that can't be used; the message names the file and every bad field."""


def load_config(path: Path) -> TrainingConfig:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping of settings, got {type(data).__name__}")
    try:
        return TrainingConfig.model_validate(data)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(map(str, e['loc'])) or 'config'}: {e['msg']}" for e in error.errors()
        )
        raise ConfigError(f"{path.name}: {problems}") from error


def config_names(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Partition keys: one per YAML file, so adding a file adds a partition."""
    return sorted(p.stem for p in config_dir.glob("*.yaml"))


def unavailable_reason(config: TrainingConfig, cuda: bool) -> str | None:
    """Why this config can't train on this machine, or None if it can. A hub id is
    resolved when training starts (from the local cache, or downloaded when online)."""
    if config.family != "pixel":
        if not cuda and not config.allow_cpu:
            return f"the {config.family} trainer needs a CUDA GPU and none is available"
        return None
    if config.base_model_path() is None:
        return f"base model folder '{config.base_model}' does not exist"
    return None


@dataclass(frozen=True)
class Trainability:
    """Which configs this machine can train, and why not the others."""

    trainable: list[str]
    skipped: dict[str, str]  # name -> reason
    broken: list[str]  # config errors, naming file and field


def trainability(cuda: bool, config_dir: Path = CONFIG_DIR) -> Trainability:
    trainable, skipped, broken = [], {}, []
    for name in config_names(config_dir):
        try:
            reason = unavailable_reason(load_config(config_dir / f"{name}.yaml"), cuda)
        except ConfigError as error:
            broken.append(str(error))
            continue
        if reason:
            skipped[name] = reason
        else:
            trainable.append(name)
    return Trainability(trainable, skipped, broken)
