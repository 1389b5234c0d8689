"""Pure pixel-art domain code: the bespoke layout, the color vocabulary, the generator,
analysis and captions. Nothing here knows about Dagster or MLflow."""

from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.caption import parse_caption, render_caption
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.synth import draw, synth_portraits

__all__ = ["Portrait", "analyze", "draw", "parse_caption", "render_caption", "synth_portraits"]
