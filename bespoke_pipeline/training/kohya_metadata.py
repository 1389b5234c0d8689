"""The metadata kohya's sd-scripts write into every LoRA file, for our `kohya_lora.safetensors`.

A1111, ComfyUI and CivitAI read two families of keys from a LoRA's safetensors header:

- `ss_*`: the training settings (learning rate, rank, epochs, ...), the caption tag counts
  (`ss_tag_frequency`, which CivitAI shows as trained words) and the `sshs_*` hashes that
  A1111's additional-networks extension indexes files by, so it need not hash them itself;
- `modelspec.*`: Stability AI's ModelSpec (architecture, title, trigger phrase, resolution,
  date), which UIs use to tell which base model a file belongs to.

The vocabulary follows kohya's `train_network.py`, `library/train_util.py` and
`library/sai_model_spec.py`. Values are whatever kohya writes for the same setting, and
`"None"` (kohya's `str(None)`) where a setting is unset, so readers that parse kohya files
parse ours. The embedded 24x24 `pixel` model has no kohya or ModelSpec name: its
architecture and base model version below are our own, and no UI will recognise them.

Only `training.config` and libraries are imported, so `save_checkpoint` can call this.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import torch
from safetensors.torch import save, save_file

from bespoke_pipeline.training.config import CLIP_FAMILIES, Family, TrainingConfig

#: The ModelSpec version kohya writes today.
SAI_MODEL_SPEC_VERSION = "1.0.1"
#: kohya's network module for plain LoRA (`lora_down`/`lora_up`/`alpha` keys), the layout
#: `training/exports.py` writes.
NETWORK_MODULE = "networks.lora"


@dataclass(frozen=True)
class FamilyVocabulary:
    """How kohya and ModelSpec name one of our families."""

    base_model_version: str  # ss_base_model_version
    architecture: str  # modelspec.architecture
    implementation: str  # modelspec.implementation
    has_prediction_type: bool  # FLUX is flow matching: kohya writes no prediction type


FAMILIES: dict[Family, FamilyVocabulary] = {
    # SD1 LoRAs: kohya writes the implementation "diffusers" for SD1 and SD2 LoRAs.
    "sd15": FamilyVocabulary("sd_v1", "stable-diffusion-v1/lora", "diffusers", True),
    "sdxl": FamilyVocabulary(
        "sdxl_base_v1-0",
        "stable-diffusion-xl-v1-base/lora",
        "https://github.com/Stability-AI/generative-models",
        True,
    ),
    "flux": FamilyVocabulary(
        "flux1", "flux-1-dev/lora", "https://github.com/black-forest-labs/flux", False
    ),
    # Not a kohya or ModelSpec architecture: our own name for the embedded model.
    "pixel": FamilyVocabulary(
        "bespoke_pixel_punk_24", "bespoke-pixel-punk-24/lora", "bespoke_pipeline", True
    ),
}

#: diffusers' scheduler `prediction_type` -> ModelSpec's `modelspec.prediction_type`.
PREDICTION_TYPES = {"epsilon": "epsilon", "v_prediction": "v", "v": "v"}

#: kohya writes `module.ClassName` of the optimizer class.
OPTIMIZERS = {
    "adamw": "torch.optim.adamw.AdamW",
    "adamw8bit": "bitsandbytes.optim.adamw.AdamW8bit",
}


def _text(value: object) -> str:
    """kohya's `str(value)` for every metadata value: None -> "None", True -> "True"."""
    return str(value)


def tag_frequency(captions: Iterable[str]) -> dict[str, int]:
    """Counts of each comma-separated caption part, stripped and lower-cased, empty parts
    skipped: exactly how kohya's `set_tag_frequency` counts tags."""
    counts: dict[str, int] = {}
    for caption in captions:
        for part in caption.split(","):
            tag = part.strip().lower()
            if tag:
                counts[tag] = counts.get(tag, 0) + 1
    return counts


def session_id(name: str, started_at: float) -> int:
    """kohya's `ss_session_id` groups the epochs of one run with a random integer; ours is
    derived from the config name and start time, so it is the same for every epoch of a
    run (and a resumed run keeps it when it passes the original start time)."""
    digest = hashlib.sha256(f"{name}|{started_at!r}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def build_kohya_metadata(
    config: TrainingConfig,
    *,
    name: str,
    epoch: int,
    step: int,
    total_epochs: int,
    total_steps: int,
    captions: Iterable[str],
    num_train_images: int,
    side: int,
    base_model_name: str,
    started_at: float,
    finished_at: float,
    prediction_type: str | None = None,
) -> dict[str, str]:
    """The `ss_*` and `modelspec.*` metadata of one epoch's kohya LoRA file, every value a
    str (safetensors metadata holds only strings).

    - `name`: the config name; the file's title, output name and tag-frequency folder.
    - `epoch`, `step`: where this checkpoint was saved; `total_epochs`, `total_steps`: the
      whole run's (kohya's `ss_num_epochs`, `ss_max_train_steps`).
    - `captions`: the training captions, counted into `ss_tag_frequency`.
    - `side`: the training side in pixels (square), for both resolution keys.
    - `base_model_name`: what `ss_sd_model_name` shows (a hub id or a file name).
    - `started_at`, `finished_at`: unix timestamps (seconds) of the run's start and of this
      save; passed in so the output depends on the arguments only.
    - `prediction_type`: the base model scheduler's (`epsilon` or `v_prediction`), when
      known; omitted from the file otherwise and for FLUX, as kohya does.

    The `sshs_*` hashes depend on the tensors: `save_kohya_file` adds them.
    """
    vocabulary = FAMILIES[config.family]
    metadata: dict[str, object] = {
        "modelspec.sai_model_spec": SAI_MODEL_SPEC_VERSION,
        "modelspec.architecture": vocabulary.architecture,
        "modelspec.implementation": vocabulary.implementation,
        "modelspec.title": name,
        "modelspec.resolution": f"{side}x{side}",
        # the save time, as kohya's: ISO 8601, whole seconds, in UTC so no machine's
        # local zone leaks into the file
        "modelspec.date": datetime.fromtimestamp(int(finished_at), UTC).isoformat(),
        "modelspec.trigger_phrase": config.trigger_word,
        "ss_session_id": session_id(name, started_at),
        "ss_training_started_at": started_at,
        "ss_training_finished_at": finished_at,
        "ss_output_name": name,
        "ss_learning_rate": config.learning_rate,
        # None: the text encoder is not trained (kohya writes the unset value too)
        "ss_text_encoder_lr": config.text_encoder_lr,
        # the denoiser (UNet or FLUX transformer) trains at the main learning rate
        "ss_unet_lr": config.learning_rate,
        "ss_num_train_images": num_train_images,
        "ss_num_epochs": total_epochs,
        "ss_epoch": epoch,
        "ss_steps": step,
        "ss_max_train_steps": total_steps,
        "ss_gradient_checkpointing": config.gradient_checkpointing,
        "ss_gradient_accumulation_steps": 1,
        "ss_lr_warmup_steps": config.lr_warmup_steps,
        "ss_lr_scheduler": config.lr_scheduler,
        "ss_network_module": NETWORK_MODULE,
        "ss_network_dim": config.lora_rank,
        "ss_network_alpha": config.lora_alpha,
        "ss_network_dropout": config.lora_dropout,
        "ss_mixed_precision": config.mixed_precision,
        "ss_full_fp16": False,
        "ss_v2": False,
        "ss_base_model_version": vocabulary.base_model_version,
        "ss_clip_skip": None,  # the family's standard CLIP layer, as kohya's unset value
        # CLIP tokens per prompt; other text encoders don't read this setting
        "ss_max_token_length": (
            config.max_token_length if config.family in CLIP_FAMILIES else None
        ),
        # the training set is encoded once (training/latent_cache.py)
        "ss_cache_latents": True,
        "ss_seed": config.seed,
        "ss_lowram": False,
        "ss_noise_offset": config.noise_offset,
        "ss_multires_noise_iterations": config.multires_noise_iterations,
        "ss_multires_noise_discount": config.multires_noise_discount,
        "ss_min_snr_gamma": config.snr_gamma,
        "ss_max_grad_norm": config.max_grad_norm,
        "ss_optimizer": OPTIMIZERS[config.optimizer],
        "ss_shuffle_caption": config.shuffle_caption,
        "ss_keep_tokens": config.keep_tokens,
        "ss_caption_dropout_rate": config.caption_dropout_rate,
        "ss_resolution": (side, side),  # kohya's str of its resolution tuple: "(512, 512)"
        "ss_batch_size_per_device": config.batch_size,
        "ss_total_batch_size": config.batch_size,  # one device, no accumulation
        "ss_dataset_dirs": json.dumps({name: {"n_repeats": 1, "img_count": num_train_images}}),
        "ss_tag_frequency": json.dumps({name: tag_frequency(captions)}),
        "ss_sd_model_name": base_model_name,
        "ss_training_comment": f"bespoke_pipeline config {name} ({config.digest()})",
    }
    if prediction_type is not None and vocabulary.has_prediction_type:
        if prediction_type not in PREDICTION_TYPES:
            raise ValueError(
                f"prediction_type {prediction_type!r}: expected one of {sorted(PREDICTION_TYPES)}"
            )
        metadata["modelspec.prediction_type"] = PREDICTION_TYPES[prediction_type]
    return {key: _text(value) for key, value in metadata.items()}


def _tensor_section_sha256(blob: bytes) -> str:
    """sha256 of a safetensors file's tensor bytes: everything after the 8-byte little-endian
    header length and the JSON header it counts."""
    header_length = int.from_bytes(blob[:8], "little")
    return hashlib.sha256(memoryview(blob)[8 + header_length :]).hexdigest()


def kohya_hashes(
    tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str]
) -> tuple[str, str]:
    """(`sshs_model_hash`, `sshs_legacy_hash`) as kohya's `train_util.
    precalculate_safetensors_hashes` computes them, for A1111's additional-networks.

    Both are taken from an in-memory safetensors serialization of the tensors with only the
    `ss_*` metadata (kohya leaves out user-editable keys so editing them keeps the hash):
    - model hash: sha256 (hex) of the bytes after the header, i.e. of the tensor data only.
      safetensors lays tensors out independently of the header, so this equals the same
      hash of any file holding these tensors, with any metadata or none.
    - legacy hash: the first 8 hex digits of the sha256 of the 64 KiB at offset 1 MiB of
      that serialization (header included; of no bytes when the file is shorter).
    """
    training_only = {k: v for k, v in metadata.items() if k.startswith("ss_")}
    blob = save(dict(tensors), training_only)
    legacy_window = BytesIO(blob)
    legacy_window.seek(0x100000)
    legacy = hashlib.sha256(legacy_window.read(0x10000)).hexdigest()[:8]
    return _tensor_section_sha256(blob), legacy


def save_kohya_file(
    tensors: Mapping[str, torch.Tensor], path: Path | str, metadata: Mapping[str, str]
) -> dict[str, str]:
    """Write `tensors` (CPU, contiguous) to the safetensors file `path` with `metadata`
    (e.g. from `build_kohya_metadata`) plus `sshs_model_hash`, `sshs_legacy_hash` and
    ModelSpec's `modelspec.hash_sha256` ("0x" + the model hash: the spec hashes the same
    tensor bytes). Returns the metadata written.

    Raises TypeError, before writing anything, if a key or value is not a str: the
    safetensors header is a JSON object of strings and readers expect kohya's strings.
    """
    for key, value in metadata.items():
        if not isinstance(key, str) or not isinstance(value, str):
            raise TypeError(
                f"safetensors metadata holds strings only: {key!r} = {value!r} "
                f"({type(value).__name__})"
            )
    model_hash, legacy_hash = kohya_hashes(tensors, metadata)
    written = {
        **metadata,
        "sshs_model_hash": model_hash,
        "sshs_legacy_hash": legacy_hash,
        "modelspec.hash_sha256": f"0x{model_hash}",
    }
    save_file(dict(tensors), str(path), metadata=written)
    return written
