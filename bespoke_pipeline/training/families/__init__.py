"""One `ModelFamily` per kind of base model; `family_for(config)` picks the config's."""

from collections.abc import Callable
from functools import partial

import torch
from diffusers import DiffusionPipeline
from PIL import Image

from bespoke_pipeline.training.base_weights import base_model_source
from bespoke_pipeline.training.config import CLIP_FAMILIES, TrainingConfig
from bespoke_pipeline.training.families.base import ModelFamily, placement
from bespoke_pipeline.training.families.flux import FluxFamily
from bespoke_pipeline.training.families.pixel import PixelFamily
from bespoke_pipeline.training.families.sd15 import Sd15Family
from bespoke_pipeline.training.families.sdxl import SdxlFamily
from bespoke_pipeline.training.resolution import sample_side


def family_for(config: TrainingConfig) -> ModelFamily:
    if config.family in CLIP_FAMILIES:
        windowed = {"sd15": Sd15Family, "sdxl": SdxlFamily}[config.family]
        return windowed(config.max_token_length)
    return {"pixel": PixelFamily, "flux": FluxFamily}[config.family]()


#: Draws images: (prompts, steps, guidance_scale, generator) -> one image per prompt.
Renderer = Callable[[list[str], int, float, torch.Generator], list[Image.Image]]


def sampling_pipeline(config: TrainingConfig) -> tuple[DiffusionPipeline, Renderer]:
    """The config's base pipeline on this machine (load checkpoints into it), and a
    function that draws with it at the config's sample side."""
    family = family_for(config)
    pipe = family.load(base_model_source(config), *placement(config), config.base_model_config)
    side = sample_side(family.sides(pipe, config.resolution))
    return pipe, partial(family.render, pipe, side=side)
