"""Turn any rendering of a pixel-art portrait back into its exact cell grid.

A model trained at 768 or 1024 px draws each 24x24 cell as a blurred, noisy block whose
pitch need not be a whole number of pixels (1024 / 24 = 42.67) and whose grid need not
start at the image corner. Off-the-shelf pixel-art "unfakers" handle integer scales or
misread such pitches, so the estimator is our own and small:

1. pitch and phase per axis from the periodicity of two features, edges and kinks (see
   `_cell_centres`), one Fourier coefficient per candidate pitch near side / size;
2. each cell's colour is the per-channel median of the middle half of the cell: the
   median ignores the blurred rim, JPEG ringing and noise clipped at 0 or 255;
3. cells whose colours differ by no more than the noise are one colour, settled on the
   median of its cells (see `_settle`), or each cell snaps to a given palette.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart.colors import hex_to_rgb, rgb_to_lab

#: Colours closer than this (CIE76) look the same: the tolerance within which a pixel of a
#: rendering agrees with its snapped cell (see `grid_cleanliness` and dataset.images).
MERGE_DELTA_E = 6.0
#: Cells within this many noise deviations (Euclidean, RGB) are one colour: a cell strays
#: this far from its true colour once in a thousand.
MERGE_SIGMAS = 4.0
#: A cell further than this from every palette color keeps its own color, so a wrong color
#: is never "corrected" into a right one.
PALETTE_DELTA_E = 12.0
_PITCH_RANGE = 0.15  # the grid may be this much smaller or larger than image side / size
_WINDOW = 0.6  # share of the pitch sampled across the middle of a flat cell, clear of its rim
_CENTRE = 0.1  # ... across the middle of a cell that a resampling filter left a slope
_FLAT = 0.2  # share of the colour change that may fall in the middle of a flat cell
_BINS = 20  # steps across a cell in which its colour change is told apart
_SAMPLES = 25  # samples per cell and axis (odd: a median is one of them); more cost time
_LINES = 96  # lines sampled across the image: cell edges are long, a few per cell suffice
_EDGES = 0.2  # coherence above which edges are trusted: a bilinear ramp has them all over
_PERIODIC = 0.5  # coherence above which kinks are trusted over the image frame
_NOMINAL = 0.95  # the pitch side / size stands unless another is this much less periodic
_OFF_NOMINAL = 0.7  # ... and this periodic: ringing (lanczos) fakes a weaker period
_CHI2_MEDIAN = 0.4549  # the median of a squared standard Gaussian
_CLIPPED = 1 / 32  # share of samples at 0 or 255 beyond which a mean is biased
_SHIFTS = 2  # mean-shift steps from a seed cell to the colour it belongs to
_NEIGHBOURS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
#: The median, over a 24x24 field of unit Gaussian noise in 3 channels, of each pixel's
#: squared distance to its nearest of its 8 neighbours (simulated: 1.19 +/- 0.08).
_NEAREST_NEIGHBOUR_MEDIAN = 1.19


def snap_to_grid(
    image: Image.Image, size: int = 24, palette: list[str] | None = None
) -> Image.Image:
    """A size x size RGB image with one exact color per cell.

    Without `palette` each colour is the noise-free estimate of its cells; with it (hex
    colors, e.g. every color of the training set) each cell snaps to its perceptually
    nearest palette color.
    """
    rgb = np.asarray(image if image.mode == "RGB" else image.convert("RGB"))
    if rgb.shape[:2] == (size, size):
        # one noisy pixel per cell: a palette tells close shades apart better than merging
        # by the noise can, so with one each pixel goes to its nearest palette colour
        settled = rgb.reshape(-1, 3) if palette is not None else _settle(_pixel_cells(rgb))
    else:
        settled = _settle(_sample_cells(rgb, size))
    if palette is not None:
        settled = _to_palette(settled, np.array([hex_to_rgb(c) for c in palette], np.uint8))
    return Image.fromarray(settled.reshape(size, size, 3), "RGB")


def grid_cleanliness(raw: Image.Image, snapped: Image.Image, max_delta_e: float) -> float:
    """Share of the raw image's pixels within `max_delta_e` of their cell's snapped color:
    1.0 is flat cells with hard edges, lower means gradients, anti-aliasing or noise."""
    rgb = np.asarray(raw.convert("RGB"))
    target = np.asarray(snapped.resize(raw.size, Image.Resampling.NEAREST).convert("RGB"))
    # each distinct (raw, snapped) pair once, as one integer: np.unique over six columns
    # (axis=0) took 2.2 s on a 1024 px render (Replicate's size), over one 0.07 s
    pairs = _colour_keys(rgb) << np.uint64(24) | _colour_keys(target)
    unique, inverse = np.unique(pairs.reshape(-1), return_inverse=True)
    raw_colours = _key_colours(unique >> np.uint64(24))
    snapped_colours = _key_colours(unique & np.uint64(0xFFFFFF))
    distance = np.linalg.norm(rgb_to_lab(raw_colours) - rgb_to_lab(snapped_colours), axis=1)
    return float((distance[inverse.reshape(-1)] <= max_delta_e).mean())


def _colour_keys(rgb: np.ndarray) -> np.ndarray:
    """0xRRGGBB per pixel."""
    rgb = rgb.astype(np.uint64)
    return rgb[..., 0] << np.uint64(16) | rgb[..., 1] << np.uint64(8) | rgb[..., 2]


def _key_colours(keys: np.ndarray) -> np.ndarray:
    shifts = np.array([16, 8, 0], np.uint64)
    return (keys[:, None] >> shifts & np.uint64(255)).astype(np.uint8)


class _Cells(NamedTuple):
    """What the middle of each cell shows, and how noisy that is."""

    means: np.ndarray  # (cells, 3): precise, but biased where noise was clipped
    medians: np.ndarray  # (cells, 3): where noise was clipped, the median, never biased
    clipped: np.ndarray  # (cells, 3): more than _CLIPPED of the samples at 0 or 255
    samples: np.ndarray  # (cells, 3, samples)
    noise: float  # standard deviation of a mean around the cell's true colour


def _sample_cells(rgb: np.ndarray, size: int) -> _Cells:
    """_SAMPLES x _SAMPLES samples across the flat middle of each cell (see
    `_cell_centres`), clear of its blurred rim.

    A cell's colour is their mean; in a channel where noise was clipped at 0 or 255 (more
    than `_CLIPPED` of the samples there) the mean is biased (black reads as 2), and the
    median, which clipping leaves alone, is taken instead. The noise is read from the
    cells themselves: the middle of a cell is one flat colour, so its halves (top and
    bottom, left and right) differ by noise alone, the noise of neighbourhoods of pixels,
    as JPEG leaves it, not only that of single pixels.
    """

    def window(axis: _Axis, length: int) -> np.ndarray:
        """_SAMPLES pixel indices across the flat middle of each cell, within the image
        (a border cell the frame cuts is sampled across what is left of its middle)."""
        half = axis.window * axis.pitch / 2
        low = np.clip(axis.centres - half, 0, length - 1)
        high = np.clip(axis.centres + half, 0, length - 1)
        spots = low[:, None] + (high - low)[:, None] * np.linspace(0, 1, _SAMPLES)
        return np.floor(spots).astype(np.intp).ravel()

    rows, cols = _cell_centres(rgb, 0, size), _cell_centres(rgb, 1, size)
    grid = rgb[window(rows, rgb.shape[0])][:, window(cols, rgb.shape[1])]
    square = grid.reshape(size, _SAMPLES, size, _SAMPLES, 3).transpose(0, 2, 4, 1, 3)
    square = square.reshape(size * size, 3, _SAMPLES, _SAMPLES)  # (cells, 3, y, x)
    samples = square.reshape(size * size, 3, -1)
    means = samples.mean(axis=2)
    clipped = ((samples == 0) | (samples == 255)).mean(axis=2) > _CLIPPED
    medians = means.copy()
    medians[clipped] = np.median(samples[clipped], axis=1)

    h = _SAMPLES // 2
    by_row, by_col = square.mean(axis=3), square.mean(axis=2)  # (cells, 3, _SAMPLES)
    top, bottom, left, right = (
        half.mean(axis=2)
        for half in (by_row[..., :h], by_row[..., -h:], by_col[..., :h], by_col[..., -h:])
    )
    free = ~clipped if not clipped.all() else np.ones_like(clipped)  # clipping hides noise
    differences = np.concatenate([(top - bottom)[free], (left - right)[free]])
    # two halves of n / 2 samples differ by twice the standard error of the n-sample mean
    noise = np.sqrt(np.median(differences**2) / _CHI2_MEDIAN) / 2
    return _Cells(means, medians, clipped, samples, float(noise))


def _pixel_cells(rgb: np.ndarray) -> _Cells:
    """One pixel per cell, as the embedded model draws: no cell has a middle to read its
    noise from, so it is read from each pixel's nearest neighbour in colour. In a rendering
    nearly every pixel has a neighbour of its own colour, off by noise alone; in exact art,
    checkered and dithered patterns included, it has one identical (a diagonal one at
    least), so the noise is 0 there and every drawn colour stays."""
    values = rgb.astype(np.float64)
    height, width = values.shape[:2]
    padded = np.pad(values, ((1, 1), (1, 1), (0, 0)), constant_values=np.nan)
    nearest = np.full((height, width), np.inf)
    for dy, dx in _NEIGHBOURS:
        other = padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        nearest = np.fmin(nearest, ((values - other) ** 2).sum(axis=2))  # NaN off the frame
    noise = np.sqrt(np.median(nearest) / _NEAREST_NEIGHBOUR_MEDIAN)
    colors = rgb.reshape(-1, 3)
    clipped = (colors == 0) | (colors == 255)
    return _Cells(
        values.reshape(-1, 3), values.reshape(-1, 3), clipped, colors[..., None], float(noise)
    )


class _Axis(NamedTuple):
    centres: np.ndarray  # (size,) in pixels, 0.0 = the image's first edge
    pitch: float
    window: float  # share of the pitch that is flat across the middle of a cell


def _cell_centres(rgb: np.ndarray, axis: int, size: int) -> _Axis:
    """Where the `size` cells sit along one axis, and how wide their flat middle is.

    Two detectors each give a pitch, a phase and how periodic the image is at that pitch
    (1.0 = every feature on the grid): edges (colour change) sit on cell boundaries, as
    after nearest-neighbour or blurred rendering; kinks (curvature) sit on cell centres,
    as after bilinear resizing, whose linear ramps change colour evenly all across the
    cell. Each profile loses its median first, the level that noise gives every
    position. Edges win when periodic at all (ramps have them everywhere), then kinks;
    when neither is, the grid is taken to span the image exactly.

    The middle `_WINDOW` of a cell is flat when the image has edges that stand clear of
    its noise and little of them (at most `_FLAT`) falls there, as in a rendering of
    blocks, blurred or not; after a resampling filter (bilinear, bicubic, lanczos) it is
    not, and only the middle `_CENTRE` of the cell, where such a filter passes through
    the cell's colour, is sampled.
    """
    along = rgb if axis == 1 else rgb.transpose(1, 0, 2)  # (lines, length, 3)
    lines, length = along.shape[:2]
    signal = along[:: max(1, lines // _LINES)].astype(np.int16, order="C")
    nominal = length / size

    middle = length / 2  # phases are measured from here, where a pitch error moves least
    change = np.abs(np.diff(signal, axis=1)).sum(axis=0).sum(axis=1)
    edges = _periodicity(_above_floor(change), np.arange(1, length) - middle, nominal)

    lag = max(1, round(nominal / 4))
    bend = signal[:, 2 * lag :] - 2 * signal[:, lag:-lag] + signal[:, : -2 * lag]
    curvature = np.abs(bend).sum(axis=0).sum(axis=1)
    positions = np.arange(len(curvature)) + lag + 0.5 - middle
    kinks = _periodicity(_above_floor(curvature), positions, nominal)

    if edges[2] >= _EDGES:
        pitch, centre = edges[0], edges[1] + edges[0] / 2
    elif kinks[2] >= _PERIODIC:
        pitch, centre = kinks[0], kinks[1]
    else:
        pitch, centre = nominal, (nominal / 2) * (1 - size % 2)  # spans the frame
    # cell centres sit at middle + centre + k * pitch: take the size of them around middle
    first = np.round(-centre / pitch - (size - 1) / 2)
    centres = middle + centre + (first + np.arange(size)) * pitch

    # the colour change across one cell, averaged over all (-0.5 and 0.5 are its edges),
    # less its least, what noise adds everywhere
    bins = max(2, min(_BINS, int(pitch)))
    across = ((np.arange(1, length) - centres[0]) / pitch + 0.5) % 1  # 0.5: the centre
    where = np.minimum((across * bins).astype(np.intp), bins - 1)
    folded = np.bincount(where, change, bins) / np.maximum(np.bincount(where, None, bins), 1)
    folded -= folded.min()
    middle_bins = np.abs((np.arange(bins) + 0.5) / bins - 0.5) < _WINDOW / 2
    flat = folded.sum() > 0 and folded[middle_bins].sum() <= _FLAT * folded.sum()
    return _Axis(centres, pitch, _WINDOW if flat else _CENTRE)


def _above_floor(profile: np.ndarray) -> np.ndarray:
    """The profile less its median (what noise gives every position), squared so that
    the strong features weigh most."""
    profile = profile.astype(np.float64)
    return np.clip(profile - np.median(profile), 0, None) ** 2


def _periodicity(
    weights: np.ndarray, positions: np.ndarray, nominal: float
) -> tuple[float, float, float]:
    """(pitch, phase, coherence) of the strongest period near `nominal`: a spike sits at
    phase + k * pitch; coherence is 1.0 when every weight sits on that lattice. The
    nominal pitch stands unless another one is periodic and clearly more so."""
    keep = weights > weights.max() * 1e-3  # the rest weigh too little to matter
    weights, positions = weights[keep], positions[keep]
    total = weights.sum()
    if total == 0:
        return nominal, 0.0, 0.0

    def response(pitches: np.ndarray) -> np.ndarray:
        return np.exp(-2j * np.pi * positions[None, :] / pitches[:, None]) @ weights

    best = nominal
    for span, count in ((_PITCH_RANGE, 31), (_PITCH_RANGE / 15, 21), (_PITCH_RANGE / 150, 11)):
        pitches = best * np.linspace(1 - span, 1 + span, count)
        best = float(pitches[np.argmax(np.abs(response(pitches)))])
    at_best, at_nominal = response(np.array([best, nominal]))
    if np.abs(at_best) < max(_OFF_NOMINAL * total, np.abs(at_nominal) / _NOMINAL):
        best, at_best = nominal, at_nominal
    phase = (-np.angle(at_best) / (2 * np.pi) * best) % best
    return best, float(phase), float(np.abs(at_best) / total)


def _settle(cells: _Cells) -> np.ndarray:
    """(n, 3) uint8: cells whose colours agree within the noise become one colour.

    Greedy, most-supported first: the free cell with the most others within reach
    (MERGE_SIGMAS * noise) of its mean gathers them, shifting to the mean of what it
    gathered (`_SHIFTS` times) so that it settles on the colour it belongs to rather than
    between two close shades. Then each cell moves to its likeliest colour, given how
    common each is and how far it is in noise deviations, so that the first colours do
    not keep the cells of a close shade that they gathered. A colour is the mean of its
    cells' means, rounded, or in a channel where noise was clipped the median of their
    samples. Close shades drawn on purpose (a gradient's steps, dither tones) stay apart
    as long as the noise lets them be told apart; at noise 0 only identical colours merge.
    """
    means, noise = cells.means, cells.noise
    reach2 = (MERGE_SIGMAS * noise) ** 2 + 1e-9
    lengths2 = (means**2).sum(axis=1)
    near = lengths2[:, None] + lengths2[None] - 2 * means @ means.T <= reach2
    support = near.sum(axis=1)
    labels = np.full(len(means), -1)
    centres: list[np.ndarray] = []
    free = np.ones(len(means), bool)
    while free.any():
        seed = int(np.argmax(np.where(free, support, 0)))
        if support[seed] == 1:  # no free cell has another within reach: each is a colour
            labels[free] = len(centres) + np.arange(free.sum())
            centres.extend(means[free])
            break
        members = free & near[seed]
        for _ in range(_SHIFTS):
            centre = means[members].mean(axis=0)
            members = free & (((means - centre) ** 2).sum(axis=1) <= reach2)
            members[seed] = True
        labels[members] = len(centres)
        centres.append(means[members].mean(axis=0))
        support -= near[members].sum(axis=0)  # near is symmetric: rows are quicker
        free &= ~members
    # the likeliest colour for each cell: as common as it is, as near as the noise says
    centre = np.array(centres)
    spread = lengths2[:, None] + (centre**2).sum(axis=1)[None] - 2 * means @ centre.T
    labels = (np.log(np.bincount(labels))[None] - spread / (2 * noise**2 + 1e-12)).argmax(axis=1)

    counts = np.bincount(labels)
    colors = np.stack([np.bincount(labels, means[:, c]) for c in range(3)], axis=1)
    colors = colors[labels] / counts[labels, None]
    clipped = np.stack([np.bincount(labels, cells.clipped[:, c]) for c in range(3)], axis=1)
    colors = np.where(clipped[labels] > 0, cells.medians, colors)  # right for cells alone
    for label, channel in np.argwhere((clipped > 0) & (counts[:, None] > 1)):
        members = labels == label
        colors[members, channel] = np.median(cells.samples[members, channel])
    return np.round(colors).astype(np.uint8)


def _to_palette(colors: np.ndarray, palette: np.ndarray) -> np.ndarray:
    distances = np.linalg.norm(rgb_to_lab(colors)[:, None] - rgb_to_lab(palette)[None], axis=2)
    nearest = distances.argmin(axis=1)
    close = distances[np.arange(len(colors)), nearest] <= PALETTE_DELTA_E
    return np.where(close[:, None], palette[nearest], colors)
