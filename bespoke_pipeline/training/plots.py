"""Pictures people would rather look at than read: a run's loss curve, its samples per
epoch, its quality over epochs beside the loss, and the effects of settings with their
intervals."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib
import pandas as pd

matplotlib.use("Agg")  # files only, never a window
import matplotlib.pyplot as plt  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402


def loss_curve(steps: Sequence[int], losses: Sequence[float], title: str) -> Image.Image:
    figure, axis = plt.subplots(figsize=(6, 3.2), dpi=100)
    axis.plot(steps, losses, linewidth=1)
    axis.set(xlabel="step", ylabel="loss", title=title)
    axis.grid(alpha=0.3)
    return _image(figure)


def quality_over_epochs(
    scores: pd.DataFrame, losses: dict[int, float], metrics: Sequence[str], title: str
) -> Image.Image:
    """The composite with its 95% interval and the main metrics per epoch (0 = the base
    model), beside the mean training loss of each epoch (none for checkpoints trained
    elsewhere): where quality stops following the loss is where training should stop."""
    figure, (quality, loss) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=100)
    epochs = scores["epoch"]
    quality.fill_between(
        epochs,
        scores["composite"] - scores["composite_ci"],
        scores["composite"] + scores["composite_ci"],
        alpha=0.2,
    )
    quality.plot(epochs, scores["composite"], linewidth=2.2, label="composite")
    for metric in metrics:
        if metric in scores and scores[metric].notna().any():
            quality.plot(epochs, scores[metric], linewidth=0.9, alpha=0.8, label=metric)
    quality.set(xlabel="epoch", ylabel="score", ylim=(0, 1), title=title)
    quality.legend(fontsize=7, loc="lower right", ncols=2)
    loss.plot(list(losses), list(losses.values()), marker="o", linewidth=1)
    loss.set(xlabel="epoch", ylabel="mean loss", title="training loss")
    loss.set_xlim(quality.get_xlim())
    for axis in (quality, loss):
        axis.grid(alpha=0.3)
    return _image(figure)


def effects_chart(effects: pd.DataFrame) -> Image.Image:
    """One panel per metric; a bar per setting change with its 95% interval, in colour
    where it is beyond the noise, grey where it is not, hatched where unpaired."""
    metrics = list(dict.fromkeys(effects["metric"]))
    changes = list(
        dict.fromkeys(f"{r.setting} {r.from_value} -> {r.to_value}" for r in effects.itertuples())
    )
    columns = min(4, len(metrics))
    rows = -(-len(metrics) // columns)
    height = 0.8 + 0.28 * len(changes)
    figure, axes = plt.subplots(
        rows, columns, figsize=(3.2 * columns + 2.6, height * rows), dpi=90, squeeze=False
    )
    for axis, metric in zip(axes.flat, metrics, strict=False):
        shown = effects[effects["metric"] == metric]
        for row in shown.itertuples():
            y = changes.index(f"{row.setting} {row.from_value} -> {row.to_value}")
            axis.barh(
                y,
                row.effect,
                xerr=row.interval,
                color="tab:blue" if row.beyond_noise else "lightgrey",
                hatch="" if row.paired else "//",
                edgecolor="grey",
                capsize=2,
            )
        axis.axvline(0, color="black", linewidth=0.8)
        axis.set_title(metric, fontsize=9)
        axis.set_yticks(range(len(changes)), changes if axis in axes[:, 0] else [], fontsize=8)
        axis.invert_yaxis()
        axis.grid(axis="x", alpha=0.3)
    for axis in list(axes.flat)[len(metrics) :]:
        axis.axis("off")
    return _image(figure)


def _image(figure: plt.Figure) -> Image.Image:
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
