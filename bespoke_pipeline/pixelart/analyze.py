"""Read a Portrait back from the pixels of a 24x24 bespoke portrait.

Analysis looks at the fixed layout points (see `layout`), so it works on any portrait drawn
on the bespoke grid, not just ours; it is also how captions are checked against pixels and,
later, how generated samples are scored.
"""

from __future__ import annotations

from collections import Counter

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.colors import rgb_to_hex
from bespoke_pipeline.pixelart.portrait import Portrait

Grid = list[list[str | None]]  # grid[y][x]: hex color, None where fully transparent

_CHEEKS = ((8, 15), (15, 15), (8, 17), (15, 17))  # skin in either facing direction
_HAIR_ZONE = frozenset().union(*layout.HAIR_STYLES.values())


def to_grid(image: Image.Image) -> Grid:
    """Hex colors of a 24x24 image in any mode (RGB, RGBA, palette, greyscale)."""
    if image.size != (layout.SIZE, layout.SIZE):
        raise ValueError(
            f"expected a {layout.SIZE}x{layout.SIZE} image, got {image.size[0]}x{image.size[1]}"
        )
    rgba = np.asarray(image.convert("RGBA"))
    return [[rgb_to_hex(px) if px[3] else None for px in row] for row in rgba]


def analyze(image: Image.Image) -> Portrait:
    grid = to_grid(image)
    skin = _most_common(grid, _CHEEKS)
    facing = _facing(grid, skin)
    if facing == "left":
        grid = [row[::-1] for row in grid]

    def at(pixel: tuple[int, int]) -> str | None:
        return grid[pixel[1]][pixel[0]]

    border = [(x, y) for x in range(layout.SIZE) for y in (0, layout.SIZE - 1)]
    border += [(x, y) for y in range(layout.SIZE) for x in (0, layout.SIZE - 1)]
    background = _most_common(grid, border)

    frame = at((7, 11))
    eyewear = None
    if frame not in (skin, None) and frame == at((16, 11)):
        eyewear = "shades" if at(layout.PUPILS[0]) == at(layout.IRISES[0]) else "glasses"

    headwear = headwear_color = None
    if at(layout.HEADWEAR_WITNESS) != background:
        headwear = "beanie" if at(layout.BEANIE_WITNESS) != background else "cap"
        headwear_color = at(layout.HEADWEAR_WITNESS)

    hair = None
    if at(layout.HAIR_WITNESS) != skin:
        hair = at(layout.HAIR_WITNESS)
    elif headwear is None and at(layout.MOHAWK_WITNESS) not in (background, skin):
        hair = at(layout.MOHAWK_WITNESS)

    collar = at((6, 21))
    earring = at(layout.EARRING)
    return Portrait(
        background=background,
        skin=skin or "#000000",
        hair=hair,
        hair_style=_hair_style(grid, hair, headwear),
        eyes=None if eyewear == "shades" else at(layout.IRISES[0]),
        lips=at(layout.LIPS[0]) or "#000000",
        collar=collar if collar != background else None,
        sex="male" if at((8, layout.JAW_ROW)) == skin else "female",
        eyewear_style=eyewear,
        headwear_style=headwear,
        headwear_color=headwear_color,
        earring=earring not in (background, skin, hair),
        facing=facing,
    )


def _most_common(grid: Grid, pixels) -> str | None:
    return Counter(grid[y][x] for x, y in pixels).most_common(1)[0][0]


def _facing(grid: Grid, skin: str | None) -> str:
    """Skin at the back-of-head witness and not at its mirror means right-facing."""
    back, front = layout.FACING_WITNESS
    back_is_skin = grid[back[1]][back[0]] == skin
    front_is_skin = grid[front[1]][front[0]] == skin
    if back_is_skin != front_is_skin:
        return "right" if back_is_skin else "left"
    pupil = layout.PUPILS[0]
    mirrored = layout.mirror(pupil)
    return (
        "left"
        if grid[mirrored[1]][mirrored[0]] == "#000000" != grid[pupil[1]][pupil[0]]
        else "right"
    )


def _hair_style(grid: Grid, hair: str | None, headwear: str | None) -> str | None:
    """The style whose visible shape best overlaps the hair-colored pixels (Jaccard)."""
    if hair is None:
        return None
    hidden = layout.HEADWEAR[headwear] if headwear else frozenset()
    painted = {(x, y) for x, y in _HAIR_ZONE if grid[y][x] == hair} - hidden

    def overlap(style: str) -> float:
        visible = layout.HAIR_STYLES[style] - hidden
        return len(painted & visible) / max(1, len(painted | visible))

    return max(layout.HAIR_STYLES, key=overlap)
