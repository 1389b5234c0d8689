"""`bespoke bench snap`: how well and how fast `snap_to_grid` recovers 24x24 art from
renderings like a generator's, as figures, next to a naive cell-centre sampler.

An SDXL or FLUX LoRA does not draw a clean nearest-neighbour upscale: its cells sit off the
image frame by a fraction of a cell, at a pitch that is not a whole number of pixels
(1024 / 24 = 42.67), with soft edges and noise, and the file is often a JPEG. `render`
makes such an image from a known portrait, so the snapped result can be compared cell by
cell with the art; the tests use the same renderings. Art is also upscaled with a
resampling filter (bilinear, bicubic, lanczos: what image libraries, and users, apply),
which leaves no flat middle in a cell at all; `resampled` draws that, with the same blur,
noise and JPEG.

What "right" means when the grid is off phase: the grid is shifted by less than half a cell,
so every one of the 24 x 24 cells keeps more than half of its area inside the frame (the
border ones are cut); the strip the shift uncovers on the other side shows the cells from
the opposite border (the art wraps around), which is not the background colour, so a
snapper that takes that strip for a cell is wrong. The truth is the whole 24x24 art.
"""

from __future__ import annotations

import io
import itertools
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from scipy import ndimage

from bespoke_pipeline.pixelart.colors import delta_e_2000, rgb_to_lab
from bespoke_pipeline.pixelart.snap import snap_to_grid
from bespoke_pipeline.pixelart.synth import synth_portraits

#: How a LoRA draws a portrait: the grid off the frame by a quarter to 0.4 of a cell (shift
#: in cells per axis), soft edges (blur, px at 1024) and noise (0-255 scale).
STYLES = [
    ((1 / 3, 1 / 3), 0.5, 3.0),
    ((-0.3, 0.4), 1.0, 4.5),
    ((0.4, -1 / 3), 1.5, 6.0),
    ((0.25, -0.4), 1.0, 6.0),
]
SIDES = (512, 768, 1024)
JPEG_QUALITIES = (75, 80, 85)
#: How the art becomes an image: "box" is `render` (each cell a square, off phase), the rest
#: are PIL upscales with that resampling filter (`resampled`).
RESAMPLINGS = {
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
}
RENDERINGS = ("box", *RESAMPLINGS)
#: CIEDE2000 below which two colours cannot be told apart by a viewer (JPEG moves most
#: colours by a unit or two in a channel, so exact cells cannot be asked of a JPEG).
UNSEEN_DELTA_E = 2.0


def render(
    art: Image.Image,
    side: int,
    shift: tuple[float, float] = (1 / 3, 1 / 3),
    blur: float = 1.0,
    noise: float = 4.0,
    quality: int | None = 80,
    seed: int = 0,
) -> Image.Image:
    """`art` drawn at `side` px with its grid lines at (k + shift) * side / cells.

    Each pixel is the area-weighted mix of the cells it covers (an exact box rendering of
    squares at a fractional pitch), then Gaussian blur (`blur` px at 1024 px, scaled with
    the side), additive Gaussian noise of `noise` (0-255 scale) and JPEG at `quality`.
    """
    cells = np.asarray(art.convert("RGB"), np.float32)
    rows = _coverage(side, cells.shape[0], shift[0]).astype(np.float32)
    cols = _coverage(side, cells.shape[1], shift[1]).astype(np.float32)
    image = np.stack([rows @ cells[..., c] @ cols.T for c in range(3)], axis=2)
    return _soften(image, side, blur, noise, quality, seed)


def resampled(
    art: Image.Image,
    side: int,
    resample: Image.Resampling,
    blur: float = 1.0,
    noise: float = 4.0,
    quality: int | None = 80,
    seed: int = 0,
) -> Image.Image:
    """`art` upscaled to `side` px by PIL with `resample` (in 8 bits, as PIL does: a filter's
    overshoot past 0 or 255 is clipped), then blur, noise and JPEG as in `render`."""
    image = np.asarray(art.convert("RGB").resize((side, side), resample), np.float32)
    return _soften(image, side, blur, noise, quality, seed)


def _soften(
    image: np.ndarray, side: int, blur: float, noise: float, quality: int | None, seed: int
) -> Image.Image:
    """Gaussian blur (`blur` px at 1024 px), additive noise and JPEG at `quality`."""
    sigma = blur * side / 1024
    if sigma > 0:
        image = ndimage.gaussian_filter(image, (sigma, sigma, 0))
    image += noise * np.random.default_rng(seed).standard_normal(image.shape, np.float32)
    rendered = Image.fromarray(np.clip(np.round(image), 0, 255).astype(np.uint8), "RGB")
    if quality is None:
        return rendered
    buffer = io.BytesIO()
    rendered.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def generator_like(
    art: Image.Image, index: int, side: int, quality: int | None = None, rendering: str = "box"
) -> Image.Image:
    """The `index`-th of the generator-like styles, with its own noise: drawn as boxes off
    phase, or upscaled with one of `RESAMPLINGS` (its blur and noise, no shift)."""
    shift, blur, noise = STYLES[index % len(STYLES)]
    if rendering == "box":
        return render(art, side, shift, blur, noise, quality, seed=index + side)
    return resampled(art, side, RESAMPLINGS[rendering], blur, noise, quality, index + side)


def _coverage(side: int, cells: int, shift: float) -> np.ndarray:
    """(side, cells): the share of each pixel covered by each cell, the art wrapping
    around so that the strip uncovered by the shift shows the opposite border's cells."""
    pitch = side / cells
    pixels = np.arange(side)[:, None]
    index = np.arange(-1, cells + 1)[None, :]
    start = (index + shift) * pitch
    overlap = np.clip(np.minimum(pixels + 1, start + pitch) - np.maximum(pixels, start), 0, 1)
    weights = np.zeros((side, cells))
    np.add.at(weights.T, index[0] % cells, overlap.T)
    return weights


def exact_share(snapped: Image.Image, truth: Image.Image) -> float:
    """Share of cells whose RGB equals the art's exactly."""
    return float((np.asarray(snapped) == np.asarray(truth)).all(axis=2).mean())


def unseen_share(snapped: Image.Image, truth: Image.Image) -> float:
    """Share of cells within `UNSEEN_DELTA_E` of the art's colour."""
    a, b = (rgb_to_lab(np.asarray(i).reshape(-1, 3)) for i in (snapped, truth))
    return float((delta_e_2000(a, b) <= UNSEEN_DELTA_E).mean())


def arts_from(folder: Path | None, synthetic: int) -> dict[str, Image.Image]:
    """`synthetic` demo portraits, plus each PNG in `folder` that is a whole-number
    upscale of 24x24 art (the real bespoke files are 576 px), taken back to 24 px."""
    arts = {f"synth_{i}": image for i, (image, _) in enumerate(synth_portraits(synthetic, 7))}
    for path in sorted(folder.glob("*.png")) if folder else []:
        image = Image.open(path).convert("RGB")
        if image.width == image.height and image.width % 24 == 0:
            arts[path.stem] = image.resize((24, 24), Image.Resampling.NEAREST)
    return arts


def bench_snap(
    arts: dict[str, Image.Image], repeats: int = 3, renderings: tuple[str, ...] = RENDERINGS
) -> pd.DataFrame:
    """One row per rendering, side, encoding (PNG, JPEG) and method: the mean and worst
    share of exact cells and of cells within sight of the truth over `arts`, and the median
    time."""
    rows = []
    for drawn, side, jpeg in itertools.product(renderings, SIDES, (False, True)):
        scores: dict[str, list[tuple[float, float, float]]] = {"snap": [], "naive": []}
        for i, art in enumerate(arts.values()):
            quality = JPEG_QUALITIES[i % len(JPEG_QUALITIES)] if jpeg else None
            rendering = generator_like(art, i, side, quality, drawn)
            for method, recover in (
                ("snap", snap_to_grid),
                ("naive", lambda image: image.resize((24, 24), Image.Resampling.NEAREST)),
            ):
                timings = []
                for _ in range(repeats):
                    started = time.perf_counter()
                    snapped = recover(rendering)
                    timings.append((time.perf_counter() - started) * 1000)
                scores[method].append(
                    (exact_share(snapped, art), unseen_share(snapped, art), min(timings))
                )
        for method, figures in scores.items():
            exact, unseen, ms = (np.array(column) for column in zip(*figures, strict=True))
            rows.append(
                {
                    "rendering": drawn,
                    "side": side,
                    "file": "JPEG 75-85" if jpeg else "PNG",
                    "method": method,
                    "exact mean": exact.mean(),
                    "exact worst": exact.min(),
                    f"dE<={UNSEEN_DELTA_E:g} mean": unseen.mean(),
                    f"dE<={UNSEEN_DELTA_E:g} worst": unseen.min(),
                    "ms (median)": statistics.median(ms),
                }
            )
    return pd.DataFrame(rows)
