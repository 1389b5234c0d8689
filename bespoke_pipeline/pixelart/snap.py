"""Turn any rendering of a pixel-art portrait back into its exact cell grid.

A model trained at 768 or 1024 px draws each 24x24 cell as a blurred, anti-aliased block
whose pitch need not be a whole number of pixels (1024 / 24 = 42.67). Off-the-shelf
pixel-art "unfakers" handle integer scales or misread such pitches, so the estimator is
our own and small (about 15 ms for a 1024 px image):

1. pitch and phase per axis from the periodicity of two features, hard edges and kinks
   (see `_cell_centres`), one Fourier coefficient per candidate pitch near side / size;
2. each cell's color is the per-channel median of the middle of the cell;
3. near-identical colors are merged onto the one most cells share (interior cells of a
   flat region are exact), or snapped to a given palette by perceptual distance.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart.colors import hex_to_rgb, rgb_to_lab

#: Colors closer than this (CIE76) are one color smeared by resampling or JPEG noise; the
#: closest two colors of the shared vocabulary are 10 apart.
MERGE_DELTA_E = 6.0
#: A cell further than this from every palette color keeps its own color, so a wrong color
#: is never "corrected" into a right one.
PALETTE_DELTA_E = 12.0
_PITCH_RANGE = 0.15  # the grid may be this much smaller or larger than image side / size
_CENTRE = 0.05  # half-width of the sampled middle of a cell, as a share of the pitch
_LINES = 96  # lines sampled across the image: cell edges are long, a few per cell suffice
_PERIODIC = 0.5  # coherence above which a detected grid is trusted over the image frame
_MEANT_CELLS = 2  # a colour on this many cells is kept as drawn, never merged away


def snap_to_grid(
    image: Image.Image, size: int = 24, palette: list[str] | None = None
) -> Image.Image:
    """A size x size RGB image with one exact color per cell.

    `palette` (hex colors, e.g. every color of the training set) snaps each cell to its
    perceptually nearest palette color; without it, near-identical colors are merged.
    """
    rgb = np.asarray(image.convert("RGB"))
    if rgb.shape[:2] == (size, size):  # one pixel per cell: only the colours to settle
        cells, uniform = rgb, np.zeros((size, size), bool)
    else:
        cells, uniform = _sample_cells(rgb, size)
    flat = cells.reshape(-1, 3)
    colors, inverse, counts = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    if palette is None:
        # a colour drawn on a flat cell, or on several cells, was meant (a dither tone, a
        # gradient's step); one seen once in a blurred or noisy rendering was not
        exact = counts >= _MEANT_CELLS
        exact[np.unique(inverse.reshape(-1)[uniform.reshape(-1)])] = True
        snapped = _merge_near(colors, counts, exact)
    else:
        snapped = _to_palette(colors, np.array([hex_to_rgb(c) for c in palette], np.uint8))
    return Image.fromarray(snapped[inverse.reshape(-1)].reshape(size, size, 3), "RGB")


def grid_cleanliness(raw: Image.Image, snapped: Image.Image, max_delta_e: float) -> float:
    """Share of the raw image's pixels within `max_delta_e` of their cell's snapped color:
    1.0 is flat cells with hard edges, lower means gradients, anti-aliasing or noise."""
    rgb = np.asarray(raw.convert("RGB"))
    target = np.asarray(snapped.resize(raw.size, Image.Resampling.NEAREST).convert("RGB"))
    pairs = np.concatenate([rgb.reshape(-1, 3), target.reshape(-1, 3)], axis=1)
    unique, inverse = np.unique(pairs, axis=0, return_inverse=True)
    distance = np.linalg.norm(rgb_to_lab(unique[:, :3]) - rgb_to_lab(unique[:, 3:]), axis=1)
    return float((distance[inverse.reshape(-1)] <= max_delta_e).mean())


def _sample_cells(rgb: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Each cell's colour (the median of its middle) and whether that middle is one exact
    colour (a flat cell, as after a nearest-neighbour upscale)."""
    rows = _cell_centres(rgb, 0, size)
    cols = _cell_centres(rgb, 1, size)
    half = max(0, int(min(rgb.shape[:2]) / size * _CENTRE))
    offsets = np.arange(-half, half + 1)
    ys = np.clip(rows[:, None] + offsets, 0, rgb.shape[0] - 1)  # (size, window)
    xs = np.clip(cols[:, None] + offsets, 0, rgb.shape[1] - 1)
    patches = rgb[ys[:, None, :, None], xs[None, :, None, :]].reshape(size, size, -1, 3)
    median = np.median(patches, axis=2)
    uniform = (patches == patches[:, :, :1]).all(axis=(2, 3))
    return np.round(median).astype(np.uint8), uniform


def _cell_centres(rgb: np.ndarray, axis: int, size: int) -> np.ndarray:
    """Pixel index nearest each of `size` cell centres along one axis.

    Two detectors each give a pitch, a phase and how periodic the image is at that pitch
    (1.0 = every feature on the grid): hard edges (local maxima of the color change) sit on
    cell boundaries, as after nearest-neighbour resizing; kinks (curvature) sit on cell
    centres, as after bilinear resizing, whose linear ramps have no edges to find. The more
    periodic one wins; when neither is clearly periodic (band-limited filters such as
    lanczos smear both), the grid is taken to span the image exactly.
    """
    along = rgb if axis == 1 else rgb.transpose(1, 0, 2)  # (lines, length, 3)
    lines, length = along.shape[:2]
    signal = along[:: max(1, lines // _LINES)].astype(np.int16)
    nominal = length / size

    change = np.abs(np.diff(signal, axis=1)).sum(axis=(0, 2)).astype(np.float64)
    peaks = np.zeros_like(change)
    is_peak = (change[1:-1] >= change[:-2]) & (change[1:-1] > change[2:])
    peaks[1:-1] = np.where(is_peak, change[1:-1], 0.0) ** 2
    edges = _periodicity(peaks, np.arange(1, len(peaks) + 1.0), nominal)

    lag = max(1, round(nominal / 4))
    bend = signal[:, 2 * lag :] - 2 * signal[:, lag:-lag] + signal[:, : -2 * lag]
    curvature = np.abs(bend).sum(axis=(0, 2)).astype(np.float64)
    kinks = _periodicity(curvature, np.arange(len(curvature)) + lag + 0.5, nominal)

    if kinks[2] >= _PERIODIC and kinks[2] > edges[2]:
        pitch, first_centre = kinks[0], kinks[1]
    elif edges[2] >= _PERIODIC:
        pitch, first_centre = edges[0], edges[1] + edges[0] / 2
    else:
        pitch, first_centre = nominal, nominal / 2
    margin = (length - size * pitch) / 2  # the grid sits centred in the image
    start = first_centre + pitch * np.round((margin + pitch / 2 - first_centre) / pitch)
    centres = start + np.arange(size) * pitch
    return np.clip(np.floor(centres), 0, length - 1).astype(np.intp)


def _periodicity(
    weights: np.ndarray, positions: np.ndarray, nominal: float
) -> tuple[float, float, float]:
    """(pitch, phase, coherence) of the strongest period near `nominal`: a spike sits at
    phase + k * pitch; coherence is 1.0 when every weight sits on that lattice."""
    total = weights.sum()
    if total == 0:
        return nominal, 0.0, 0.0
    best = nominal
    for span, count in ((_PITCH_RANGE, 31), (_PITCH_RANGE / 15, 21), (_PITCH_RANGE / 150, 11)):
        pitches = best * np.linspace(1 - span, 1 + span, count)
        phases = np.exp(-2j * np.pi * positions[None, :] / pitches[:, None])
        best = float(pitches[np.argmax(np.abs(phases @ weights))])
    response = (weights * np.exp(-2j * np.pi * positions / best)).sum()
    phase = (-np.angle(response) / (2 * np.pi) * best) % best
    return best, float(phase), float(np.abs(response) / total)


def _merge_near(colors: np.ndarray, counts: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """Each colour becomes the most common colour within MERGE_DELTA_E of it (greedy: the
    colours of flat cells first, then the most common), so smeared copies of a colour
    collapse onto its exact value while close shades drawn on purpose (dithering, a
    gradient's steps) keep theirs."""
    lab = rgb_to_lab(colors)
    order = np.lexsort((-counts, ~exact))
    keep: list[int] = []
    result = colors.copy()
    for index in order:
        if keep and not exact[index]:
            distances = np.linalg.norm(lab[keep] - lab[index], axis=1)
            nearest = int(np.argmin(distances))
            if distances[nearest] <= MERGE_DELTA_E:
                result[index] = colors[keep[nearest]]
                continue
        keep.append(int(index))
    return result


def _to_palette(colors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    distances = np.linalg.norm(rgb_to_lab(colors)[:, None] - rgb_to_lab(palette)[None], axis=2)
    nearest = distances.argmin(axis=1)
    close = distances[np.arange(len(colors)), nearest] <= PALETTE_DELTA_E
    return np.where(close[:, None], palette[nearest], colors)
