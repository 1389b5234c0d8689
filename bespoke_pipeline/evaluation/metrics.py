"""What is measured on each generated image, read from the 24x24 grid after snapping.

`METRICS` is the one documented table (the README prints it): every metric is 0/1 per image
or a share in [0, 1], so the mean over a prompt suite is an accuracy. A metric the prompt
does not ask about (eye color under shades, a collar the prompt never mentions, ...) is
NaN and left out of that mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.caption import CaptionAttributes
from bespoke_pipeline.pixelart.colors import COLORS, color_name, delta_e, rgb_to_hex
from bespoke_pipeline.pixelart.snap import grid_cleanliness

CLEAN_DELTA_E = 6.0  # a raw pixel this close to its cell's color counts as clean
MEMORIZED_BELOW = 0.05  # novelty under this: a copy of a training image


@dataclass(frozen=True)
class Metric:
    name: str
    meaning: str
    range: str


METRICS = (
    Metric(
        "grid_cleanliness",
        "share of raw output pixels within delta E 6 of their cell's "
        "color after snapping to the training palette",
        "0-1",
    ),
    Metric("palette_size", "distinct colors in the snapped 24x24 image", "count"),
    Metric("background", "border color equals the prompt's background hex exactly", "0/1"),
    Metric(
        "eyes_placed",
        "pupils black at (8,12) and (13,12), irises at (9,12) and (14,12) "
        "neither black nor skin (NaN under shades)",
        "0/1",
    ),
    Metric("hair_color", "hair witness pixel names the prompt's hair color (bald: no hair)", "0/1"),
    Metric("eye_color", "iris at (9,12) names the prompt's eye color", "0/1"),
    Metric("skin_color", "cheeks name the prompt's skin tone", "0/1"),
    Metric("lip_color", "lips name the prompt's lip color", "0/1"),
    Metric("collar_color", "collar names the prompt's collar color (bare neck: none)", "0/1"),
    Metric(
        "accessories",
        "glasses/shades, cap/beanie and earring present if and only if the prompt asks for them",
        "0/1",
    ),
    Metric("right_facing", "the face looks right", "0/1"),
    Metric("novelty", "share of cells that differ from the nearest training image", "0-1"),
    Metric("memorized", f"novelty below {MEMORIZED_BELOW:.0%}", "0/1"),
    Metric(
        "diversity",
        "mean share of differing cells between samples of one prompt "
        "(same for every sample of that prompt)",
        "0-1",
    ),
)

_COLOR_FIELDS = {
    "hair_color": "hair",
    "eye_color": "eyes",
    "skin_color": "skin",
    "lip_color": "lips",
    "collar_color": "collar",
}


def image_metrics(
    raw: Image.Image,
    snapped: Image.Image,
    expected: CaptionAttributes,
    palette: list[str],
    training_cells: np.ndarray,
) -> dict[str, float]:
    """Every per-image metric of `METRICS` except diversity (see `diversity`)."""
    seen = analyze(snapped)
    grid = np.asarray(snapped)
    novelty = _novelty(grid, training_cells)
    values: dict[str, float] = {
        "grid_cleanliness": grid_cleanliness(raw, snapped, CLEAN_DELTA_E),
        "palette_size": float(len(np.unique(grid.reshape(-1, 3), axis=0))),
        "background": _exact_background(seen.background, expected.background, palette),
        "eyes_placed": _eyes_placed(grid, seen.skin, expected),
        "accessories": float(
            (seen.eyewear_style is not None) == (expected.eyewear_style is not None)
            and (seen.headwear_style is not None) == (expected.headwear_style is not None)
            and seen.earring == bool(expected.earring)
        ),
        "right_facing": float(seen.facing == "right"),
        "novelty": novelty,
        "memorized": float(novelty < MEMORIZED_BELOW),
    }
    drawn = {
        "hair": seen.hair,
        "eyes": None if seen.eyewear_style == "shades" else seen.eyes,
        "skin": seen.skin,
        "lips": seen.lips,
        "collar": seen.collar,
    }
    for metric, field in _COLOR_FIELDS.items():
        values[metric] = _color_match(drawn[field], getattr(expected, field))
    return values


def diversity(snapped: list[Image.Image]) -> float:
    """Mean share of differing cells over all pairs of samples of one prompt."""
    grids = [np.asarray(image) for image in snapped]
    pairs = [(a != b).any(axis=2).mean() for a, b in combinations(grids, 2)]
    return float(np.mean(pairs)) if pairs else math.nan


def palette_hex(expected_name: str, palette: list[str]) -> str:
    """The hex the training set uses for a color name: the palette entry that is named so,
    else the vocabulary's own hex."""
    named = [c for c in palette if color_name(c) == expected_name]
    if not named:
        return COLORS[expected_name]
    return min(named, key=lambda c: delta_e(c, COLORS[expected_name]))


def _exact_background(drawn: str | None, expected: str | None, palette: list[str]) -> float:
    if expected is None:
        return math.nan
    if expected == "transparent":
        return float(drawn is None)
    return float(drawn == palette_hex(expected, palette))


def _color_match(drawn: str | None, expected: str | None) -> float:
    if expected is None:
        return math.nan
    if expected in ("bald", "none"):
        return float(drawn is None)
    return float(drawn is not None and color_name(drawn) == expected)


def _eyes_placed(grid: np.ndarray, skin: str, expected: CaptionAttributes) -> float:
    if expected.eyewear_style == "shades":
        return math.nan
    at = [rgb_to_hex(grid[y, x]) for x, y in (*layout.PUPILS, *layout.IRISES)]
    pupils_black = all(color_name(c) == "black" for c in at[:2])
    irises_colored = all(color_name(c) != "black" and c != skin for c in at[2:])
    return float(pupils_black and irises_colored)


def _novelty(grid: np.ndarray, training_cells: np.ndarray) -> float:
    """Share of differing cells against the closest training image (N, 24, 24, 3)."""
    if len(training_cells) == 0:
        return 1.0
    differing = (training_cells != grid[None]).any(axis=3).mean(axis=(1, 2))
    return float(differing.min())
