"""One `ModelFamily` per kind of base model; `family_for(config)` picks the config's."""

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families.base import ModelFamily
from bespoke_pipeline.training.families.flux import FluxFamily
from bespoke_pipeline.training.families.pixel import PixelFamily
from bespoke_pipeline.training.families.sdxl import SdxlFamily


def family_for(config: TrainingConfig) -> ModelFamily:
    return {"pixel": PixelFamily, "sdxl": SdxlFamily, "flux": FluxFamily}[config.family]()
