"""Turn any rendering of a pixel-art portrait back into its exact cell grid.

A model trained at 768 or 1024 px draws each 24x24 cell as a blurred, noisy block whose
pitch need not be a whole number of pixels (1024 / 24 = 42.67) and whose grid need not
start at the image corner. Off-the-shelf pixel-art "unfakers" handle integer scales or
misread such pitches, so the estimator is our own and small:

1. pitch and phase per axis from the periodicity of two features, edges and kinks (see
   `_cell_centres`), one Fourier coefficient per candidate pitch near side / size;
2. where cells have a flat middle (blocks, blurred or not), each cell's colour is read
   there (see `_sample_cells`): the rim, JPEG ringing and noise clipped at 0 or 255 aside;
   where a bilinear upscale left none (every pixel mixes four cells), the image is fitted
   as the cells seen through that filter and a blur, the blur and the exact grid found
   from the image (see `_deconvolved_cells`);
3. cells whose colours differ by no more than the noise are one colour, settled on the
   median of its cells (see `_settle`), or each cell snaps to a given palette.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from PIL import Image
from scipy.ndimage import gaussian_filter1d
from scipy.optimize import minimize_scalar
from scipy.special import ndtr

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
_FIT_BINS = 4  # bins per cell the image is averaged into before a filter is fitted to it
_STEP = 1 / 64  # resolution, in cells, of the filter tables
_OFFSETS = np.arange(-4, 4 + _STEP / 2, _STEP)  # where the filter tables are known, in cells
_BLUR_GUESS = 0.02  # blur (in cells, as sigma) at which filters are told apart, grids refined
_BLUR_MAX = 0.1  # the most blur sought, in cells: more leaves nothing to tell cells by
_BLUR_TOLERANCE = 0.003  # in cells: 0.13 px at 1024 px, well within what moves a colour
_REFINE = 6  # most Gauss-Newton steps on each axis's phase and pitch under a bilinear fit
_SETTLED_PHASE = 0.01  # px: a step that moves the phase less ends the refinement
_REFINE_LIMIT = 0.1  # the most (in cells) a refinement may move a cell's centre
_CENSORED_STEPS = 4  # steps that undo the bias of noise clipped at 0 and 255 (`_unclipped`),
# half of them before the blur is sought, from the guess
_GAUSS = 1 / np.sqrt(2 * np.pi)


def _keys_cubic(x: np.ndarray, a: float = -0.5) -> np.ndarray:
    """The cubic convolution kernel of Keys (1981), a = -0.5 as PIL and most libraries."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1
    far = (((x - 5) * x + 8) * x - 4) * a
    return np.where(x < 1, near, np.where(x < 2, far, 0.0))


#: Upscaling filters as libraries apply them, in cells: each pixel is the mix of the cells
#: around it weighted by the filter at its offset from each cell's centre (weights summing
#: to 1). The one that explains an image best tells how it was drawn: box draws each cell
#: as a square, the others leave no flat middle in a cell.
_FILTERS = {
    "box": (np.abs(_OFFSETS) < 0.5) + 0.5 * (np.abs(_OFFSETS) == 0.5),
    "bilinear": np.maximum(0.0, 1 - np.abs(_OFFSETS)),
    "bicubic": _keys_cubic(_OFFSETS),
    "lanczos": np.where(np.abs(_OFFSETS) < 3, np.sinc(_OFFSETS) * np.sinc(_OFFSETS / 3), 0.0),
}


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
        settled = _settle(_read_cells(rgb, size))
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


def _read_cells(rgb: np.ndarray, size: int) -> _Cells:
    """Each cell's colour from the middle of the cell where it has a flat one, else from a
    fit of the resampling filter that left it none (see `_deconvolved_cells`)."""
    rows, cols = _cell_centres(rgb, 0, size), _cell_centres(rgb, 1, size)
    if _CENTRE in (rows.window, cols.window):
        cells = _deconvolved_cells(rgb, rows, cols)
        if cells is not None:
            return cells
    return _sample_cells(rgb, rows, cols)


def _sample_cells(rgb: np.ndarray, rows: _Axis, cols: _Axis) -> _Cells:
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

    size = len(rows.centres)
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
    kinks: _Axis | None = None  # the grid the kinks alone give, where they are periodic


def _cell_centres(rgb: np.ndarray, axis: int, size: int) -> _Axis:
    """Where the `size` cells sit along one axis, and how wide their flat middle is.

    Two detectors each give a pitch, a phase and how periodic the image is at that pitch
    (1.0 = every feature on the grid): edges (colour change) sit on cell boundaries, as
    after nearest-neighbour or blurred rendering; kinks (curvature) sit on cell centres,
    as after bilinear resizing, whose linear ramps change colour evenly all across the
    cell. Each profile loses its median first, the level that noise gives every
    position. Edges win when periodic at all (ramps have them everywhere), then kinks;
    when neither is, the grid is taken to span the image exactly. The kinks' own grid is
    kept too: once an image is known to be bilinear, it is the one to trust (a few
    bilinear images have edges just periodic enough to win, a few pixels off).

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
    centres = _placed(pitch, centre, middle, size)
    by_kinks = None
    if kinks[2] >= _PERIODIC:
        by_kinks = _Axis(_placed(kinks[0], kinks[1], middle, size), kinks[0], _CENTRE)

    # the colour change across one cell, averaged over all (-0.5 and 0.5 are its edges),
    # less its least, what noise adds everywhere
    bins = max(2, min(_BINS, int(pitch)))
    across = ((np.arange(1, length) - centres[0]) / pitch + 0.5) % 1  # 0.5: the centre
    where = np.minimum((across * bins).astype(np.intp), bins - 1)
    folded = np.bincount(where, change, bins) / np.maximum(np.bincount(where, None, bins), 1)
    folded -= folded.min()
    middle_bins = np.abs((np.arange(bins) + 0.5) / bins - 0.5) < _WINDOW / 2
    flat = folded.sum() > 0 and folded[middle_bins].sum() <= _FLAT * folded.sum()
    return _Axis(centres, pitch, _WINDOW if flat else _CENTRE, by_kinks)


def _placed(pitch: float, centre: float, middle: float, size: int) -> np.ndarray:
    """The `size` cell centres at middle + centre + k * pitch nearest `middle`."""
    first = np.round(-centre / pitch - (size - 1) / 2)
    return middle + centre + (first + np.arange(size)) * pitch


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


def _deconvolved_cells(rgb: np.ndarray, rows: _Axis, cols: _Axis) -> _Cells | None:
    """Each cell's colour from a least-squares fit of the image by the cells drawn through
    a bilinear filter and a Gaussian blur; None where another filter (`_FILTERS`) explains
    the image better.

    A bilinear upscale leaves no flat middle in a cell: each pixel mixes up to four cells,
    so the middle of a cell reads its colour plus a share of its neighbours' (a unit or
    more: 44% of the cells of real portraits came back exact at 768 px), and blur moves it
    further. The image is linear in the cells and separable, image = R cells C^T per
    channel, R and C the weights of each cell in each row and column, so the cells are the
    least-squares solution given R and C, each read from all its pixels. R and C follow
    from the grid, which the fit refines (`_refined_grid`: a phase a tenth of a pixel off
    moves a colour by a unit), and from the blur that leaves the least of the image once
    the bias of noise clipped at 0 and 255 is taken off (`_unclipped`; clipped noise
    rounds a black cell's V much as blur does). All of it runs on the image averaged into
    `_FIT_BINS` bins per cell and axis, exact for the model (a bin's weights are the filter
    averaged across the bin) and 25 to 100 times fewer values to multiply.

    Only bilinear is fitted. Blocks (box), blurred until no middle is flat, still peak flat
    at the centre, which `_sample_cells` reads, and it is immune to what the fit does not
    model (JPEG's halved colour resolution, a pixel's own area): fitting them lost cells.
    Bicubic and lanczos over- and undershoot next to strong edges and an 8-bit rendering
    clips that (PIL's upscale does), so the image is no longer linear in the cells and the
    fit read them worse than the cells' centres do.
    """
    pitch = (rows.pitch + cols.pitch) / 2
    scale = max(1, int(pitch / _FIT_BINS))
    binned = _binned(rgb, scale)  # (y, channel, x)

    def covered(rows: _Axis, cols: _Axis) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The bins the grid covers, and their centres in pixels: past it a frame may show
        anything (an off-phase rendering shows the opposite border's cells there)."""
        ys = np.arange(binned.shape[0]) * scale + scale / 2
        xs = np.arange(binned.shape[2]) * scale + scale / 2
        inside_y, inside_x = _covered(ys, rows), _covered(xs, cols)
        return binned[inside_y][:, :, inside_x], ys[inside_y], xs[inside_x]

    image, ys, xs = covered(rows, cols)

    def weights(name: str, blur: float, rows: _Axis, cols: _Axis) -> tuple[np.ndarray, ...]:
        table = _filter_table(name, blur, scale / pitch)
        return _weights(table, ys, rows), _weights(table, xs, cols)

    # each filter on the grid that won and on the kinks' own: a bilinear filter's kinks sit
    # on the cells' centres, where edges that won can be a quarter of a cell off
    kinked = (
        rows if rows.kinks is None else rows.kinks,
        cols if cols.kinks is None else cols.kinks,
    )
    grids = [(rows, cols)] if kinked[0] is rows and kinked[1] is cols else [(rows, cols), kinked]

    def left_unexplained(drawn: tuple[str, tuple[_Axis, _Axis]]) -> float:
        name, grid = drawn
        return _unexplained(image, *weights(name, _BLUR_GUESS, *grid))

    candidates = ((name, grid) for name in _FILTERS for grid in grids)
    name, (rows, cols) = min(candidates, key=left_unexplained)
    if name != "bilinear":
        return None
    image, ys, xs = covered(rows, cols)

    def blur_of(image: np.ndarray, low: float, high: float, tolerance: float) -> float:
        """The blur (in cells) under which the bilinear fit leaves the least of the image."""
        return minimize_scalar(
            lambda sigma: _unexplained(image, *weights("bilinear", sigma, rows, cols)),
            bounds=(low, high),
            method="bounded",
            options={"xatol": tolerance},
        ).x

    guess = _filter_table("bilinear", _BLUR_GUESS, scale / pitch)
    rows, cols = _refined_grid(image, guess, (ys, rows), (xs, cols))
    no_bias = np.zeros_like(image)
    R, C = weights("bilinear", _BLUR_GUESS, rows, cols)
    _, bias, _ = _unclipped(image, R, C, scale, no_bias, _CENSORED_STEPS // 2)
    # the blur is sought on the image with the bias of clipped noise taken off: noise
    # clipped at 0 rounds a black cell's V much as blur does
    blur = blur_of(image - bias, 0.0, _BLUR_MAX, _BLUR_TOLERANCE)
    R, C = weights("bilinear", blur, rows, cols)
    cells, _, bin_noise = _unclipped(image, R, C, scale, bias, _CENSORED_STEPS)
    # standard deviation of a cell's fit: the bins' noise through both pseudo-inverses
    spread = np.median((_pinv(R) ** 2).sum(axis=1))
    spread *= np.median((_pinv(C) ** 2).sum(axis=1))
    noise = bin_noise * float(np.sqrt(spread))
    means = np.clip(cells.transpose(0, 2, 1).reshape(-1, 3).astype(np.float64), 0, 255)
    return _Cells(means, means, np.zeros(means.shape, bool), means[..., None], noise)


def _unclipped(
    image: np.ndarray, R: np.ndarray, C: np.ndarray, scale: int, bias: np.ndarray, steps: int
) -> tuple[np.ndarray, np.ndarray, float]:
    """The least-squares cells of the image (bins of scale x scale pixels) fitted as
    R cells C^T, with the bias of noise clipped at 0 and 255 taken off the image and the
    fit repeated (`steps` times, from `bias`); the cells, the bias, and the bins' noise.

    Each bin's expected value, given the fitted image and the pixels' noise, is a clipped
    Gaussian's mean; the noise is read where none was clipped, as clipping narrows it.
    """
    R_pinv, C_pinv = _pinv(R), _pinv(C)
    bin_noise = 0.0
    for step in range(steps + 1):
        cells = _down(R_pinv, _across(image - bias, C_pinv.T))  # (size, channel, size)
        drawn = _across(_down(R, cells), C.T)
        residual = (image - bias - drawn)[bias == 0][::9]  # a ninth is plenty for a median
        if residual.size:
            bin_noise = float(np.sqrt(np.median(residual**2) / _CHI2_MEDIAN))
        if step == steps:
            break
        # a pixel's noise, not less than rounding to integers leaves
        bias = _clipping_bias(drawn, max(bin_noise * scale, 12**-0.5))
        if not bias.any():
            break
    return cells, bias, bin_noise


def _covered(positions: np.ndarray, axis: _Axis) -> np.ndarray:
    """Which positions lie within the grid, from the first cell's outer edge to the last's."""
    half = axis.pitch / 2
    return (positions >= axis.centres[0] - half) & (positions <= axis.centres[-1] + half)


def _binned(rgb: np.ndarray, scale: int) -> np.ndarray:
    """(rows, 3, columns) float32: the mean of each scale x scale block (the last partial
    row and column of blocks dropped), laid out for the fit's matrix products."""
    height, width = (rgb.shape[0] // scale) * scale, (rgb.shape[1] // scale) * scale
    rows = rgb[0:height:scale, :width].astype(np.uint16)
    for i in range(1, scale):
        rows += rgb[i:height:scale, :width]
    blocks = rows[:, 0::scale].astype(np.float32)
    for i in range(1, scale):
        blocks += rows[:, i::scale]
    return blocks.transpose(0, 2, 1) / np.float32(scale * scale)


def _filter_table(name: str, blur: float, width: float) -> np.ndarray:
    """`_FILTERS[name]` blurred by a Gaussian of `blur` cells and averaged over a bin of
    `width` cells, on `_OFFSETS`."""
    table = _FILTERS[name]
    if blur > _STEP / 16:
        table = gaussian_filter1d(table, blur / _STEP, mode="constant")
    if width > _STEP:
        integral = np.concatenate([[0], np.cumsum(table[1:] + table[:-1]) * _STEP / 2])
        ahead = np.interp(_OFFSETS + width / 2, _OFFSETS, integral)
        table = (ahead - np.interp(_OFFSETS - width / 2, _OFFSETS, integral)) / width
    return table


def _weights(table: np.ndarray, positions: np.ndarray, axis: _Axis) -> np.ndarray:
    """(positions, size) float32: each cell's share of each bin along one axis, summing to
    1 (past the outer cells the filter clamps to them, as libraries do)."""
    offsets = (positions[:, None] - axis.centres[None]) / axis.pitch
    weights = np.interp(offsets, _OFFSETS, table)
    return (weights / weights.sum(axis=1, keepdims=True)).astype(np.float32)


def _unexplained(image: np.ndarray, R: np.ndarray, C: np.ndarray) -> float:
    """The residual's sum of squares once the image is fitted as R cells C^T: the less,
    the better R and C describe the rendering (summed directly, not as the image's square
    less the fit's, whose difference float rounding would swamp)."""
    cells = _down(_pinv(R), _across(image, _pinv(C).T))
    return float(((image - _across(_down(R, cells), C.T)) ** 2).sum())


def _pinv(weights: np.ndarray) -> np.ndarray:
    """The least-squares inverse of a (positions, cells) weight matrix of full column rank,
    through its 24 x 24 normal matrix: an SVD of the whole took most of the fit's time."""
    return np.linalg.solve(weights.T @ weights, weights.T)


def _down(matrix: np.ndarray, image: np.ndarray) -> np.ndarray:
    """matrix @ image along its first axis, for each channel, in one matrix product."""
    flat = np.ascontiguousarray(matrix) @ image.reshape(image.shape[0], -1)
    return flat.reshape(matrix.shape[0], *image.shape[1:])


def _across(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """image @ matrix along its last axis, for each channel, in one matrix product (the
    matrix made contiguous: OpenBLAS threads a product with a transposed one, which on a
    busy machine took 5 ms instead of 20 us)."""
    flat = image.reshape(-1, image.shape[2]) @ np.ascontiguousarray(matrix)
    return flat.reshape(*image.shape[:2], matrix.shape[1])


def _refined_grid(
    image: np.ndarray,
    table: np.ndarray,
    along_rows: tuple[np.ndarray, _Axis],
    along_cols: tuple[np.ndarray, _Axis],
) -> tuple[_Axis, _Axis]:
    """Each axis's cell centres moved and stretched (phase and pitch) by Gauss-Newton
    steps on the fit's residual, until a step moves the phase by less than
    `_SETTLED_PHASE`: the periodicity of edges and kinks finds the phase to a tenth of a
    pixel (on a few images a few pixels), the fit tells a hundredth."""
    (ys, rows), (xs, cols) = along_rows, along_cols
    start = rows, cols
    slope = np.gradient(table, _STEP)  # d(filter)/d(offset)
    rank = np.arange(len(rows.centres)) - (len(rows.centres) - 1) / 2  # stretch about the middle

    def moved(axis: _Axis, positions: np.ndarray) -> np.ndarray:
        """d(weights)/d(centre) of each cell, ignoring the rows' renormalisation."""
        offsets = (positions[:, None] - axis.centres[None]) / axis.pitch
        return (-np.interp(offsets, _OFFSETS, slope) / axis.pitch).astype(np.float32)

    for _ in range(_REFINE):
        R, C = _weights(table, ys, rows), _weights(table, xs, cols)
        cells = _down(_pinv(R), _across(image, _pinv(C).T))
        across, down = _across(cells, C.T), _down(R, cells)
        residual = (image - _across(down, C.T)).ravel()
        d_rows, d_cols = moved(rows, ys), moved(cols, xs)
        jacobian = np.stack(
            [
                _down(d_rows, across).ravel(),
                _down(d_rows * rank, across).ravel(),
                _across(down, d_cols.T).ravel(),
                _across(down * rank, d_cols.T).ravel(),
            ]
        )  # (4, bins): how the fitted image moves with each axis's phase and pitch
        step = np.linalg.solve(jacobian @ jacobian.T, jacobian @ residual)
        rows = rows._replace(centres=rows.centres + step[0] + step[1] * rank)
        cols = cols._replace(centres=cols.centres + step[2] + step[3] * rank)
        moved_by = max(
            np.abs(rows.centres - start[0].centres).max() / rows.pitch,
            np.abs(cols.centres - start[1].centres).max() / cols.pitch,
        )
        if moved_by > _REFINE_LIMIT:  # this far off the periodicity's grid, the fit has
            return start  # followed something other than the grid
        if np.abs(step[[0, 2]]).max() < _SETTLED_PHASE:
            break
    return rows, cols


def _clipping_bias(drawn: np.ndarray, noise: float) -> np.ndarray:
    """E[clip(drawn + N(0, noise^2), 0, 255)] - drawn: how far noise clipped at 0 and 255
    lifts (or lowers) the mean of what is seen; 0 more than 5 deviations from either."""
    bias = np.zeros_like(drawn)
    low = drawn < 5 * noise
    z = drawn[low] / noise
    bias[low] = noise * (_GAUSS * np.exp(-z * z / 2) - z * ndtr(-z))
    high = drawn > 255 - 5 * noise
    z = (255 - drawn[high]) / noise
    bias[high] -= noise * (_GAUSS * np.exp(-z * z / 2) - z * ndtr(-z))
    return bias


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
