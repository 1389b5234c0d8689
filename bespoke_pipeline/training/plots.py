"""Pictures of a training run: the loss curve and the per-epoch sample grid."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def loss_curve(steps: Sequence[int], losses: Sequence[float], title: str) -> Image.Image:
    figure, axis = plt.subplots(figsize=(6, 3.2), dpi=100)
    axis.plot(steps, losses, linewidth=1)
    axis.set(xlabel="step", ylabel="loss", title=title)
    axis.grid(alpha=0.3)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def labelled_rows(rows: Sequence[tuple[str, Image.Image]], label_width: int = 72) -> Image.Image:
    """Stack sample rows (one per epoch) with a label to the left of each."""
    width = label_width + max(row.width for _, row in rows)
    height = sum(row.height for _, row in rows)
    grid = Image.new("RGB", (width, height), "#202020")
    draw = ImageDraw.Draw(grid)
    y = 0
    for label, row in rows:
        grid.paste(row, (label_width, y))
        draw.text((6, y + row.height // 2 - 6), label, fill="#e0e0e0")
        y += row.height
    return grid


def titled_columns(
    columns: Sequence[tuple[str, Image.Image]], title_height: int = 20
) -> Image.Image:
    """Images side by side, each under its title (two runs' grids on the same prompts)."""
    width = sum(image.width for _, image in columns)
    height = title_height + max(image.height for _, image in columns)
    sheet = Image.new("RGB", (width, height), "#202020")
    draw = ImageDraw.Draw(sheet)
    x = 0
    for title, image in columns:
        sheet.paste(image, (x, title_height))
        draw.text((x + 6, 4), title, fill="#e0e0e0")
        x += image.width
    return sheet
