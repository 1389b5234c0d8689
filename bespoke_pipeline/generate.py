"""Using a trained model: render a prompt with the production model (or any checkpoint) at
its best measured sampler settings, snapped to an exact 24x24 grid."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from PIL import Image

from bespoke_pipeline.evaluation.promotion import read_production
from bespoke_pipeline.paths import production_dir
from bespoke_pipeline.pixelart.snap import snap_to_grid
from bespoke_pipeline.training.checkpoints import load_checkpoint, read_sidecar
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families import sampling_pipeline
from bespoke_pipeline.training.lora import SAMPLE_STEPS

#: For a checkpoint that was never scored: the settings of the trainer's own samples.
UNSCORED = {"guidance_scale": 1.0, "steps": SAMPLE_STEPS}


@dataclass(frozen=True)
class Generated:
    image: Image.Image  # 24x24, one exact color per cell
    raw: Image.Image  # what the model drew
    checkpoint: Path
    guidance_scale: float
    steps: int


def generate(
    prompt: str,
    seed: int,
    checkpoint: Path | None = None,
    guidance_scale: float | None = None,
    steps: int | None = None,
) -> Generated:
    """Without `checkpoint`, the production model; sampler settings are the evaluated best
    that a production folder records, unless given explicitly."""
    folder = checkpoint or production_dir()
    record = read_production(folder)  # a production folder records its sampler settings
    if checkpoint is None and record is None:
        raise FileNotFoundError(
            f"no production model in {folder}: run `make run` first, or pass --checkpoint PATH"
        )
    checkpoint = folder
    config = TrainingConfig.model_validate(read_sidecar(checkpoint)["config"])
    best = record or UNSCORED
    guidance = best["guidance_scale"] if guidance_scale is None else guidance_scale
    steps = best["steps"] if steps is None else steps
    pipe, render = sampling_pipeline(config)
    load_checkpoint(pipe, checkpoint)
    raw = render([prompt], steps, guidance, torch.Generator().manual_seed(seed))[0]
    palette = record["palette"] if record else None  # production: the training set's colors
    return Generated(snap_to_grid(raw, palette=palette), raw, checkpoint, guidance, steps)
