"""Finding a config's base model and naming its weights.

`base_model` is a local diffusers folder, a single-file checkpoint (SD 1.x / SDXL, as A1111
and ComfyUI keep them) or a Hugging Face hub id. A hub id comes from the
local cache; huggingface_hub downloads it only when online and allowed (it honours
HF_HUB_OFFLINE=1, which the tests and CI set, and reads HF_TOKEN for gated repos such as
FLUX.1-dev; the token is never logged). Only the diffusers folders are fetched, not the
single-file checkpoints some repos also carry.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

from huggingface_hub import auth_check, constants, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    RepositoryNotFoundError,
)
from huggingface_hub.utils import validate_repo_id

from bespoke_pipeline.paths import runtime_dir

if TYPE_CHECKING:  # the config module asks this one whether a base model can be had
    from bespoke_pipeline.training.config import TrainingConfig

DIFFUSERS_FOLDERS = ["model_index.json", "*/*.json", "*/*.txt", "*/*.model", "*/*.safetensors"]
#: What is never loaded: half-precision and EMA-split variants beside the full weights
#: (training loads the full-precision file and casts it), and SD 1.x's safety checker.
NOT_LOADED = ["*.fp16.*", "*non_ema*", "*ema_only*", "safety_checker/*", "feature_extractor/*"]
DENOISERS = ("unet", "transformer")


def base_model_source(config: TrainingConfig) -> Path:
    """Where the config's base model is read from: the local folder or file, or the hub
    snapshot."""
    return config.base_model_path() or _hub_snapshot(config.base_model)


def missing_base_reason(config: TrainingConfig) -> str | None:
    """Why the config's base model cannot be had on this machine now, or None: checked
    before a run starts, so `bespoke run` skips such a config with the reason and trains
    the others. A hub id counts when it is cached, or when the hub will hand it out."""
    base_model = config.base_model
    if config.base_model_path() is not None:
        return None
    try:
        validate_repo_id(base_model)
    except HFValidationError:
        return f"base model '{base_model}' is neither a local folder or file nor a hub id"
    try:
        snapshot_download(
            base_model,
            allow_patterns=DIFFUSERS_FOLDERS,
            ignore_patterns=NOT_LOADED,
            local_files_only=True,
        )
        return None
    except LocalEntryNotFoundError:
        pass
    if constants.HF_HUB_OFFLINE:
        return f"'{base_model}' is not in the local Hugging Face cache and the hub is offline"
    try:
        auth_check(base_model)
    except GatedRepoError:
        return (
            f"'{base_model}' is gated: accept its licence on the hub, then set HF_TOKEN "
            "to a token of that account"
        )
    except RepositoryNotFoundError:
        return f"'{base_model}' is not on the hub (or is private: set HF_TOKEN)"
    except HfHubHTTPError as error:
        return f"the hub could not be asked about '{base_model}' ({type(error).__name__})"
    return None


def _hub_snapshot(repo_id: str) -> Path:
    try:
        return Path(
            snapshot_download(repo_id, allow_patterns=DIFFUSERS_FOLDERS, ignore_patterns=NOT_LOADED)
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, ValueError) as error:
        raise FileNotFoundError(
            f"base model '{repo_id}' is not a local folder and could not be loaded from the "
            f"Hugging Face cache or hub ({type(error).__name__}): download it once while "
            f"online (gated repos need HF_TOKEN), or set base_model to a local folder"
        ) from error


def denoiser_sha256(base: Path) -> str:
    """What a LoRA was trained against: sha256 of the denoiser's full-precision weight
    file, or of the digests of its shards in order. Variants (`*.fp16.safetensors`) are not
    what gets loaded, so they don't count. A single-file checkpoint: its own sha256."""
    if base.is_file():
        return _file_sha256(base)
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


def encoders_identity(base: Path, config_source: str | None = None) -> str:
    """What prompt encodings depend on besides the denoiser: the text encoders and their
    tokenizers. Configs and tokenizer files count whole; weight files by name and size,
    since hashing a 9 GB T5 on every run would cost more than encoding does. A single file
    holds its text encoders (its hash is the denoiser's) and takes its tokenizers from
    `config_source`."""
    if base.is_file():
        source = Path(config_source) if config_source else None
        if source is not None and source.is_dir():
            return encoders_identity(source)
        return f"tokenizers of {config_source or 'the model type diffusers detects'}"
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
    """Read from the digests file while the file keeps its path, size and modification time: the
    FLUX transformer is 24 GB, and hashing it took minutes at every trainer start."""
    stat = path.stat()
    key, stamp = str(path.resolve()), [stat.st_size, stat.st_mtime_ns]
    known = _digests()
    if key in known and known[key][:2] == stamp:
        return known[key][2]
    with path.open("rb") as handle:
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
    known = _digests()  # another process may have added some meanwhile
    known[key] = [*stamp, digest]
    _digests_file().parent.mkdir(parents=True, exist_ok=True)
    tmp = _digests_file().with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(known, sort_keys=True))
    os.replace(tmp, _digests_file())  # whole or not at all; a lost entry is hashed again
    return digest


def _digests_file() -> Path:
    """Under the runtime folder, so it follows $BESPOKE_HOME and `make clean` empties it."""
    return runtime_dir() / "cache" / "file-sha256.json"


def _digests() -> dict[str, list]:
    try:
        return json.loads(_digests_file().read_text())
    except (OSError, ValueError):
        return {}
