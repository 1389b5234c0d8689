"""Generic punks: the pretraining corpus of the embedded base model.

They deliberately differ from the bespoke layout (the face sits anywhere near the centre,
looks either way, wears no collar, and the captions are short and coordinate-free), so that
a LoRA trained on bespoke data has something real to learn: the layout, the trigger word and
the coordinate captions.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.synth import draw, random_portrait

MAX_SHIFT_X = 3  # the drawing spans x=4..19, so +-3 keeps it off the edge
MAX_SHIFT_Y = 1  # and y=1..22


def generic_caption(portrait: Portrait) -> str:
    names = portrait.color_names()
    parts = ["pixel art portrait", portrait.sex, f"{names['background']} background"]
    parts.append(f"{names['hair']} {portrait.hair_style} hair" if portrait.hair_style else "bald")
    if names["eyes"]:
        parts.append(f"{names['eyes']} eyes")
    parts += [f"{names['skin']} skin", f"{names['lips']} lips"]
    if portrait.eyewear_style:
        parts.append(portrait.eyewear_style)
    if portrait.headwear_style:
        parts.append(f"{names['headwear_color']} {portrait.headwear_style}")
    if portrait.earring:
        parts.append("earring")
    parts.append(f"looking {portrait.facing}")
    return ", ".join(parts)


def generic_punk(rng: np.random.Generator) -> tuple[Image.Image, str, Portrait]:
    facing = "left" if rng.random() < 0.5 else "right"
    portrait = replace(random_portrait(rng), collar=None, facing=facing)
    grid = np.asarray(draw(portrait)).copy()
    dx = int(rng.integers(-MAX_SHIFT_X, MAX_SHIFT_X + 1))
    dy = int(rng.integers(-MAX_SHIFT_Y, MAX_SHIFT_Y + 1))
    background = grid[0, 0].copy()
    shifted = np.empty_like(grid)
    shifted[:] = background
    h, w = grid.shape[:2]
    shifted[max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = grid[
        max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return Image.fromarray(shifted), generic_caption(portrait), portrait


def generic_corpus(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`count` images as a uint8 array (N, 24, 24, 3) with their captions."""
    rng = np.random.default_rng(seed)
    images, captions = [], []
    for _ in range(count):
        image, caption, _ = generic_punk(rng)
        images.append(np.asarray(image))
        captions.append(caption)
    return np.stack(images), captions
