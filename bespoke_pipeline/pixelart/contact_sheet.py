"""A grid of portraits for people to look at (Dagster metadata, MLflow, README)."""

from __future__ import annotations

import base64
import io
import math
from collections.abc import Sequence

from PIL import Image

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
