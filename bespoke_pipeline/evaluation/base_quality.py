"""How well the base model follows generic captions, measured with the evaluation's own
metrics on held-out generic prompts.

Generic punks sit off centre and look either way, so placement and facing are not asked
(NaN): the card reports how well colours, accessories and clean pixels follow the words,
the same numbers `checkpoint_scores` reports for a LoRA.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from bespoke_pipeline.evaluation.metrics import FOLLOWS_WORDS, Reference, image_metrics
from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.pixelart.caption import parse_caption
from bespoke_pipeline.pixelart.generic import generic_punk, wide_palette
from bespoke_pipeline.pixelart.snap import snap_to_grid

HELD_OUT_SEED = 987_654  # never used for the pretraining corpus
#: What the card reports, in this order.
REPORTED = (*FOLLOWS_WORDS, "grid_cleanliness")


def base_quality(pipe: PixelPunkPipeline, count: int = 64, steps: int = 20) -> dict[str, float]:
    """Mean of each reported metric over `count` held-out generic prompts."""
    rng = np.random.default_rng(HELD_OUT_SEED)
    palette = wide_palette()
    cases = [generic_punk(rng, palette) for _ in range(count)]
    images = pipe(
        [caption for _, caption, _ in cases],
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(0),
    )
    reference = Reference(np.zeros((0, 24, 24, 3), np.uint8), None, None)
    rows = [
        image_metrics(image, snap_to_grid(image), parse_caption(caption).attributes, reference)
        for image, (_, caption, _) in zip(images, cases, strict=True)
    ]
    means = pd.DataFrame(rows)[list(REPORTED)].mean()
    return {k: float(v) for k, v in means.items() if not math.isnan(v)}
