"""Read a Portrait back from the pixels of a 24x24 portrait.

The Portrait is the summary the generator, captions and metrics share: one dominant colour
per part. It is built from `regions.read_regions`, which searches the pixels, so it reads
real art as well as the project's own generated punks; `read_regions` keeps the detail
(every shade, the background's kind, where the eyes are) for the caption check.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.regions import Regions, read_regions

#: A jaw row with at least this many skin pixels is square (male); narrower is a chin.
_SQUARE_JAW = 8


def analyze(image: Image.Image) -> Portrait:
    return portrait_of(read_regions(image), image)


def portrait_of(regions: Regions, image: Image.Image) -> Portrait:
    headwear = regions.headwear if regions.headwear in layout.HEADWEAR else None
    return Portrait(
        background=regions.background,
        skin=regions.skin,
        hair=regions.hair,
        hair_style=_hair_style(image, regions),
        eyes=None if regions.eyewear == "shades" else regions.iris,
        lips=regions.lips,
        collar=regions.collar,
        sex="male" if regions.jaw_width >= _SQUARE_JAW else "female",
        eyewear_style=regions.eyewear,  # type: ignore[arg-type]
        headwear_style=headwear,  # type: ignore[arg-type]
        headwear_color=regions.headwear_color,
        earring=regions.earring,
        facing=regions.facing,  # type: ignore[arg-type]
    )


def _hair_style(image: Image.Image, regions: Regions) -> str | None:
    """The generator's hair style whose visible shape best overlaps the hair-coloured
    pixels (Jaccard); real art's styles have no such names and read as the nearest one."""
    if regions.hair is None:
        return None
    rgb = np.asarray(image.convert("RGB"))
    if regions.facing == "left":
        rgb = rgb[:, ::-1]
    hair = tuple(int(regions.hair[i : i + 2], 16) for i in (1, 3, 5))
    painted = {
        (int(x), int(y)) for y, x in zip(*np.nonzero((rgb == hair).all(axis=2)), strict=True)
    }
    hidden = layout.HEADWEAR.get(regions.headwear or "", frozenset())
    zone = frozenset().union(*layout.HAIR_STYLES.values())
    painted = (painted & zone) - hidden

    def overlap(style: str) -> float:
        visible = layout.HAIR_STYLES[style] - hidden
        return len(painted & visible) / max(1, len(painted | visible))

    return max(layout.HAIR_STYLES, key=overlap)
