"""A checkpoint's LoRA weights: written in both formats with the training state, loaded
into a pipeline, checked for NaN. The folder they live in is `training/checkpoints.py`."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DiffusionPipeline
from diffusers.utils import logging as diffusers_logging
from safetensors.torch import load_file

from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    KOHYA_FILE,
    STATE_FILE,
    checkpoint_files,
    completed_epochs,
    epoch_dir,
    read_sidecar,
    write_checkpoint_folder,
)
from bespoke_pipeline.training.families.base import ModelFamily, lora_tensors
from bespoke_pipeline.training.kohya_metadata import save_kohya_file


def save_checkpoint(
    run_dir: Path,
    epoch: int,
    family: ModelFamily,
    denoiser: torch.nn.Module,
    alpha: float,
    training_state: dict,
    sidecar: dict,
    kohya_metadata: dict[str, str],
    text_encoders: dict[str, torch.nn.Module],
) -> Path:
    """`kohya_metadata`: the `ss_*`/`modelspec.*` keys the kohya file carries, for the
    tools that read them (`training/kohya_metadata.py`)."""

    def write(folder: Path) -> None:
        tensors = lora_tensors(denoiser)
        family.save_lora(folder, tensors, denoiser, DIFFUSERS_FILE, text_encoders)
        kohya = family.export(tensors, alpha, denoiser)
        text_states = {name: lora_tensors(encoder) for name, encoder in text_encoders.items()}
        kohya.update(family.export_text_encoders(text_states, alpha))
        save_kohya_file(kohya, folder / KOHYA_FILE, kohya_metadata)
        torch.save(training_state, folder / STATE_FILE)

    final = write_checkpoint_folder(run_dir, epoch, write, sidecar)
    for older in completed_epochs(run_dir):  # resuming needs only the newest state
        if older < epoch:
            (epoch_dir(run_dir, older) / STATE_FILE).unlink(missing_ok=True)
    return final


def load_checkpoint(pipe: DiffusionPipeline, folder: Path) -> None:
    """Swap the pipeline's LoRA for the one saved in `folder`. The adapter runs beside the
    base weights and is never fused into them: fusing into bf16/fp16 weights and unfusing
    rounds them a little each time, drift the size of a LoRA update over ten checkpoints."""
    pipe.unload_lora_weights()
    if isinstance(pipe, PixelPunkPipeline):  # the words its LoRA gave rows (`use_words`)
        pipe.use_words(read_sidecar(folder).get("added_words", []))
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()  # "no text encoder LoRA keys": ours may have none
    try:
        pipe.load_lora_weights(folder, weight_name=DIFFUSERS_FILE)
    finally:
        diffusers_logging.set_verbosity(verbosity)
    # peft adds the LoRA layers in training mode: with lora_dropout, every image drawn
    # or scored would drop a random part of the LoRA
    for component in pipe.components.values():
        if isinstance(component, torch.nn.Module):
            component.eval()


def non_finite_tensors(folder: Path) -> list[str]:
    """Tensors of a checkpoint's LoRA files holding NaN or infinity (a diverged run): such
    a file loads fine and draws noise, so it must be caught before anyone scores or ships it."""
    found = []
    for name in checkpoint_files(folder):
        for key, tensor in load_file(folder / name).items():
            if not torch.isfinite(tensor).all():
                found.append(f"{folder.name}/{name}: {key}")
    return found
