"""Read a Portrait back from the pixels of a 24x24 portrait.

The Portrait is the summary the generator, captions and metrics share: one main colour per
part. It is built from `regions.read_regions`, which searches the pixels, so it reads real
art as well as the project's own generated punks; `read_regions` keeps the detail (every
shade, where the eyes are) for the caption check. Hair and hat *styles* are the generator's
names, given to the drawn shape they overlap most.
"""

from __future__ import annotations

from PIL import Image

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.regions import Regions, read_regions

#: A jaw row at least this many pixels wide (beard included) is square (male).
_SQUARE_JAW = 5
_HATS = {name: main | second for name, (main, second) in layout.HEADWEAR.items()}
_KINDS = {"transparent": "flat"}


def analyze(image: Image.Image) -> Portrait:
    return portrait_of(read_regions(image))


def portrait_of(regions: Regions) -> Portrait:
    kind = _KINDS.get(regions.background_kind, regions.background_kind)
    two_tone = kind != "flat" and len(regions.background_colors) > 1
    headwear = _best_shape(regions.headwear_cells, _HATS) if regions.headwear_color else None
    return Portrait(
        background=regions.background,
        skin=regions.skin,
        hair=regions.hair,
        hair_style=_hair_style(regions, headwear),
        eyes=None if regions.eyewear == "shades" else regions.iris,
        lips=regions.lips,
        collar=regions.collar,
        sex="male" if regions.jaw_width >= _SQUARE_JAW else "female",
        eyewear_style=regions.eyewear,  # type: ignore[arg-type]
        headwear_style=headwear,  # type: ignore[arg-type]
        headwear_color=regions.headwear_color,
        earring=regions.earring,
        facing=regions.facing,  # type: ignore[arg-type]
        background_kind=kind,  # type: ignore[arg-type]
        background_end=regions.background_colors[-1] if two_tone else None,
        beard=regions.beard,
    )


def _best_shape(cells: frozenset, shapes: dict[str, frozenset]) -> str:
    """The name whose shape overlaps `cells` most (Jaccard)."""

    def overlap(name: str) -> float:
        return len(cells & shapes[name]) / max(1, len(cells | shapes[name]))

    return max(shapes, key=overlap)


def _hair_style(regions: Regions, headwear: str | None) -> str | None:
    if regions.hair is None:
        return None
    hidden = _HATS.get(headwear or "", frozenset())
    visible = {name: cells - hidden for name, cells in layout.HAIR_STYLES.items()}
    return _best_shape(regions.hair_cells, visible)
