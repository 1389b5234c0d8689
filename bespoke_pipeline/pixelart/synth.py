"""Procedural bespoke punks with known ground truth.

They are the demo dataset, the test oracle for analysis and captions, and (mirrored or
shifted, in later stages) the generic corpus for pretraining the embedded base model.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.caption import DEFAULT_TRIGGER, render_caption
from bespoke_pipeline.pixelart.colors import (
    BACKGROUNDS,
    COLLAR_COLORS,
    COLORS,
    EARRING_COLOR,
    EYE_COLORS,
    EYEWEAR_COLOR,
    HAIR_COLORS,
    HEADWEAR_COLORS,
    LIP_COLORS,
    SKIN_TONES,
    hex_to_rgb,
)
from bespoke_pipeline.pixelart.portrait import Portrait

HAIR_STYLE_WEIGHTS = {
    "male": {"bald": 2, "short": 4, "spiky": 3, "mohawk": 3, "bob": 1, "long": 1, "messy": 3},
    "female": {"bald": 1, "short": 2, "spiky": 1, "mohawk": 2, "bob": 4, "long": 4, "messy": 2},
}


def _pick(rng: np.random.Generator, options: tuple[str, ...] | list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _weighted(rng: np.random.Generator, weights: dict[str, int]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def random_portrait(rng: np.random.Generator) -> Portrait:
    """Sample attributes, keeping colors apart wherever two features touch or would hide
    each other (a purple hat on purple hair, a background the color of the skin)."""
    sex = "male" if rng.random() < 0.5 else "female"
    skin = _pick(rng, SKIN_TONES)
    hair_style = _weighted(rng, HAIR_STYLE_WEIGHTS[sex])
    hair = None if hair_style == "bald" else _pick(rng, HAIR_COLORS)
    collar = None if rng.random() < 0.15 else _pick(rng, COLLAR_COLORS)
    roll = rng.random()
    eyewear = "glasses" if roll < 0.18 else "shades" if roll < 0.30 else None
    headwear = None
    headwear_color = None
    if hair_style != "mohawk" and rng.random() < 0.2:
        headwear = "cap" if rng.random() < 0.5 else "beanie"
        headwear_color = _pick(rng, [c for c in HEADWEAR_COLORS if c != hair])
    taken = {skin, hair, collar, headwear_color}
    background = _pick(rng, [c for c in BACKGROUNDS if c not in taken])
    return Portrait(
        background=COLORS[background],
        skin=COLORS[skin],
        hair=COLORS[hair] if hair else None,
        hair_style=None if hair_style == "bald" else hair_style,
        eyes=None if eyewear == "shades" else COLORS[_pick(rng, EYE_COLORS)],
        lips=COLORS[_pick(rng, LIP_COLORS)],
        collar=COLORS[collar] if collar else None,
        sex=sex,
        eyewear_style=eyewear,
        headwear_style=headwear,
        headwear_color=COLORS[headwear_color] if headwear_color else None,
        earring=bool(rng.random() < 0.25),
    )


def draw(portrait: Portrait) -> Image.Image:
    """Render a portrait as a 24x24 RGB image: flat colors, no anti-aliasing."""
    grid = np.zeros((layout.SIZE, layout.SIZE, 3), dtype=np.uint8)
    grid[:, :] = hex_to_rgb(portrait.background or "#000000")

    def paint(pixels: frozenset[tuple[int, int]] | tuple, hex_color: str) -> None:
        for x, y in pixels:
            grid[y, x] = hex_to_rgb(hex_color)

    paint(layout.SKULL | layout.EAR | layout.JAW[portrait.sex] | layout.NECK, portrait.skin)
    if portrait.collar:
        paint(layout.COLLAR, portrait.collar)
    if portrait.hair and portrait.hair_style:
        paint(layout.HAIR_STYLES[portrait.hair_style], portrait.hair)
    paint(layout.PUPILS, COLORS["black"])
    if portrait.eyes:
        paint(layout.IRISES, portrait.eyes)
    paint((layout.NOSE,), COLORS["black"])
    paint(layout.LIPS, portrait.lips)
    if portrait.eyewear_style:
        paint(layout.GLASSES_FRAME, COLORS[EYEWEAR_COLOR])
    if portrait.eyewear_style == "shades":
        paint(layout.SHADES_LENSES, COLORS[EYEWEAR_COLOR])
    if portrait.headwear_style and portrait.headwear_color:
        paint(layout.HEADWEAR[portrait.headwear_style], portrait.headwear_color)
    if portrait.earring:
        paint((layout.EARRING,), COLORS[EARRING_COLOR])
    image = Image.fromarray(grid)
    if portrait.facing == "left":
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def synth_portraits(count: int, seed: int) -> Iterator[tuple[Image.Image, Portrait]]:
    """`count` distinct portraits, the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    while len(seen) < count:
        portrait = random_portrait(rng)
        image = draw(portrait)
        if image.tobytes() not in seen:
            seen.add(image.tobytes())
            yield image, portrait


def write_dataset(
    out_dir: Path, count: int, seed: int, trigger: str = DEFAULT_TRIGGER
) -> list[Path]:
    """Write `punk_NNNN.png` + `.txt` pairs; the same arguments give byte-identical files."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (image, portrait) in enumerate(synth_portraits(count, seed), start=1):
        png = out_dir / f"punk_{index:04d}.png"
        image.save(png, format="PNG", optimize=True)
        png.with_suffix(".txt").write_text(
            render_caption(portrait, trigger) + "\n", encoding="utf-8"
        )
        written.append(png)
    return written
