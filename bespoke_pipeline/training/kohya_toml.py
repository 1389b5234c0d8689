"""kohya sd-scripts TOML files as training configs.

Artists keep their sd-scripts settings as TOML (`train_network.py --config_file x.toml`;
kohya_ss saves the same argument names). `read_kohya_toml` turns one into the settings of
a `TrainingConfig` plus notes for the run's log, so that the file means here what it meant
to kohya: where it leaves a setting out, kohya's own default applies (1600 steps, 75 CLIP
tokens, a constant schedule, ...) and a note says so.

Every key is accounted for, so nothing is ever dropped silently. It is either

* mapped to a setting (`MAPPED`),
* listed in a note as not used here (`NOT_USED`: it places files, names outputs, logs,
  or trades speed for memory, and doesn't change what is learned),
* an error when its value would train in a way this pipeline doesn't (`UNSUPPORTED`;
  the value that changes nothing, such as `flip_aug = false`, is accepted), or
* an error as a key sd-scripts doesn't have (a typo, or a newer option).

The dataset part may sit in the same file: `[general]`, one `[[datasets]]` and its one
`[[datasets.subsets]]` (one training package per config), with kohya's precedence: a
subset's key over its dataset's, over `[general]`, over the top-level arguments. Other
top-level tables (`[model_arguments]`, `[training_arguments]`, ...) are flattened, as
sd-scripts does. Two top-level keys outside ours: `family` (pixel, sd15, sdxl, flux),
which overrides the family read from the file, and `trigger_word`, the same as a
subset's `class_tokens`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bespoke_pipeline.training.config import SCHEDULERS

#: Keys of ours, read at the top level only.
OURS = frozenset({"family", "trigger_word"})

#: Keys that become settings (or decide the family) in `_settings`.
MAPPED = frozenset(
    {
        "pretrained_model_name_or_path",
        "sdxl",
        "v2",
        "v_parameterization",
        "network_module",
        "network_dim",
        "network_alpha",
        "network_dropout",
        "timestep_sampling",
        "sigmoid_scale",
        "discrete_flow_shift",
        "learning_rate",
        "unet_lr",
        "text_encoder_lr",
        "network_train_unet_only",
        "cache_text_encoder_outputs",
        "lr_scheduler",
        "lr_scheduler_num_cycles",
        "lr_warmup_steps",
        "optimizer_type",
        "use_8bit_adam",
        "train_batch_size",
        "max_train_epochs",
        "max_train_steps",
        "save_every_n_epochs",
        "resolution",
        "enable_bucket",
        "min_bucket_reso",
        "max_bucket_reso",
        "bucket_reso_steps",
        "caption_dropout_rate",
        "shuffle_caption",
        "keep_tokens",
        "max_token_length",
        "min_snr_gamma",
        "noise_offset",
        "multires_noise_iterations",
        "multires_noise_discount",
        "mixed_precision",
        "gradient_checkpointing",
        "cache_latents",
        "cache_latents_to_disk",
        "max_grad_norm",
        "seed",
        "class_tokens",
    }
)

#: Keys that don't change what is learned, by why; each group becomes one note.
NOT_USED: dict[str, frozenset[str]] = {
    "they place files or name outputs; runs live in the pipeline's own store": frozenset(
        {
            "output_dir",
            "output_name",
            "logging_dir",
            "log_prefix",
            "save_model_as",
            "save_precision",
            "use_safetensors",
            "no_metadata",
            "image_dir",
            "train_data_dir",
            "in_json",
            "metadata_file",
            "caption_extension",
            "caption_extention",
            "tokenizer_cache_dir",
            "config_file",
            "output_config",
            "training_comment",
            "metadata_title",
            "metadata_author",
            "metadata_description",
            "metadata_license",
            "metadata_tags",
            "huggingface_repo_id",
            "huggingface_repo_type",
            "huggingface_path_in_repo",
            "huggingface_token",
            "huggingface_repo_visibility",
            "save_state_to_huggingface",
            "resume_from_huggingface",
            "async_upload",
        }
    ),
    "model files; the whole model comes from pretrained_model_name_or_path": frozenset(
        {"ae", "clip_l", "t5xxl", "clip_l_tokenizer_path"}
    ),
    "logging and samples; the pipeline logs to MLflow and draws its own samples": frozenset(
        {
            "log_with",
            "log_tracker_name",
            "log_tracker_config",
            "log_config",
            "wandb_run_name",
            "wandb_api_key",
            "console_log_level",
            "console_log_file",
            "console_log_simple",
            "sample_prompts",
            "sample_every_n_steps",
            "sample_every_n_epochs",
            "sample_at_first",
            "sample_sampler",
        }
    ),
    "checkpoint bookkeeping; every epoch's LoRA is kept here": frozenset(
        {
            "save_every_n_steps",
            "save_n_epoch_ratio",
            "save_last_n_epochs",
            "save_last_n_epochs_state",
            "save_last_n_steps",
            "save_last_n_steps_state",
            "save_state",
            "save_state_on_train_end",
        }
    ),
    "speed and memory only": frozenset(
        {
            "xformers",
            "sdpa",
            "mem_eff_attn",
            "lowram",
            "highvram",
            "max_data_loader_n_workers",
            "persistent_data_loader_workers",
            "vae_batch_size",
            "cache_info",
            "skip_cache_check",
            "cache_text_encoder_outputs_to_disk",
            "disable_mmap_load_safetensors",
            "torch_compile",
            "dynamo_backend",
            "ddp_timeout",
            "ddp_gradient_as_bucket_view",
            "ddp_static_graph",
            "cpu_offload_checkpointing",
            "blocks_to_swap",
            "no_half_vae",
            "mem_eff_save",
        }
    ),
    "validation, which has no images to use without validation_split": frozenset(
        {
            "validation_seed",
            "validate_every_n_steps",
            "validate_every_n_epochs",
            "max_validation_steps",
        }
    ),
    "no effect here: the 24 px portraits are always upscaled by whole cells to the "
    "training side": frozenset({"bucket_no_upscale"}),
    "no effect here: huber_* only act with loss_type huber or smooth_l1, "
    "prior_loss_weight only with regularization images": frozenset(
        {"huber_c", "huber_schedule", "prior_loss_weight"}
    ),
}


def _off(value: object) -> bool:
    return value in (False, 0, "", [], None)


def _is(*neutral: object) -> Callable[[object], bool]:
    return lambda value: value in neutral


def _never(_value: object) -> bool:
    return False


_NO_AUGMENTATION = "the pipeline trains on the portraits as they are, without augmentation"
_OWN_CAPTIONS = "captions are used as the training package has them"
_PLAIN_LORA = "the pipeline trains plain LoRA layers (networks.lora), from scratch"
_ONE_PACKAGE = "every image of the one training package is trained, once per epoch"
_LOSS = "the loss here is the mean squared error, weighted by min_snr_gamma only"
_NOISE = "noise here is Gaussian, with noise_offset and multires noise only"
_PRECISION = "mixed_precision is the only precision setting here"
_FLUX = "FLUX trains here on the raw velocity target, with guidance 3.5"

#: Keys that train differently from this pipeline unless their value changes nothing:
#: key -> (is the value neutral, why not).
UNSUPPORTED: dict[str, tuple[Callable[[object], bool], str]] = {
    "network_args": (
        _off,
        f"extra network arguments (conv_dim, block weights, ...); {_PLAIN_LORA}",
    ),
    "network_weights": (_off, f"it starts from an existing LoRA; {_PLAIN_LORA}"),
    "dim_from_weights": (_off, f"it reads the rank from an existing LoRA; {_PLAIN_LORA}"),
    "base_weights": (_off, "merging LoRAs into the base model first is not done here"),
    "base_weights_multiplier": (_off, "merging LoRAs into the base model first is not done here"),
    "network_train_text_encoder_only": (_off, "the pipeline always trains the denoiser"),
    "scale_weight_norms": (_off, "max-norm regularization is not done here"),
    "loraplus_lr_ratio": (_off, "LoRA+ learning rates are not done here"),
    "loraplus_unet_lr_ratio": (_off, "LoRA+ learning rates are not done here"),
    "loraplus_text_encoder_lr_ratio": (_off, "LoRA+ learning rates are not done here"),
    "network_multiplier": (_is(1, 1.0), "the LoRA trains at multiplier 1"),
    "dataset_config": (_off, "datasets are read from this file's [[datasets]], not another file"),
    "reg_data_dir": (_off, "regularization images are not used here"),
    "is_reg": (_off, "regularization images are not used here"),
    "dataset_repeats": (_is(1), _ONE_PACKAGE),
    "validation_split": (_off, _ONE_PACKAGE),
    "skip_image_resolution": (_off, _ONE_PACKAGE),
    "dataset_class": (_off, _ONE_PACKAGE),
    "debug_dataset": (_off, "it shows the dataset instead of training"),
    "conditioning_data_dir": (_off, "masked loss is not done here"),
    "masked_loss": (_off, "masked loss is not done here"),
    "alpha_mask": (_off, "masked loss is not done here"),
    "resize_interpolation": (_off, "portraits are upscaled by whole cells (nearest) here"),
    "flip_aug": (_off, f"a flipped portrait faces the other way; {_NO_AUGMENTATION}"),
    "color_aug": (_off, _NO_AUGMENTATION),
    "random_crop": (_off, _NO_AUGMENTATION),
    "face_crop_aug_range": (_off, _NO_AUGMENTATION),
    "caption_prefix": (_off, _OWN_CAPTIONS),
    "caption_suffix": (_off, _OWN_CAPTIONS),
    "caption_separator": (_is(","), f"{_OWN_CAPTIONS}, parts separated by commas"),
    "secondary_separator": (_off, _OWN_CAPTIONS),
    "keep_tokens_separator": (_off, f"{_OWN_CAPTIONS}; keep_tokens counts the kept parts"),
    "enable_wildcard": (_off, _OWN_CAPTIONS),
    "token_warmup_min": (_is(1), _OWN_CAPTIONS),
    "token_warmup_step": (_off, _OWN_CAPTIONS),
    "caption_tag_dropout_rate": (_off, "captions are dropped whole (caption_dropout_rate) only"),
    "caption_dropout_every_n_epochs": (
        _off,
        "captions are dropped whole (caption_dropout_rate) only",
    ),
    "weighted_captions": (_off, "prompt weighting syntax is not read here"),
    "clip_skip": (_is(1), "prompts are read from the text encoder's last layer here"),
    "vae": (_off, "the base model's own VAE is used"),
    "optimizer_args": (_off, "AdamW trains with its default arguments here"),
    "use_lion_optimizer": (_off, "the pipeline trains with AdamW or AdamW8bit"),
    "fused_backward_pass": (_off, "the pipeline trains with AdamW or AdamW8bit"),
    "lr_scheduler_type": (_off, "the schedule comes from lr_scheduler only"),
    "lr_scheduler_args": (_off, "the schedule comes from lr_scheduler only"),
    "lr_scheduler_power": (_is(1, 1.0), "polynomial schedules decay with power 1 here"),
    "lr_scheduler_min_lr_ratio": (_off, "the schedule comes from lr_scheduler only"),
    "lr_scheduler_timescale": (_off, "the schedule comes from lr_scheduler only"),
    "lr_decay_steps": (_off, "the schedule comes from lr_scheduler only"),
    "gradient_accumulation_steps": (_is(1), "every batch is one optimizer step here"),
    "full_fp16": (_off, _PRECISION),
    "full_bf16": (_off, _PRECISION),
    "fp8_base": (_off, _PRECISION),
    "fp8_base_unet": (_off, _PRECISION),
    "min_timestep": (_is(0), "timesteps are drawn from the whole schedule"),
    "max_timestep": (_is(1000), "timesteps are drawn from the whole schedule"),
    "loss_type": (_is("l2"), _LOSS),
    "scale_v_pred_loss_like_noise_pred": (_off, _LOSS),
    "v_pred_like_loss": (_off, _LOSS),
    "debiased_estimation_loss": (_off, _LOSS),
    "zero_terminal_snr": (_off, "the base model's schedule is used as it is"),
    "ip_noise_gamma": (_off, _NOISE),
    "ip_noise_gamma_random_strength": (_off, _NOISE),
    "noise_offset_random_strength": (_off, _NOISE),
    "adaptive_noise_scale": (_off, _NOISE),
    "resume": (_off, "the pipeline resumes its own runs"),
    "initial_epoch": (_is(1), "the pipeline resumes its own runs"),
    "initial_step": (_is(0), "the pipeline resumes its own runs"),
    "skip_until_initial_step": (_off, "the pipeline resumes its own runs"),
    "controlnet_model_name_or_path": (_off, "ControlNet training is not done here"),
    "guidance_scale": (_is(3.5), _FLUX),
    "apply_t5_attn_mask": (_off, _FLUX),
    "split_mode": (_off, _FLUX),
    "t5xxl_max_token_length": (_never, _FLUX),
    "model_prediction_type": (_is("raw"), _FLUX),
    "weighting_scheme": (_never, _FLUX),
    "logit_mean": (_never, _FLUX),
    "logit_std": (_never, _FLUX),
    "mode_scale": (_never, _FLUX),
}

_NOT_USED_KEYS = frozenset().union(*NOT_USED.values())
#: Keys only a [general] / [[datasets]] / [[datasets.subsets]] table holds.
_DATASET_ONLY = frozenset({"class_tokens", "image_dir", "is_reg", "metadata_file"})
#: Keys the top level may hold: sd-scripts' arguments and ours.
ARGUMENT_KEYS = (MAPPED | _NOT_USED_KEYS | UNSUPPORTED.keys() | OURS) - _DATASET_ONLY

#: Keys a dataset table may hold (sd-scripts' `config_util` schema), with the argument
#: names two of them stand for.
DATASET_KEYS = frozenset(
    {
        "batch_size",
        "resolution",
        "enable_bucket",
        "min_bucket_reso",
        "max_bucket_reso",
        "bucket_reso_steps",
        "bucket_no_upscale",
        "network_multiplier",
        "skip_image_resolution",
        "num_repeats",
        "shuffle_caption",
        "keep_tokens",
        "keep_tokens_separator",
        "caption_separator",
        "secondary_separator",
        "enable_wildcard",
        "caption_prefix",
        "caption_suffix",
        "token_warmup_min",
        "token_warmup_step",
        "color_aug",
        "flip_aug",
        "random_crop",
        "face_crop_aug_range",
        "resize_interpolation",
        "caption_dropout_rate",
        "caption_dropout_every_n_epochs",
        "caption_tag_dropout_rate",
        "caption_extension",
        "class_tokens",
        "cache_info",
        "image_dir",
        "is_reg",
        "metadata_file",
        "conditioning_data_dir",
        "alpha_mask",
        "validation_seed",
        "validation_split",
    }
)
_ARGUMENT_NAME = {"batch_size": "train_batch_size", "num_repeats": "dataset_repeats"}

#: Keys that say a file is for SDXL or for FLUX (sd-scripts' sdxl_ / flux_ arguments).
FLUX_KEYS = frozenset(
    {
        "ae",
        "clip_l",
        "t5xxl",
        "t5xxl_max_token_length",
        "apply_t5_attn_mask",
        "guidance_scale",
        "timestep_sampling",
        "sigmoid_scale",
        "model_prediction_type",
        "discrete_flow_shift",
        "split_mode",
    }
)
SDXL_KEYS = frozenset(
    {
        "cache_text_encoder_outputs",
        "cache_text_encoder_outputs_to_disk",
        "disable_mmap_load_safetensors",
    }
)

#: sd-scripts' defaults for what a file leaves out, where ours differ.
KOHYA_MAX_TRAIN_STEPS = 1600
KOHYA_LEARNING_RATE = 2e-6
KOHYA_NETWORK_DIM = 4  # networks.lora, when network_dim is not given
KOHYA_NETWORK_ALPHA = 1.0
KOHYA_MAX_TOKEN_LENGTH = 75
KOHYA_LR_SCHEDULER = "constant"
#: What kohya's networks.lora adapts in a UNet: every Linear (and 1x1 Conv2d) inside its
#: Transformer2DModel blocks: the attention projections, proj_in/proj_out and the
#: feed-forward layers (convolutions only with network_args' conv_dim, refused here).
KOHYA_UNET_TARGETS = (
    "to_q", "to_k", "to_v", "to_out.0", "proj_in", "proj_out", "ff.net.0.proj", "ff.net.2",
)  # fmt: skip
OUR_SEED = 42


class KohyaTomlError(ValueError):
    """A kohya TOML that can't be used; the message lists every bad key, with its value."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class KohyaConfig:
    settings: dict[str, object]  # TrainingConfig fields
    notes: list[str]  # for the run's log: what is not used, which kohya defaults applied
    sources: dict[str, str]  # TrainingConfig field -> the kohya key it came from


@dataclass(frozen=True)
class _Value:
    value: object
    table: str  # "" for the top level, else "[general]", "[[datasets]]", ...

    def label(self, key: str) -> str:
        return f"{self.table} {key}" if self.table else key


def read_kohya_toml(path: Path) -> KohyaConfig:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise KohyaTomlError([f"not valid TOML ({error})"]) from error
    problems: list[str] = []
    ignored: list[str] = []
    values = _merged(data, problems, ignored)
    for key, entry in values.items():
        if key in UNSUPPORTED:
            neutral, why = UNSUPPORTED[key]
            if not neutral(entry.value):
                problems.append(f"{entry.label(key)} = {_toml(entry.value)}: {why}")
    settings, notes, sources = _settings(values, problems)
    if problems:
        raise KohyaTomlError(problems)
    notes = ignored + notes
    for reason, keys in NOT_USED.items():
        if used := sorted(key for key in values if key in keys):
            notes.append(f"not used here ({reason}): {', '.join(used)}")
    return KohyaConfig(settings, notes, sources)


def _merged(data: dict, problems: list[str], ignored: list[str]) -> dict[str, _Value]:
    """Every key, from the lowest place to the highest: the top level (sections
    flattened), [general], the dataset, its subset. A key sd-scripts does not know is
    noted in `ignored`, not refused: sd-scripts runs such a file and ignores the key
    (a file the artist trained with must load here too)."""
    values: dict[str, _Value] = {}
    for key, value in data.items():
        if key in ("general", "datasets"):
            continue
        entries = (
            [(inner, _Value(v, f"[{key}]")) for inner, v in value.items()]
            if isinstance(value, dict)
            else [(key, _Value(value, ""))]
        )
        for inner, entry in entries:
            if inner not in ARGUMENT_KEYS:
                ignored.append(f"{entry.label(inner)}: not an sd-scripts setting, ignored")
            elif inner in values and values[inner].value != entry.value:
                problems.append(
                    f"{inner} is set twice ({values[inner].label(inner)} and {entry.label(inner)})"
                )
            else:
                values[inner] = entry
    for table, name in _dataset_tables(data, problems):
        for key, value in table.items():
            if key == "subsets" and name == "[[datasets]]":
                continue
            if key not in DATASET_KEYS:
                ignored.append(f"{name} {key}: not a dataset setting in sd-scripts, ignored")
                continue
            values[_ARGUMENT_NAME.get(key, key)] = _Value(value, name)
    return values


def _dataset_tables(data: dict, problems: list[str]) -> list[tuple[dict, str]]:
    tables = []
    general = data.get("general", {})
    if isinstance(general, dict):
        tables.append((general, "[general]"))
    else:
        problems.append("general: expected a [general] table")
    datasets = data.get("datasets", [])
    if not isinstance(datasets, list) or not all(isinstance(d, dict) for d in datasets):
        problems.append("datasets: expected [[datasets]] tables")
        return tables
    if len(datasets) > 1:
        problems.append(
            f"{len(datasets)} [[datasets]] tables: a config trains on one training package, "
            "so it takes one dataset"
        )
    if datasets:
        tables.append((datasets[0], "[[datasets]]"))
        subsets = datasets[0].get("subsets", [])
        if not isinstance(subsets, list) or not all(isinstance(s, dict) for s in subsets):
            problems.append("datasets.subsets: expected [[datasets.subsets]] tables")
        elif len(subsets) > 1:
            problems.append(
                f"{len(subsets)} [[datasets.subsets]] tables: a config trains on one "
                "training package, so it takes one subset"
            )
        elif subsets:
            tables.append((subsets[0], "[[datasets.subsets]]"))
    return tables


def _settings(
    values: dict[str, _Value], problems: list[str]
) -> tuple[dict[str, object], list[str], dict[str, str]]:
    settings: dict[str, object] = {}
    sources: dict[str, str] = {}
    notes: list[str] = []

    def get(key: str, default: object = None) -> object:
        return values[key].value if key in values else default

    def put(field: str, key: str, value: object) -> None:
        settings[field] = value
        sources[field] = values[key].label(key) if key in values else key

    def bad(key: str, why: str) -> None:
        problems.append(f"{values[key].label(key)} = {_toml(values[key].value)}: {why}")

    family, why = _family(values)
    put("family", "family", family)
    notes.append(f"family {family} ({why})")

    if "pretrained_model_name_or_path" in values:
        put("base_model", "pretrained_model_name_or_path", get("pretrained_model_name_or_path"))
    else:
        problems.append("pretrained_model_name_or_path: not set (the base model to train on)")

    lora_module = "networks.lora_flux" if family == "flux" else "networks.lora"
    if get("network_module", lora_module) != lora_module:
        bad(
            "network_module", f"the pipeline trains plain LoRA layers ({lora_module}), from scratch"
        )

    v2, v_parameterization = get("v2", False), get("v_parameterization", False)
    if v2 and family != "sd15":
        bad("v2", f"SD 2.x bases train with the sd15 family here, not {family}")
    if v_parameterization and not v2:
        bad(
            "v_parameterization",
            "only SD 2.x bases (v2 = true) are trained for velocity; this base predicts noise",
        )
    if v2:
        notes.append(
            "v2 = true: noise or velocity is what the base model's own scheduler says, "
            "so it must be the SD 2.x model v_parameterization expects"
        )

    trigger = get("class_tokens")
    if trigger is not None and "trigger_word" in values and get("trigger_word") != trigger:
        bad("trigger_word", f"class_tokens says {_toml(trigger)}; keep one of the two")
    elif trigger is not None:
        put("trigger_word", "class_tokens", trigger)
    elif "trigger_word" in values:
        put("trigger_word", "trigger_word", get("trigger_word"))
    else:
        notes.append("no class_tokens: the trigger word is TOK")

    _network(values, get, put, bad, notes)
    _learning_rates(values, get, put, bad, notes)
    _schedule(values, get, put, bad, notes)
    _dataset(values, get, put, bad, notes, problems, clip=family in ("sd15", "sdxl"))
    _noise_and_precision(values, get, put, bad, notes)
    if family in ("sd15", "sdxl"):
        put("target_modules", "network_module", KOHYA_UNET_TARGETS)
    if family == "flux":
        put("timestep_sampling", "timestep_sampling", get("timestep_sampling", "sigma"))
        for key in ("sigmoid_scale", "discrete_flow_shift"):
            if key in values:
                put(key, key, get(key))
    return settings, notes, sources


def _family(values: dict[str, _Value]) -> tuple[str, str]:
    if "family" in values:
        return str(values["family"].value), "family says so"
    model = str(values.get("pretrained_model_name_or_path", _Value("", "")).value)
    flux_keys = sorted(FLUX_KEYS & values.keys())
    if flux_keys:
        return "flux", f"the file has {', '.join(flux_keys)}"
    if "flux" in model.lower():
        return "flux", f"the model {model} is a FLUX model"
    sdxl_keys = sorted(SDXL_KEYS & values.keys())
    if values.get("sdxl", _Value(False, "")).value is True:
        return "sdxl", "sdxl = true"
    if sdxl_keys:
        return "sdxl", f"the file has {', '.join(sdxl_keys)}"
    if "xl" in model.lower():
        return "sdxl", f"the model {model} is an XL model"
    return "sd15", "nothing in the file says SDXL or FLUX"


def _network(values, get, put, bad, notes) -> None:
    if "network_dim" in values:
        put("lora_rank", "network_dim", get("network_dim"))
    else:
        put("lora_rank", "network_dim", KOHYA_NETWORK_DIM)
        notes.append(f"no network_dim: kohya's default rank {KOHYA_NETWORK_DIM}")
    if "network_alpha" in values:
        put("lora_alpha", "network_alpha", get("network_alpha"))
    else:
        put("lora_alpha", "network_alpha", KOHYA_NETWORK_ALPHA)
        notes.append(f"no network_alpha: kohya's default alpha {KOHYA_NETWORK_ALPHA:g}")
    if get("network_dropout"):
        bad(
            "network_dropout",
            "kohya drops the rank-r output of lora_down, peft's lora_dropout the layer's "
            "input: another regulariser, so it is not substituted; remove the key to train "
            "without it",
        )


def _learning_rates(values, get, put, bad, notes) -> None:
    def base_rate() -> float:
        if "learning_rate" in values:
            return get("learning_rate")
        note = f"no learning_rate: kohya's default {KOHYA_LEARNING_RATE:g}"
        if note not in notes:
            notes.append(note)
        return KOHYA_LEARNING_RATE

    unet_lr = get("unet_lr")
    if unet_lr == 0:
        bad("unet_lr", "the pipeline always trains the denoiser")
    if unet_lr:
        put("learning_rate", "unet_lr", unet_lr)
    else:
        put("learning_rate", "learning_rate", base_rate())

    te_lr = get("text_encoder_lr")
    if isinstance(te_lr, list):
        if len(set(te_lr)) > 1:
            bad("text_encoder_lr", "one learning rate for the text encoders here")
        te_lr = te_lr[0] if te_lr else None
    if get("network_train_unet_only", False):
        if te_lr:
            notes.append("text_encoder_lr not used: network_train_unet_only = true")
        put("text_encoder_lr", "network_train_unet_only", None)
    elif get("cache_text_encoder_outputs", False):
        notes.append(
            "cache_text_encoder_outputs = true: the text encoder is not trained, as in kohya"
        )
        put("text_encoder_lr", "cache_text_encoder_outputs", None)
    elif te_lr == 0:
        notes.append("text_encoder_lr = 0: the text encoder is not trained")
        put("text_encoder_lr", "text_encoder_lr", None)
    elif te_lr is None:
        rate = base_rate()
        notes.append(
            f"no text_encoder_lr: kohya trains the text encoder at learning_rate ({rate:g}), "
            "and so does this config"
        )
        put("text_encoder_lr", "learning_rate", rate)
    else:
        put("text_encoder_lr", "text_encoder_lr", te_lr)

    optimizer = str(get("optimizer_type", "") or "")
    if get("use_8bit_adam", False):
        if optimizer:
            bad("use_8bit_adam", "optimizer_type is set too (kohya refuses both)")
        optimizer = "AdamW8bit"
    optimizer = optimizer or "AdamW"
    if optimizer.lower() in ("adamw", "adamw8bit"):
        put("optimizer", "optimizer_type", optimizer.lower())
    else:
        bad("optimizer_type", "the pipeline trains with AdamW or AdamW8bit")


def _schedule(values, get, put, bad, notes) -> None:
    if "lr_scheduler" not in values:
        notes.append(f"no lr_scheduler: kohya's default {KOHYA_LR_SCHEDULER}")
    scheduler = get("lr_scheduler", KOHYA_LR_SCHEDULER)
    if scheduler in SCHEDULERS:
        put("lr_scheduler", "lr_scheduler", scheduler)
    else:
        bad("lr_scheduler", f"the schedules here are {', '.join(SCHEDULERS)}")
    if "lr_scheduler_num_cycles" in values:
        put("lr_scheduler_num_cycles", "lr_scheduler_num_cycles", get("lr_scheduler_num_cycles"))
    warmup = get("lr_warmup_steps", 0)
    if isinstance(warmup, float) and not warmup.is_integer():
        bad("lr_warmup_steps", "a fraction of the steps is not read here; give whole steps")
    else:
        put("lr_warmup_steps", "lr_warmup_steps", int(warmup))

    epochs, steps = get("max_train_epochs"), get("max_train_steps")
    if epochs:
        put("num_train_epochs", "max_train_epochs", epochs)
        if steps:
            notes.append(f"max_train_steps = {steps} not used: max_train_epochs overrides it")
    elif steps:
        put("steps", "max_train_steps", steps)
    else:
        put("steps", "max_train_steps", KOHYA_MAX_TRAIN_STEPS)
        notes.append(
            f"no max_train_epochs or max_train_steps: kohya's default of "
            f"{KOHYA_MAX_TRAIN_STEPS} steps"
        )
    if "save_every_n_epochs" in values:
        put("save_every_n_epochs", "save_every_n_epochs", get("save_every_n_epochs"))
    else:
        notes.append("no save_every_n_epochs: kohya keeps the last LoRA only, here every epoch's")
    if "seed" in values:
        put("seed", "seed", get("seed"))
    else:
        put("seed", "seed", OUR_SEED)
        notes.append(f"no seed: kohya draws a random one; {OUR_SEED} here, so runs repeat")


def _dataset(values, get, put, bad, notes, problems, clip: bool) -> None:
    put("batch_size", "train_batch_size", get("train_batch_size", 1))
    if "resolution" not in values:
        problems.append("resolution: not set (the side of the square training images)")
    else:
        side = _square_side(get("resolution"))
        if side is None:
            bad("resolution", "the 24x24 portraits train square: give one side, e.g. 256")
        else:
            put("resolution", "resolution", (side,))
            bucket_keys = sorted(
                k
                for k in (
                    "enable_bucket",
                    "min_bucket_reso",
                    "max_bucket_reso",
                    "bucket_reso_steps",
                )
                if k in values
            )
            if bucket_keys:
                notes.append(
                    f"{', '.join(bucket_keys)}: the portraits are square, so every one falls in "
                    f"the one square bucket of resolution {side}x{side}"
                )
    put("caption_dropout_rate", "caption_dropout_rate", get("caption_dropout_rate", 0.0))
    shuffle = bool(get("shuffle_caption", False))
    put("shuffle_caption", "shuffle_caption", shuffle)
    keep = get("keep_tokens", 0)
    if keep and not shuffle:
        notes.append(f"keep_tokens = {keep} not used: it only acts with shuffle_caption = true")
        keep = 0
    put("keep_tokens", "keep_tokens", keep)
    if "max_token_length" in values:
        put("max_token_length", "max_token_length", get("max_token_length"))
    elif clip:  # kohya's CLIP windows; FLUX reads its prompts by T5
        put("max_token_length", "max_token_length", KOHYA_MAX_TOKEN_LENGTH)
        notes.append(
            f"no max_token_length: kohya reads {KOHYA_MAX_TOKEN_LENGTH} CLIP tokens per caption "
            "by default, and so does this config (150 or 225 read more)"
        )


def _noise_and_precision(values, get, put, bad, notes) -> None:
    put("snr_gamma", "min_snr_gamma", get("min_snr_gamma") or None)
    put("noise_offset", "noise_offset", get("noise_offset") or 0.0)
    put(
        "multires_noise_iterations",
        "multires_noise_iterations",
        get("multires_noise_iterations") or 0,
    )
    if "multires_noise_discount" in values:
        put("multires_noise_discount", "multires_noise_discount", get("multires_noise_discount"))
    put("mixed_precision", "mixed_precision", get("mixed_precision", "no"))
    put("gradient_checkpointing", "gradient_checkpointing", get("gradient_checkpointing", False))
    if "cache_latents" in values:
        notes.append("cache_latents: latents are always cached here (the portraits never change)")
    put("cache_latents_to_disk", "cache_latents_to_disk", get("cache_latents_to_disk", False))
    if get("max_grad_norm") == 0:
        bad("max_grad_norm", "0 turns gradient clipping off; the pipeline always clips")
    elif "max_grad_norm" in values:
        put("max_grad_norm", "max_grad_norm", get("max_grad_norm"))


def _square_side(value: object) -> int | None:
    """256, "256", "256,256" or [256, 256] -> 256; anything else (not square) -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        sides = [value]
    elif isinstance(value, str):
        try:
            sides = [int(part) for part in value.split(",")]
        except ValueError:
            return None
    elif isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        sides = value
    else:
        return None
    if len(sides) not in (1, 2) or len(set(sides)) != 1:
        return None
    return sides[0]


def _toml(value: object) -> str:
    """A value as the file writes it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return f"[{', '.join(_toml(v) for v in value)}]"
    return str(value)
