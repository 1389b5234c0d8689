"""Training configs: one file per config in configs/ (or $BESPOKE_CONFIG_DIR), each a
partition of the training assets: YAML with field names from the user's Replicate notes
(trigger_word, lora_rank, ...), or a kohya sd-scripts TOML as artists keep them
(`kohya_toml` maps its keys). A YAML file may be a sweep (`sweep`): a partition per member."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bespoke_pipeline.dataset.package import CaptionVariant
from bespoke_pipeline.paths import PROJECT_DIR
from bespoke_pipeline.pixelart.layout import SIZE
from bespoke_pipeline.training.base_weights import missing_base_reason
from bespoke_pipeline.training.sweep import MEMBER_MARK, SweepError, SweepSpace, expand, swept

#: Read once at import, as Dagster's partitions are: another folder of configs is another
#: set of partitions (an experiment kept apart from the shipped configs, a test's own).
CONFIG_DIR = Path(os.environ.get("BESPOKE_CONFIG_DIR", PROJECT_DIR / "configs")).resolve()
Family = Literal["pixel", "sd15", "sdxl", "flux"]
#: Families prompted through CLIP in 75-token windows (kohya's and A1111's long prompts).
CLIP_FAMILIES = ("sd15", "sdxl")
SCHEDULERS = (
    "constant",
    "constant_with_warmup",
    "linear",
    "cosine",
    "cosine_with_restarts",
    "polynomial",
)


#: Replicate's trainers, and the families whose LoRAs they train.
REPLICATE_FAMILIES = ("flux", "sdxl")
#: The one place a Replicate token is read from.
REPLICATE_TOKEN_ENV = "REPLICATE_API_TOKEN"


class ReplicateSettings(BaseModel):
    """Where `backend: replicate` trains: the trainer and the model its versions go to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    trainer: str = Field(
        pattern=r"^[\w.-]+/[\w.-]+:[0-9a-f]{64}$",
        description="owner/name:version of the trainer, e.g. "
        "ostris/flux-dev-lora-trainer:<64-hex version id>",
    )
    destination: str = Field(
        pattern=r"^[\w.-]+/[\w.-]+$",
        description="owner/name of an existing model of yours; each training adds a version",
    )
    input: dict[str, Any] = Field(
        default_factory=dict,
        description="More trainer inputs, as the trainer names them (wandb_project, "
        "autocaption, ...); they win over the ones taken from this config",
    )
    poll_seconds: float = Field(default=5.0, gt=0, description="first wait between polls")
    max_poll_seconds: float = Field(default=60.0, gt=0, description="longest wait, backed off to")
    connection_retries: int = Field(
        default=8, ge=0, description="polls in a row that may fail to connect before giving up"
    )
    score_with_predictions: bool = Field(
        default=False,
        description="Render the evaluation through predictions of the trained version on "
        "Replicate: no GPU and no base model needed here, at the cost of one prediction per "
        "image (cached, so a re-run pays nothing twice)",
    )
    max_predictions_per_checkpoint: int = Field(
        default=100,
        ge=1,
        description="Scoring stops before it starts when the evaluation would need more "
        "predictions than this for one checkpoint (the base model counts as one)",
    )


class TrainingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    family: Family = Field(description="pixel: the embedded 24x24 model; sd15 / sdxl / flux: a GPU")
    base_model: str = Field(
        description="A local diffusers folder or single-file checkpoint (.safetensors, as "
        "A1111 and ComfyUI keep them), relative to the project, or a hub id"
    )
    base_model_config: str | None = Field(
        default=None,
        description="For a single-file base_model: the diffusers folder or cached hub id "
        "whose component configs and tokenizers go with it (default: the repo diffusers "
        "guesses from the file, which must then be in the Hugging Face cache)",
    )
    import_from: str | None = Field(
        default=None,
        description="A folder or file of LoRA epochs trained elsewhere (CivitAI/kohya "
        "Name-000001.safetensors..., Replicate tars, diffusers folders): imported and "
        "scored instead of trained",
    )
    backend: Literal["local", "replicate"] = Field(
        default="local",
        description="local: train here; replicate: train on Replicate (settings in `replicate`) "
        "and score the result here",
    )
    replicate: ReplicateSettings | None = None
    trigger_word: str = "TOK"
    train_captions: CaptionVariant = Field(
        default="as_written",
        description="as_written: the user's captions; corrected: those with only the clauses "
        "the pixels contradict rewritten (the caption check's suggested fix); from_pixels: "
        "captions written from the pixels in the template's words. The user's files are "
        "never changed",
    )
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
    text_encoder_target_modules: tuple[str, ...] | None = Field(
        default=None,
        description="None: the family's choice (CLIP attention and MLP, as kohya; the "
        "embedded model also its token embeddings, so it can learn new words)",
    )
    lr_scheduler: Literal[SCHEDULERS] = "cosine"  # type: ignore[valid-type]
    lr_scheduler_num_cycles: int = Field(
        default=1, ge=1, description="hard restarts of cosine_with_restarts (kohya's name)"
    )
    lr_warmup_steps: int = Field(default=0, ge=0)
    optimizer: Literal["adamw", "adamw8bit"] = "adamw"
    batch_size: int = Field(default=1, ge=1)
    resolution: tuple[int, ...] = (24,)
    caption_dropout_rate: float = Field(default=0.0, ge=0, le=1)
    shuffle_caption: bool = Field(
        default=False,
        description="Shuffle a caption's comma-separated parts every step (kohya); prompts "
        "are then encoded every step",
    )
    keep_tokens: int = Field(
        default=0, ge=0, description="Leading comma-separated parts shuffle_caption keeps"
    )
    max_token_length: Literal[75, 150, 225] = Field(
        default=225,
        description="CLIP tokens read per prompt, in 75-token windows as kohya and A1111 "
        "encode them (sd15, sdxl); 75 cuts a long caption at CLIP's own limit",
    )
    mixed_precision: Literal["no", "fp16", "bf16"] = "no"
    gradient_checkpointing: bool = False
    noise_offset: float = Field(default=0.0, ge=0)
    multires_noise_iterations: int = Field(
        default=0, ge=0, description="Pyramid noise levels (kohya); 6 is common, 0 is off"
    )
    multires_noise_discount: float = Field(default=0.3, gt=0, le=1)
    snr_gamma: float | None = Field(default=None, gt=0, description="min-SNR weighting, e.g. 5")
    timestep_sampling: Literal["sigma", "uniform", "sigmoid", "shift", "flux_shift"] = Field(
        default="sigmoid",
        description="FLUX: how noise levels are drawn, by kohya's names. uniform; sigma "
        "(uniform, shifted by discrete_flow_shift: kohya's default); sigmoid (of a normal "
        "draw times sigmoid_scale: ai-toolkit's default, so the Replicate trainer's); shift "
        "(sigmoid, shifted by discrete_flow_shift); flux_shift (sigmoid, shifted by the "
        "image's size as FLUX.1-dev samples)",
    )
    sigmoid_scale: float = Field(default=1.0, gt=0)
    discrete_flow_shift: float = Field(default=3.0, gt=0)
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
        if self.import_from is None and (self.num_train_epochs is None) == (self.steps is None):
            raise ValueError("set exactly one of num_train_epochs and steps")
        if Path(self.base_model).suffix in (".safetensors", ".ckpt") and (
            self.family not in CLIP_FAMILIES
        ):
            raise ValueError(
                "a single-file base_model is read for sd15 and sdxl; give the "
                f"{self.family} family a diffusers folder or hub id"
            )
        if (self.backend == "replicate") != (self.replicate is not None):
            raise ValueError("backend: replicate and a `replicate:` block go together")
        if self.backend == "replicate" and self.family not in REPLICATE_FAMILIES:
            raise ValueError(
                f"Replicate's trainers train {' and '.join(REPLICATE_FAMILIES)} LoRAs, "
                f"not {self.family}"
            )
        if self.backend == "replicate" and self.import_from is not None:
            raise ValueError("a config either trains on Replicate or imports: not both")
        if self.keep_tokens and not self.shuffle_caption:
            raise ValueError("keep_tokens only applies with shuffle_caption: true")
        ddpm_only = ("noise_offset", "multires_noise_iterations", "snr_gamma")
        if self.family == "flux" and any(getattr(self, name) for name in ddpm_only):
            raise ValueError(
                f"{', '.join(ddpm_only)} shape DDPM noise; flux trains by flow matching: "
                "leave them unset"
            )
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
        path = _in_project(self.base_model)
        return path if path.exists() else None

    def import_path(self) -> Path | None:
        """Where `import_from` points (relative paths are in the project)."""
        return None if self.import_from is None else _in_project(self.import_from)

    def digest(self) -> str:
        return hashlib.sha256(
            json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        ).hexdigest()[:16]


def _in_project(name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else PROJECT_DIR / path


class ConfigError(ValueError):
    """A config file that can't be used; the message names the file and every bad field."""


#: A config is a YAML file of our settings or a kohya sd-scripts TOML (`kohya_toml`).
CONFIG_SUFFIXES = (".yaml", ".yml", ".toml")


def load_config(path: Path) -> TrainingConfig:
    """The config one file holds; a sweep's members load by name (`load_named`)."""
    if path.suffix == ".toml":
        return _load_kohya(path)[0]
    members = _members_of(path)
    if len(members) > 1:
        raise ConfigError(
            f"{path.name}: a sweep of {len(members)} configs; load a member by its name "
            f"({', '.join(members)})"
        )
    return _validated(path, next(iter(members.values())))


def load_named(name: str, config_dir: Path = CONFIG_DIR) -> TrainingConfig:
    """The config of the partition `name`: a file's, or one member of a sweep."""
    path = config_path(name, config_dir)
    if path.suffix == ".toml":
        return _load_kohya(path)[0]
    members = _members_of(path)
    if name not in members:
        raise ConfigError(
            f"{path.name}: no member '{name}' in this sweep now (it has {', '.join(members)})"
        )
    return _validated(path, members[name], f" (member {name})" if len(members) > 1 else "")


def _settings_of(path: Path) -> dict[str, Any]:
    if path.suffix not in CONFIG_SUFFIXES:
        raise ConfigError(f"{path.name}: a config is a .yaml or a kohya .toml file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as error:
        raise ConfigError(f"{path.name}: not valid YAML ({error})") from error
    if not isinstance(data, dict):
        raise ConfigError(f"{path.name}: expected a mapping of settings, got {type(data).__name__}")
    return data


def _members_of(path: Path) -> dict[str, dict[str, Any]]:
    try:
        return expand(path.stem, _settings_of(path), _LIST_SETTINGS)
    except SweepError as error:
        raise ConfigError(f"{path.name}: {error}") from error


def sweep_space(path: Path) -> SweepSpace:
    """The ranges a grid sweep file declares, and the settings its members share."""
    settings = _settings_of(path)
    choices = swept(settings, _LIST_SETTINGS)
    if not choices:
        raise ConfigError(
            f"{path.name}: declares no values to choose from; give a list for each setting "
            "to try (lora_rank: [8, 16, 32])"
        )
    return SweepSpace({k: v for k, v in settings.items() if k not in choices}, choices)


def _validated(path: Path, settings: dict[str, Any], member: str = "") -> TrainingConfig:
    try:
        return TrainingConfig.model_validate(settings)
    except ValidationError as error:
        raise ConfigError(f"{path.name}{member}: {_problems(error, {})}") from error


def _takes_a_list(annotation: object) -> bool:
    return get_origin(annotation) is tuple or any(map(_takes_a_list, get_args(annotation)))


#: Settings whose one value is a list, so that only a list of lists sweeps them.
_LIST_SETTINGS = tuple(
    name for name, field in TrainingConfig.model_fields.items() if _takes_a_list(field.annotation)
)


def config_notes(path: Path) -> list[str]:
    """What loading a config wants its run's log to say: for a kohya TOML, the keys not
    used here and the kohya defaults that filled gaps; nothing for YAML."""
    return _load_kohya(path)[1] if path.suffix == ".toml" else []


def _load_kohya(path: Path) -> tuple[TrainingConfig, list[str]]:
    from bespoke_pipeline.training.kohya_toml import KohyaTomlError, read_kohya_toml

    try:
        kohya = read_kohya_toml(path)
    except KohyaTomlError as error:
        raise ConfigError(f"{path.name}: {error}") from error
    try:
        return TrainingConfig.model_validate(kohya.settings), kohya.notes
    except ValidationError as error:
        raise ConfigError(f"{path.name}: {_problems(error, kohya.sources)}") from error


def _problems(error: ValidationError, sources: dict[str, str]) -> str:
    """Every bad field; a kohya TOML's by its own key, e.g. 'network_dim (lora_rank)'."""

    def where(loc: tuple) -> str:
        if not loc:
            return "config"
        field = str(loc[0])
        name = f"{sources[field]} ({field})" if sources.get(field, field) != field else field
        return ".".join([name, *map(str, loc[1:])])

    return "; ".join(f"{where(e['loc'])}: {e['msg']}" for e in error.errors())


def _config_files(config_dir: Path) -> dict[str, list[Path]]:
    by_name: dict[str, list[Path]] = {}
    for path in sorted(config_dir.glob("*")):
        if path.suffix in CONFIG_SUFFIXES and path.is_file():
            by_name.setdefault(path.stem, []).append(path)
    return by_name


def _one_file(name: str, paths: list[Path]) -> Path:
    if len(paths) > 1:
        raise ConfigError(
            f"{' and '.join(p.name for p in paths)}: two configs named '{name}'; keep one"
        )
    return paths[0]


def _partitions(config_dir: Path, wanted: str | None = None) -> dict[str, Path]:
    """Partition key -> its file. A file that cannot be read is still one partition, by
    its name, so the error shows when that config is used instead of hiding the others.
    Looking for `wanted`, two files of another name are left for that name to report."""
    keys: dict[str, Path] = {}
    for stem, paths in _config_files(config_dir).items():
        if wanted is not None and len(paths) > 1 and stem != wanted.split(MEMBER_MARK)[0]:
            continue
        path = _one_file(stem, paths)
        try:
            names = list(_members_of(path)) if path.suffix != ".toml" else [stem]
        except ConfigError:
            names = [stem]
        for name in names:
            keys[name] = path
    return keys


def config_names(config_dir: Path = CONFIG_DIR) -> list[str]:
    """Partition keys: one per config file (YAML or kohya TOML) and one per member of a
    sweep, so adding a file adds partitions. Two files of one name (x.yaml and x.toml) are
    an error naming both."""
    return sorted(_partitions(config_dir))


def config_path(name: str, config_dir: Path = CONFIG_DIR) -> Path:
    """The file of the config `name`: name.yaml, name.yml or name.toml, or the sweep
    file a member's name starts with."""
    found = _partitions(config_dir, name).get(name)
    if found is None:
        raise ConfigError(f"no config '{name}' in {config_dir} (looked for {name}.yaml, .toml)")
    return found


def partitions_named(names: list[str], config_dir: Path = CONFIG_DIR) -> list[str]:
    """The partitions `names` ask for: a config by its name, and every member of a sweep
    by its file's name."""
    keys = _partitions(config_dir)
    unknown = [n for n in names if n not in keys and all(p.stem != n for p in keys.values())]
    if unknown:
        raise ConfigError(f"no config named {', '.join(unknown)} in {config_dir}")
    return [key for key, path in keys.items() if key in names or path.stem in names]


def unavailable_reason(config: TrainingConfig, cuda: bool) -> str | None:
    """Why this config can't train on this machine, or None if it can: no Replicate token
    for a remote one; no GPU for a GPU family (scoring needs one, wherever the training
    ran, unless Replicate renders it too); or a base model that is neither here nor to be
    had from the hub."""
    if config.backend == "replicate":
        if not os.environ.get(REPLICATE_TOKEN_ENV):
            return f"backend replicate needs {REPLICATE_TOKEN_ENV} set to a Replicate API token"
        if config.replicate.score_with_predictions:
            return None  # trained and rendered there: nothing runs on this machine's GPU
    if config.family != "pixel" and not cuda and not config.allow_cpu:
        return f"the {config.family} trainer needs a CUDA GPU and none is available"
    source = config.import_path()
    if source is not None and not source.exists():
        return f"import_from '{config.import_from}' does not exist"
    return missing_base_reason(config)


@dataclass(frozen=True)
class Trainability:
    """Which configs this machine can train, and why not the others."""

    trainable: list[str]
    skipped: dict[str, str]  # name -> reason
    broken: list[str]  # config errors, naming file and field

    def only(self, names: list[str]) -> Trainability:
        return Trainability(
            [n for n in self.trainable if n in names],
            {n: reason for n, reason in self.skipped.items() if n in names},
            self.broken,
        )


def trainability(cuda: bool, config_dir: Path = CONFIG_DIR) -> Trainability:
    trainable, skipped, broken = [], {}, []
    for name in config_names(config_dir):
        try:
            reason = unavailable_reason(load_named(name, config_dir), cuda)
        except ConfigError as error:
            broken.append(str(error))
            continue
        if reason:
            skipped[name] = reason
        else:
            trainable.append(name)
    return Trainability(trainable, skipped, broken)
