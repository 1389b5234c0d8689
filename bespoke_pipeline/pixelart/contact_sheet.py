"""A grid of portraits for people to look at (Dagster metadata, MLflow, README)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

from bespoke_pipeline.pixelart.layout import SIZE


def contact_sheet(
    images: Sequence[Image.Image],
    columns: int = 16,
    scale: int = 3,
    gap: int = 2,
    background: str = "#202020",
) -> Image.Image:
    """Nearest-neighbour upscaled tiles: any other filter would blur the very pixels a
    viewer is checking."""
    tile = SIZE * scale
    columns = max(1, min(columns, len(images)))
    rows = max(1, math.ceil(len(images) / columns))
    sheet = Image.new("RGB", (columns * (tile + gap) + gap, rows * (tile + gap) + gap), background)
    for index, image in enumerate(images):
        big = image.convert("RGBA").resize((tile, tile), Image.Resampling.NEAREST)
        x = gap + (index % columns) * (tile + gap)
        y = gap + (index // columns) * (tile + gap)
        sheet.paste(big, (x, y), big)
    return sheet


def png_data_uri(image: Image.Image) -> str:
    """Inline PNG for markdown metadata, which the Dagster UI renders as an image."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


#: One labelled pair of colours: (attribute, what the caption says, what the pixels show).
Swatch = tuple[str, str | None, str | None]


def annotated_sheet(
    rows: Sequence[tuple[Image.Image, str, Sequence[Swatch]]], scale: int = 4
) -> Image.Image:
    """One row per image: the portrait, its name, then for each disagreement the caption's
    colour beside the colour the pixels show, so a person sees at a glance who is right."""
    tile, swatch, gap = SIZE * scale, SIZE, 6
    font = ImageFont.load_default()
    width = tile + gap + 4 * (2 * swatch + 150) + gap
    sheet = Image.new("RGB", (width, max(1, len(rows)) * (tile + gap) + gap), "#ffffff")
    draw = ImageDraw.Draw(sheet)
    for index, (image, name, pairs) in enumerate(rows):
        top = gap + index * (tile + gap)
        big = image.convert("RGBA").resize((tile, tile), Image.Resampling.NEAREST)
        sheet.paste(big, (gap, top), big)
        draw.text((tile + 2 * gap, top), name, fill="#000000", font=font)
        for slot, (attribute, said, seen) in enumerate(pairs[:4]):
            left = tile + 2 * gap + slot * (2 * swatch + 150)
            draw.text((left, top + 16), attribute, fill="#000000", font=font)
            for offset, colour in ((0, said), (swatch + 2, seen)):
                box = (left + offset, top + 32, left + offset + swatch, top + 32 + swatch)
                fill = colour if isinstance(colour, str) else "#ffffff"  # none seen: blank
                draw.rectangle(box, fill=fill, outline="#000000")
            draw.text((left, top + 36 + swatch), "said / seen", fill="#555555", font=font)
    return sheet
