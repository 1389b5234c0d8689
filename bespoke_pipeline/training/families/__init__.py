"""One `ModelFamily` per kind of base model; `family_for(config)` picks the config's."""

from collections.abc import Callable
from functools import partial

import torch
from diffusers import DiffusionPipeline
from PIL import Image

from bespoke_pipeline.training.base_weights import base_model_folder
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families.base import ModelFamily, placement
from bespoke_pipeline.training.families.flux import FluxFamily
from bespoke_pipeline.training.families.pixel import PixelFamily
from bespoke_pipeline.training.families.sdxl import SdxlFamily
from bespoke_pipeline.training.resolution import sample_side


def family_for(config: TrainingConfig) -> ModelFamily:
    return {"pixel": PixelFamily, "sdxl": SdxlFamily, "flux": FluxFamily}[config.family]()


#: Draws images: (prompts, steps, guidance_scale, generator) -> one image per prompt.
Renderer = Callable[[list[str], int, float, torch.Generator], list[Image.Image]]


def sampling_pipeline(config: TrainingConfig) -> tuple[DiffusionPipeline, Renderer]:
    """The config's base pipeline on this machine (load checkpoints into it), and a
    function that draws with it at the config's sample side."""
    family = family_for(config)
    pipe = family.load(base_model_folder(config), *placement(config))
    side = sample_side(family.sides(pipe, config.resolution))
    return pipe, partial(family.render, pipe, side=side)
