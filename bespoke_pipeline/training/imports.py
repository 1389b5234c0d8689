"""LoRA epochs trained elsewhere (CivitAI's trainer, kohya's sd-scripts on a rented GPU, a
Replicate training), made into checkpoint folders like our own, so the same assets score
them and may promote one: the artist stops downloading ten epochs and judging them by eye.

What is read, and how the epoch is known:
- kohya / CivitAI files `Name-000001.safetensors` ... (the six-digit suffix is the epoch)
  and the suffix-less `Name.safetensors`, the final one, as the epoch after the last;
- Replicate tars (`trained_model.tar`): the one member named `*lora.safetensors`, copied
  out under a name of our choosing, so no member path can reach outside the target folder;
- diffusers folders holding `pytorch_lora_weights.safetensors`, numbered by the trailing
  digits of the folder name (`checkpoint-500`, `epoch-0003`).

Only safetensors are read: nothing from outside is unpickled. Each file is loaded through
diffusers' own converters (kohya, ComfyUI and ai-toolkit layouts) onto the config's base
model, and written as our diffusers file; a kohya-layout source is also kept as it came,
with its `ss_*` metadata, as the kohya file.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from diffusers import DiffusionPipeline
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from bespoke_pipeline.dataset.images import file_digest
from bespoke_pipeline.training.base_weights import base_model_source, denoiser_sha256
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    KOHYA_FILE,
    completed_epochs,
    damage,
    epoch_dir,
    read_sidecar,
    write_checkpoint_folder,
)
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.exports import ExportError
from bespoke_pipeline.training.families import family_for
from bespoke_pipeline.training.families.base import lora_tensors, placement

_KOHYA_EPOCH = re.compile(r"^(?P<name>.+)-(?P<epoch>\d{6})$")
_TRAILING_NUMBER = re.compile(r"(\d+)$")
_KOHYA_PREFIXES = ("lora_unet_", "lora_te")


class CheckpointImportError(ValueError):
    """A source that can't be imported; the message names the file and the reason."""


@dataclass(frozen=True)
class ImportedEpoch:
    epoch: int
    source: Path  # what the user gave: a file, a tar or a folder
    weights: Path  # the LoRA safetensors file to load


def find_epochs(source: Path, unpack_dir: Path) -> list[ImportedEpoch]:
    """The epochs in `source` (a folder, or one file), ascending. Tars are unpacked into
    `unpack_dir`."""
    if not source.exists():
        raise CheckpointImportError(f"{source}: does not exist")
    entries = [source] if source.is_file() else sorted(source.iterdir())
    numbered: dict[int, ImportedEpoch] = {}
    finals: list[ImportedEpoch] = []
    for entry in entries:
        found = _weights_of(entry, unpack_dir)
        if found is None:
            continue
        stem = entry.name.removesuffix(".tar").removesuffix(".safetensors")
        number = _epoch_number(entry, stem)
        if number is None:
            finals.append(ImportedEpoch(0, entry, found))
        elif number in numbered:
            raise CheckpointImportError(
                f"{entry.name} and {numbered[number].source.name}: both are epoch {number}"
            )
        else:
            numbered[number] = ImportedEpoch(number, entry, found)
    if len(finals) > 1:
        names = ", ".join(f.source.name for f in finals)
        raise CheckpointImportError(
            f"{source}: {names} have no epoch number; which one is the final epoch?"
        )
    if finals:  # kohya's suffix-less file is the epoch after the last numbered one
        last = max(numbered, default=0) + 1
        numbered[last] = ImportedEpoch(last, finals[0].source, finals[0].weights)
    if not numbered:
        raise CheckpointImportError(
            f"{source}: no LoRA epochs in it (.safetensors, Replicate .tar, or folders "
            f"holding {DIFFUSERS_FILE})"
        )
    return [numbered[e] for e in sorted(numbered)]


def _epoch_number(entry: Path, stem: str) -> int | None:
    if entry.is_dir():
        match = _TRAILING_NUMBER.search(entry.name)
        return int(match.group(1)) if match else None
    match = _KOHYA_EPOCH.match(stem)
    return int(match["epoch"]) if match else None


def _weights_of(entry: Path, unpack_dir: Path) -> Path | None:
    if entry.is_dir():
        weights = entry / DIFFUSERS_FILE
        return weights if weights.is_file() else None
    if entry.suffix == ".safetensors":
        _check_safetensors(entry, entry.name)
        return entry
    if entry.suffix == ".tar":
        return _unpack_lora(entry, unpack_dir)
    return None


def _unpack_lora(tar: Path, unpack_dir: Path) -> Path:
    """The tar's one `*lora.safetensors` member, read by name and written under a name of
    our own: a member called `../../x` writes nothing outside `unpack_dir`."""
    try:
        with tarfile.open(tar) as archive:
            members = [
                m
                for m in archive.getmembers()
                if m.isfile() and m.name.endswith("lora.safetensors")
            ]
            if len(members) != 1:
                found = ", ".join(m.name for m in members) or "none"
                raise CheckpointImportError(
                    f"{tar.name}: expected one *lora.safetensors member, found {found}"
                )
            unpack_dir.mkdir(parents=True, exist_ok=True)
            target = unpack_dir / f"{tar.stem}.safetensors"
            with archive.extractfile(members[0]) as member, target.open("wb") as out:
                shutil.copyfileobj(member, out)
    except (tarfile.TarError, OSError, EOFError) as error:
        raise CheckpointImportError(f"{tar.name}: not a readable tar ({error})") from error
    _check_safetensors(target, f"{tar.name}:{members[0].name}")
    return target


def _check_safetensors(path: Path, label: str) -> None:
    try:
        with safe_open(path, "pt") as handle:
            handle.keys()
    except (SafetensorError, OSError) as error:
        raise CheckpointImportError(f"{label}: not a safetensors file ({error})") from error


def _is_kohya(path: Path) -> bool:
    with safe_open(path, "pt") as handle:
        return all(key.startswith(_KOHYA_PREFIXES) for key in handle.keys())  # noqa: SIM118


def import_checkpoints(
    config: TrainingConfig,
    config_name: str,
    data: TrainingData,
    runs_dir: Path,
    log: Callable[[str], None] = print,
) -> tuple[Path, list[ImportedEpoch]]:
    """Checkpoint folders for every epoch in `config.import_from`, in a run folder named by
    what went in (sources, base model, data), so an unchanged import is not redone."""
    source = config.import_path()
    base_sha256 = denoiser_sha256(base_model_source(config))
    identity = hashlib.sha256(f"{source.resolve()}|{base_sha256}|{data.sha256}".encode())
    run_dir = runs_dir / f"import-{identity.hexdigest()[:16]}"
    return run_dir, import_epochs(config, config_name, data, source, run_dir, log)


def import_epochs(
    config: TrainingConfig,
    config_name: str,
    data: TrainingData,
    source: Path,
    run_dir: Path,
    log: Callable[[str], None] = print,
    provenance: dict | None = None,
    convert: bool = True,
) -> list[ImportedEpoch]:
    """A checkpoint folder in `run_dir` for every epoch in `source` (a folder or one
    file) not already there from the same file; `provenance` joins each sidecar (where a
    remote training came from). `convert=False` keeps each file as it came, as the
    diffusers file alone, without loading the base model: for a LoRA scored where it was
    trained (Replicate predictions), whose base model this machine need not hold."""
    epochs = find_epochs(source, run_dir / "unpacked")
    done = set(completed_epochs(run_dir))
    base = base_model_source(config) if convert else None
    base_sha256 = denoiser_sha256(base) if convert else None
    pipe: DiffusionPipeline | None = None
    for item in epochs:
        folder = epoch_dir(run_dir, item.epoch)
        digest = file_digest(item.weights)
        unchanged = item.epoch in done and damage(folder) is None
        if unchanged and read_sidecar(folder).get("source_sha256") == digest:
            continue
        log(f"importing epoch {item.epoch} from {item.source.name}")
        sidecar = {
            "config_name": config_name,
            "config": config.model_dump(mode="json"),
            "epoch": item.epoch,
            "step": None,
            "mean_loss": None,
            "imported_from": str(item.source),
            "source_sha256": digest,
            "base_model": config.base_model,
            "base_model_sha256": base_sha256,
            "dataset_sha256": data.sha256,
            **(provenance or {}),
        }
        if not convert:
            write_checkpoint_folder(run_dir, item.epoch, partial(_as_it_came, item), sidecar)
            continue
        if pipe is None:
            device, dtype = placement(config)
            pipe = family_for(config).load(base, device, dtype, config.base_model_config)
        _import_epoch(pipe, config, item, run_dir, sidecar, log)
    return epochs


def _as_it_came(item: ImportedEpoch, target: Path) -> None:
    shutil.copyfile(item.weights, target / DIFFUSERS_FILE)


def _import_epoch(
    pipe: DiffusionPipeline,
    config: TrainingConfig,
    item: ImportedEpoch,
    run_dir: Path,
    sidecar: dict,
    log: Callable[[str], None],
) -> None:
    """Load one file onto the base model through diffusers' converters, then write it as a
    checkpoint folder: our diffusers file, and the kohya file (the source itself when it
    is one). A LoRA on a module the kohya layout has no place for is imported without
    that file, the reason in the sidecar (`kohya_file`): what was paid for still scores."""
    family = family_for(config)
    pipe.unload_lora_weights()
    try:
        pipe.load_lora_weights(
            item.weights.parent, weight_name=item.weights.name, adapter_name="default"
        )
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointImportError(
            f"{item.source.name}: does not load onto the {config.family} base model "
            f"'{config.base_model}' ({error})"
        ) from error
    denoiser = family.denoiser(pipe)
    encoders = {
        name: getattr(pipe, name)
        for name in family.text_encoder_names
        if getattr(getattr(pipe, name, None), "peft_config", None)
    }

    def write(target: Path) -> None:
        tensors = lora_tensors(denoiser)
        family.save_lora(target, tensors, denoiser, DIFFUSERS_FILE, encoders)
        if _is_kohya(item.weights):
            shutil.copyfile(item.weights, target / KOHYA_FILE)
            return
        alpha = denoiser.peft_config["default"].lora_alpha
        try:
            kohya = family.export(tensors, alpha, denoiser)
            text = {name: lora_tensors(encoder) for name, encoder in encoders.items()}
            kohya.update(family.export_text_encoders(text, alpha))
        except ExportError as error:  # scored all the same; said in the log and sidecar
            sidecar["kohya_file"] = f"not written: {error}"
            log(f"{item.source.name}: imported without a kohya file ({error})")
            return
        save_file(kohya, target / KOHYA_FILE)

    try:
        write_checkpoint_folder(run_dir, item.epoch, write, sidecar)
    except (ValueError, KeyError, RuntimeError) as error:
        raise CheckpointImportError(
            f"{item.source.name}: could not be written ({error})"
        ) from error
