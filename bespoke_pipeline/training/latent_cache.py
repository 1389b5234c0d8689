"""The training set as the denoiser sees it, encoded once: latent distributions per
training side (VAE) and prompt embeddings per caption plus the empty caption that caption
dropout uses (text encoders). A step then runs only the denoiser.

Kept in memory for the life of the process, so configs with the same base model, data and
sides share one encoding; with `cache_latents_to_disk` also as a safetensors file under the
runtime folder, so a later run or a resumed one skips encoding too.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import torch
from diffusers import DiffusionPipeline
from safetensors.torch import load_file, save_file

from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.families.base import ModelFamily
from bespoke_pipeline.training.resolution import Side, upscale

#: Images and prompts per encoder call, at most: bounds activation memory for T5-XXL and
#: the VAE (on a GPU also the free memory, see `_images_per_call`).
CHUNK = 16
#: An estimate of the VAE encoder's peak per image: six float32 activations of 128
#: channels at the full side (its first block, at its widest). At 1008 px that is 3 GB,
#: so 16 images would not fit beside FLUX and T5 on an 80 GB card.
_VAE_BYTES_PER_PIXEL = 6 * 128 * 4
Source = Literal["encoded", "memory", "disk"]


@dataclass(frozen=True)
class EncodedData:
    latents: dict[int, tuple[torch.Tensor, torch.Tensor | None]]  # side -> mean, std
    prompts: dict[str, torch.Tensor]  # one row per caption, the empty caption last; or none

    @property
    def empty_caption_row(self) -> int:
        return len(next(iter(self.prompts.values()))) - 1

    def to(self, device: torch.device) -> EncodedData:
        return EncodedData(
            {
                side: (mean.to(device), None if std is None else std.to(device))
                for side, (mean, std) in self.latents.items()
            },
            {name: tensor.to(device) for name, tensor in self.prompts.items()},
        )


_MEMORY: dict[str, EncodedData] = {}


def cache_key(
    family: ModelFamily,
    base_sha256: str,
    encoders: str,
    dtype: torch.dtype,
    data: TrainingData,
    sides: list[Side],
    prompt_tokens: int | None,
) -> str:
    """Everything the cached tensors depend on: the model (denoiser and VAE weights,
    text encoders and tokenizers), the precision they ran in, the data, the sides, and
    how many tokens of each prompt were encoded (None: prompts are not cached)."""
    identity = {
        "family": type(family).__name__,
        "base": base_sha256,
        "encoders": encoders,
        "dtype": str(dtype),
        "data": data.sha256,
        "captions": data.captions_from,
        "sides": [s.side for s in sides],
        "prompt_tokens": prompt_tokens,
    }
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:24]


def encoded_data(
    family: ModelFamily,
    pipe: DiffusionPipeline,
    data: TrainingData,
    sides: list[Side],
    key: str,
    disk_dir: Path | None,
    with_prompts: bool,
) -> tuple[EncodedData, Source]:
    """The encoding for `key`, from memory, disk or the encoders, in that order; written
    to `disk_dir` (when given) if it isn't there yet. Without prompts when they must be
    encoded every step (a text encoder that trains, shuffled captions)."""
    file = disk_dir / f"{key}.safetensors" if disk_dir else None
    source: Source
    if key in _MEMORY:
        source = "memory"
    elif file is not None and file.exists():
        _MEMORY[key], source = _from_tensors(load_file(file)), "disk"
    else:
        _MEMORY[key], source = _encode(family, pipe, data, sides, with_prompts), "encoded"
    if file is not None and not file.exists():
        file.parent.mkdir(parents=True, exist_ok=True)
        tmp = file.with_suffix(".tmp")
        save_file(_to_tensors(_MEMORY[key]), tmp)
        tmp.replace(file)
    return _MEMORY[key], source


@torch.no_grad()
def _encode(
    family: ModelFamily,
    pipe: DiffusionPipeline,
    data: TrainingData,
    sides: list[Side],
    with_prompts: bool,
) -> EncodedData:
    latents = {}
    for side in sides:
        chunk = _images_per_call(side.side, pipe.device)
        parts = [
            family.encode_images(pipe, upscale(data.images[i : i + chunk], side.factor))
            for i in range(0, len(data.images), chunk)
        ]
        means, stds = zip(*parts, strict=True)
        latents[side.side] = (
            torch.cat(means).cpu(),
            None if stds[0] is None else torch.cat(stds).cpu(),
        )
    if not with_prompts:
        return EncodedData(latents, {})
    prompts = family.encode_prompts(pipe, [*data.captions, ""])
    return EncodedData(latents, {name: tensor.cpu() for name, tensor in prompts.items()})


def _images_per_call(side: int, device: torch.device) -> int:
    """`CHUNK`, or fewer where the GPU's free memory would not hold the VAE's activations
    for that many images at `side` (with a fifth kept spare)."""
    if device.type != "cuda":
        return CHUNK
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, min(CHUNK, int(0.8 * free) // (side * side * _VAE_BYTES_PER_PIXEL)))


def _to_tensors(encoded: EncodedData) -> dict[str, torch.Tensor]:
    tensors = {f"prompts.{name}": t.contiguous() for name, t in encoded.prompts.items()}
    for side, (mean, std) in encoded.latents.items():
        tensors[f"latents.{side}.mean"] = mean.contiguous()
        if std is not None:
            tensors[f"latents.{side}.std"] = std.contiguous()
    return tensors


def _from_tensors(tensors: dict[str, torch.Tensor]) -> EncodedData:
    prompts = {k.split(".", 1)[1]: v for k, v in tensors.items() if k.startswith("prompts.")}
    sides = sorted({int(k.split(".")[1]) for k in tensors if k.startswith("latents.")})
    latents = {
        side: (tensors[f"latents.{side}.mean"], tensors.get(f"latents.{side}.std"))
        for side in sides
    }
    return EncodedData(latents, prompts)
