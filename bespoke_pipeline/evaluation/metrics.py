"""What is measured on each generated image, read from the 24x24 grid after snapping.

`METRICS` is the one documented table (the README prints it): every metric is 0/1 per image
or a share in [0, 1], so the mean over a prompt suite is an accuracy. A metric the prompt
does not ask about (eye colour under shades, a collar the prompt never mentions, ...) is
NaN and left out of that mean. Colours are judged the way captions are checked
(`pixelart.color_words`: the named colour's family within CIEDE2000 15 of the part's
shades), and eyes against where the training set has them, not the template's words.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart.caption import CaptionAttributes
from bespoke_pipeline.pixelart.color_words import resolve
from bespoke_pipeline.pixelart.colors import rgb_to_hex
from bespoke_pipeline.pixelart.regions import EyeLayout, Regions, read_regions
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
    Metric(
        "background",
        "the background shows every colour the prompt names for it (a gradient's both ends)",
        "0/1",
    ),
    Metric(
        "eyes_placed",
        "a pupil-and-iris pair found where the training set's layout profile has the eyes "
        "(NaN under shades)",
        "0/1",
    ),
    Metric("hair_color", "the hair shows the prompt's hair colour (bald: no hair)", "0/1"),
    Metric("eye_color", "the irises show the prompt's eye colour", "0/1"),
    Metric("skin_color", "the face's main colour is the prompt's skin tone", "0/1"),
    Metric("lip_color", "the lips show the prompt's lip colour", "0/1"),
    Metric("collar_color", "the shirt shows the prompt's collar colour (bare neck: none)", "0/1"),
    Metric(
        "accessories",
        "eyewear, headwear and earring present if and only if the prompt asks for them "
        "(unasked, a covering in the prompt's hair colour is that hair)",
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


#: The metrics that say whether the words were followed, layout aside.
FOLLOWS_WORDS = (
    "background",
    "hair_color",
    "eye_color",
    "skin_color",
    "lip_color",
    "collar_color",
    "accessories",
)


@dataclass(frozen=True)
class Reference:
    """What generated images are compared with: the training set's cells, colours and the
    place its eyes are (None: judge no placement, as for the base model's generic world)."""

    cells: np.ndarray  # uint8 (N, 24, 24, 3)
    palette: list[str] | None
    eyes: EyeLayout | None

    @classmethod
    def of(cls, images: np.ndarray) -> Reference:
        return cls(images, palette_of(images), layout_eyes(images))


def palette_of(images: np.ndarray) -> list[str]:
    """Every colour of a set of images: what generated samples are snapped onto."""
    return sorted({rgb_to_hex(c) for c in np.unique(images.reshape(-1, 3), axis=0)})


def image_metrics(
    raw: Image.Image, snapped: Image.Image, expected: CaptionAttributes, reference: Reference
) -> dict[str, float]:
    """Every per-image metric of `METRICS` except diversity (see `diversity`)."""
    seen = read_regions(snapped)
    hair_colours, headwear_seen = _head(seen, expected)
    grid = np.asarray(snapped.convert("RGB"))
    novelty = _novelty(grid, reference.cells)
    values: dict[str, float] = {
        "grid_cleanliness": grid_cleanliness(raw, snapped, CLEAN_DELTA_E),
        "palette_size": float(len(np.unique(grid.reshape(-1, 3), axis=0))),
        "background": _shows(expected.background, list(seen.background_colors)),
        "eyes_placed": _eyes_placed(seen, expected, reference.eyes),
        "hair_color": _present_or_named(expected.hair, "bald", hair_colours),
        "eye_color": math.nan
        if seen.eyewear == "shades"
        else _shows(expected.eyes, list(seen.eye_colors)),
        "skin_color": _shows(expected.skin, [seen.skin], skin=True),
        "lip_color": _shows(expected.lips, list(seen.lip_colors) or [seen.skin]),
        "collar_color": _present_or_named(expected.collar, "none", list(seen.collar_colors)),
        "accessories": float(
            (seen.eyewear is not None) == (expected.eyewear_style is not None)
            and headwear_seen == (expected.headwear_style is not None)
            and seen.earring == bool(expected.earring)
        ),
        "right_facing": float(seen.facing == "right"),
        "novelty": novelty,
        "memorized": float(novelty < MEMORIZED_BELOW),
    }
    return values


def diversity(snapped: list[Image.Image]) -> float:
    """Mean share of differing cells over all pairs of samples of one prompt."""
    grids = [np.asarray(image) for image in snapped]
    pairs = [(a != b).any(axis=2).mean() for a, b in combinations(grids, 2)]
    return float(np.mean(pairs)) if pairs else math.nan


def layout_eyes(cells: np.ndarray) -> EyeLayout | None:
    """Where most training images have their eyes (the dataset profile's pupils)."""
    found = [r.eyes for r in (read_regions(Image.fromarray(c)) for c in cells) if r.eyes_found]
    if not found:
        return None
    return max(set(found), key=found.count)


def _head(seen: Regions, expected: CaptionAttributes) -> tuple[list[str], bool]:
    """The hair's colours, and whether headwear is seen, as a viewer who reads the prompt
    tells them apart. Hair cut close with nothing beside the face looks like a cap on
    24x24 (the reader takes a covering that rises above the skull for one); when the
    prompt asks for no headwear and the covering is in the prompt's hair colour, it is
    that hair. A covering in any other colour stays headwear."""
    hat = seen.headwear_color
    if hat is not None and expected.headwear_style is None and _shows(expected.hair, [hat]) == 1:
        return [*seen.hair_colors, hat], False
    return list(seen.hair_colors), hat is not None


def _shows(phrase: str | None, colours: list[str], skin: bool = False) -> float:
    if phrase is None:
        return math.nan
    if phrase == "transparent":
        return float(not colours)
    resolved = resolve(phrase, skin=skin)
    if not resolved.colours:
        return math.nan  # words no one can judge: not asked, rather than failed
    return float(resolved.agrees_with(colours))


def _present_or_named(phrase: str | None, absent: str, colours: list[str]) -> float:
    if phrase == absent:
        return float(not colours)
    return _shows(phrase, colours)


def _eyes_placed(seen: Regions, expected: CaptionAttributes, eyes: EyeLayout | None) -> float:
    if eyes is None or expected.eyewear_style == "shades":
        return math.nan
    return float(seen.eyes_found and seen.eyes == eyes)


def _novelty(grid: np.ndarray, training_cells: np.ndarray) -> float:
    """Share of differing cells against the closest training image (N, 24, 24, 3)."""
    if len(training_cells) == 0:
        return 1.0
    differing = (training_cells != grid[None]).any(axis=3).mean(axis=(1, 2))
    return float(differing.min())
