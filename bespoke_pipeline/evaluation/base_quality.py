"""How well the base model follows generic captions, measured on held-out prompts.

Generic punks sit anywhere near the centre, so these metrics look for colors, not places:
the background (the border's color), whether the stated hair and skin colors are drawn at
all, and how clean the palette is.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
import torch

from bespoke_pipeline.pixelart.colors import COLORS, color_name, hex_to_lab, rgb_to_hex
from bespoke_pipeline.pixelart.generic import generic_punk
from bespoke_pipeline.training.pipeline import PixelPunkPipeline

HELD_OUT_SEED = 987_654  # never used for the pretraining corpus
NEAR = 12.0  # delta E: "that color is drawn"
CLEAN = 6.0  # delta E: "this pixel is a flat palette color"


def base_quality(pipe: PixelPunkPipeline, count: int = 64, steps: int = 20) -> dict[str, float]:
    rng = np.random.default_rng(HELD_OUT_SEED)
    cases = [generic_punk(rng) for _ in range(count)]
    images = pipe(
        [caption for _, caption, _ in cases],
        num_inference_steps=steps,
        generator=torch.Generator().manual_seed(0),
    )
    palette = hex_to_lab(list(COLORS.values()))
    background = hair = hair_total = skin = clean = 0.0
    for image, (_, _, truth) in zip(images, cases, strict=True):
        pixels = np.asarray(image).reshape(-1, 3)
        lab = hex_to_lab([rgb_to_hex(p) for p in pixels])
        border = np.concatenate([np.asarray(image)[0], np.asarray(image)[-1]])
        mode = Counter(rgb_to_hex(p) for p in border).most_common(1)[0][0]
        background += color_name(mode) == color_name(truth.background)
        skin += _drawn(lab, truth.skin, minimum=8)
        if truth.hair:
            hair_total += 1
            hair += _drawn(lab, truth.hair, minimum=2)
        distances = np.linalg.norm(lab[:, None] - palette[None], axis=2).min(axis=1)
        clean += float((distances <= CLEAN).mean())
    return {
        "background_accuracy": background / count,
        "skin_drawn": skin / count,
        "hair_color_drawn": hair / max(hair_total, 1),
        "clean_pixel_share": clean / count,
    }


def _drawn(lab: np.ndarray, hex_color: str, minimum: int) -> bool:
    target = hex_to_lab([hex_color])[0]
    return int((np.linalg.norm(lab - target, axis=1) <= NEAR).sum()) >= minimum
