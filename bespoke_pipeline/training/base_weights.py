"""Finding a config's base model and naming its weights.

`base_model` is a local diffusers folder or a Hugging Face hub id. A hub id comes from the
local cache; huggingface_hub downloads it only when online and allowed (it honours
HF_HUB_OFFLINE=1, which the tests and CI set, and reads HF_TOKEN for gated repos such as
FLUX.1-dev; the token is never logged). Only the diffusers folders are fetched, not the
single-file checkpoints some repos also carry.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from huggingface_hub import snapshot_download
from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

from bespoke_pipeline.training.config import TrainingConfig

DIFFUSERS_FOLDERS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"]
DENOISERS = ("unet", "transformer")


def base_model_folder(config: TrainingConfig) -> Path:
    """The diffusers folder of the config's base model: the local one, or the hub snapshot."""
    return config.base_model_path() or _hub_snapshot(config.base_model)


def _hub_snapshot(repo_id: str) -> Path:
    try:
        return Path(snapshot_download(repo_id, allow_patterns=DIFFUSERS_FOLDERS))
    except (LocalEntryNotFoundError, HfHubHTTPError, ValueError) as error:
        raise FileNotFoundError(
            f"base model '{repo_id}' is not a local folder and could not be loaded from the "
            f"Hugging Face cache or hub ({type(error).__name__}): download it once while "
            f"online (gated repos need HF_TOKEN), or set base_model to a local folder"
        ) from error


def denoiser_sha256(base: Path) -> str:
    """What a LoRA was trained against: sha256 of the denoiser's full-precision weight
    file, or of the digests of its shards in order. Variants (`*.fp16.safetensors`) are not
    what gets loaded, so they don't count."""
    for name in DENOISERS:
        files = sorted(
            f
            for f in (base / name).glob("*.safetensors")
            if f.name.count(".") == 1  # diffusion_pytorch_model(-0000x-of-0000y).safetensors
        )
        if files:
            digests = [_file_sha256(f) for f in files]
            if len(digests) == 1:
                return digests[0]
            return hashlib.sha256("".join(digests).encode()).hexdigest()
    raise FileNotFoundError(f"{base}: no unet/ or transformer/ weights (*.safetensors) in it")


def encoders_identity(base: Path) -> str:
    """What prompt encodings depend on besides the denoiser: the text encoders and their
    tokenizers. Configs and tokenizer files count whole; weight files by name and size,
    since hashing a 9 GB T5 on every run would cost more than encoding does."""
    parts = []
    for folder in sorted(
        p for p in base.iterdir() if p.name.startswith(("text_encoder", "tokenizer"))
    ):
        for file in sorted(f for f in folder.rglob("*") if f.is_file()):
            is_weights = file.suffix in (".safetensors", ".bin")
            detail = str(file.stat().st_size) if is_weights else _file_sha256(file)
            parts.append(f"{file.relative_to(base)}:{detail}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def _file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()
