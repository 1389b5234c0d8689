"""The production model as an MLflow pyfunc: a checkpoint folder loaded onto its base model,
rendering prompts at the evaluated best sampler settings and snapping onto the training
set's palette. `mlflow.pyfunc.load_model("models:/bespoke-punk-lora@production")
.predict(pd.DataFrame({"prompt": [...]}))` returns 24x24 images for any MLflow user with
this package installed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
import torch
from PIL import Image

from bespoke_pipeline.evaluation.promotion import read_production
from bespoke_pipeline.pixelart.snap import snap_to_grid
from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.checkpoints import read_sidecar
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families import family_for, sampling_pipeline

#: Where the production folder lies among the pyfunc model's artifacts.
FOLDER_ARTIFACT = "production"


@dataclass(frozen=True)
class Generated:
    image: Image.Image  # 24x24, one exact color per cell
    raw: Image.Image  # what the model drew
    checkpoint: Path
    guidance_scale: float
    steps: int


class Renderer:
    """A checkpoint folder loaded onto its base model. A production folder also records
    the evaluated best sampler settings and the training set's palette to snap onto."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.record = read_production(folder)
        config = TrainingConfig.model_validate(read_sidecar(folder)["config"])
        self.pipe, self._render = sampling_pipeline(config)
        steps, guidance = family_for(config).sample_settings
        # a checkpoint that was never scored: the settings of the trainer's own samples
        self.unscored = {"guidance_scale": guidance, "steps": steps}
        load_checkpoint(self.pipe, folder)

    def __call__(
        self, prompt: str, seed: int, guidance_scale: float | None, steps: int | None
    ) -> Generated:
        best = self.record or self.unscored
        guidance = best["guidance_scale"] if guidance_scale is None else guidance_scale
        steps = best["steps"] if steps is None else steps
        raw = self._render([prompt], steps, guidance, torch.Generator().manual_seed(seed))[0]
        palette = self.record["palette"] if self.record else None
        return Generated(snap_to_grid(raw, palette=palette), raw, self.folder, guidance, steps)


class PunkModel(mlflow.pyfunc.PythonModel):
    """The registered production model: prompts in, snapped 24x24 portraits out."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.renderer = Renderer(Path(context.artifacts[FOLDER_ARTIFACT]))

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict | None = None,
    ) -> list[Image.Image]:
        params = params or {}
        return [
            self.renderer(
                prompt, params.get("seed", 0), params.get("guidance_scale"), params.get("steps")
            ).image
            for prompt in model_input["prompt"]
        ]
