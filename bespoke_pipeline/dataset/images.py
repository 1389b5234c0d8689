"""Reading one user PNG as 24x24 pixel art, or saying exactly why it can't be used.

Artists export their 24x24 grids upscaled (576 px is common), sometimes touch a few pixels
up after upscaling, save RGB or RGBA, and use far more than 16 colors (gradients, dithered
hair). So a file is accepted when it is square with a side that is a whole multiple of 24;
its grid is taken one pixel per block when every block is one color, and recovered with
`snap_to_grid` otherwise, saying how well the file agrees with what was recovered.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, UnidentifiedImageError

from bespoke_pipeline.pixelart.colors import rgb_to_lab
from bespoke_pipeline.pixelart.layout import SIZE
from bespoke_pipeline.pixelart.snap import MERGE_DELTA_E, snap_to_grid

#: 24 x 64: beyond this a file is a photo or a screenshot, not an export of a 24x24 grid.
MAX_SIDE = SIZE * 64
#: A 1536 px PNG of busy art is a few MB; far more is not what it claims to be.
MAX_FILE_BYTES = 16 << 20
#: Below this share of agreeing pixels a snapped grid may be wrong, not just cleaned up.
SURE_AGREEMENT = 0.9
#: A patch of one color covering this share of a block shows that cell's exact color.
EXACT_PATCH = 1 / 8
#: Smeared edges: a pixel within BLEND_TOLERANCE (delta E) of the segment between two
#: opposite neighbours at least BLEND_CONTRAST apart, and more than BLEND_DISTINCT from
#: each. Resampled portraits have 10-25 % such pixels; real art, with its ramps, gradients
#: and dithering, up to 6.8 % (lady_033_staranise, one of the artist's pairs) and the demo set
#: up to 3.7 %; real portraits blurred with a bilinear filter 16-31 %. Above RESAMPLED_SHARE,
#: half-way, a grid is left out unless `allow_resampled`: a false refusal loses art.
BLEND_TOLERANCE = 4.0
BLEND_CONTRAST = 30.0
BLEND_DISTINCT = 5.0
RESAMPLED_SHARE = 0.10

Recovery = Literal["native", "exact", "snapped"]


class BadInputError(ValueError):
    """A source file that cannot be used; the message names the file and the reason."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


@dataclass(frozen=True)
class PixelArt:
    """A file's 24x24 grid and how it was obtained, so callers can report doubtful ones."""

    image: Image.Image  # 24x24 RGBA; fully transparent pixels are (0, 0, 0, 0)
    source_side: int  # side of the file in pixels
    recovery: Recovery  # 24 px file / block-constant upscale / recovered with snap_to_grid
    agreement: float  # share of the file's pixels within delta E 6 of their recovered cell
    warnings: tuple[str, ...] = ()


def read_pixel_art(
    path: Path, max_colors: int | None = None, allow_resampled: bool = False
) -> PixelArt:
    """The file's 24x24 grid, after refusing everything a trainer would silently mangle.

    `max_colors` is an opt-in cap for datasets that want a limited palette; rich palettes
    are legitimate pixel art, so there is none by default. A grid with smeared edges is
    refused, since training on it teaches a LoRA to smear; the threshold sits above the
    most any real art reaches, and `allow_resampled` keeps such a grid with a warning.
    """
    pixels = _decode(path)
    _refuse_semi_transparent(path.name, pixels)
    pixels[pixels[..., 3] == 0] = 0  # one value for "transparent", whatever the RGB
    art = _recover(pixels)
    grid = np.asarray(art.image)
    if max_colors is not None:
        colors = len(np.unique(_packed(grid)))
        if colors > max_colors:
            raise BadInputError(path.name, f"{colors} distinct colors (limit {max_colors})")
    share = _blend_pixels(grid) / (SIZE * SIZE)
    if share > RESAMPLED_SHARE:
        smeared = (
            f"looks resampled: {share:.0%} of pixels are blends of their neighbours (smeared edges)"
        )
        if not allow_resampled:
            raise BadInputError(
                path.name,
                f"{smeared}; set allow_resampled: true on the dataset resource to keep it",
            )
        art = replace(art, warnings=(*art.warnings, smeared))
    return art


def _decode(path: Path) -> np.ndarray:
    """RGBA pixels of a square PNG whose side is a whole multiple of 24, or BadInputError."""
    name = path.name
    size = path.stat().st_size
    if size == 0:
        raise BadInputError(name, "empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise BadInputError(
            name, f"file is {size:,} bytes; the limit is {MAX_FILE_BYTES >> 20} MiB"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(path.read_bytes())) as opened:
                if opened.format != "PNG":
                    raise BadInputError(name, f"content is {opened.format}, not PNG")
                _check_size(name, *opened.size)
                return np.array(opened.convert("RGBA"))
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadInputError(name, f"refused as a decompression bomb ({error})") from error
    except UnidentifiedImageError as error:
        raise BadInputError(name, "not an image (content is not PNG data)") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInputError(name, f"corrupt or truncated PNG ({error})") from error


def _check_size(name: str, width: int, height: int) -> None:
    """Checked from the header, before any pixel is decoded."""
    shape = f"is {width}x{height} pixels"
    if width != height:
        raise BadInputError(
            name, f"{shape}; pixel art must be square ({SIZE}x{SIZE} or e.g. 576x576)"
        )
    if width > MAX_SIDE:
        raise BadInputError(name, f"{shape}; the largest accepted is {MAX_SIDE}x{MAX_SIDE}")
    if width % SIZE:
        raise BadInputError(
            name,
            f"{shape}; sides must be {SIZE} or a whole multiple of {SIZE} "
            f"(48, 72, ..., 576, ..., {MAX_SIDE})",
        )


def _refuse_semi_transparent(name: str, pixels: np.ndarray) -> None:
    """Checked on the file, not the grid: trainers flatten partial alpha unpredictably."""
    alpha = pixels[..., 3]
    semi = int(((alpha > 0) & (alpha < 255)).sum())
    if semi:
        raise BadInputError(
            name,
            f"{semi} semi-transparent pixels (alpha between 1 and 254); "
            "pixel art must be fully opaque or fully transparent",
        )


def _recover(pixels: np.ndarray) -> PixelArt:
    side = pixels.shape[0]
    if side == SIZE:
        return PixelArt(Image.fromarray(pixels, "RGBA"), side, "native", 1.0)
    factor = side // SIZE
    cells = _cells(_packed(pixels), factor)
    mixed = int((cells != cells[..., :1]).any(axis=-1).sum())
    if not mixed:
        grid = np.ascontiguousarray(pixels[::factor, ::factor])
        return PixelArt(Image.fromarray(grid, "RGBA"), side, "exact", 1.0)
    return _snapped(pixels, cells, mixed)


def _snapped(pixels: np.ndarray, cells: np.ndarray, mixed: int) -> PixelArt:
    side = pixels.shape[0]
    snapped = np.asarray(snap_to_grid(Image.fromarray(pixels[..., :3], "RGB"), SIZE))
    grid = _with_exact_colors(snapped, cells)
    grid[(cells == 0).sum(axis=-1) * 2 > cells.shape[-1]] = 0  # mostly transparent blocks
    agreement = _agreement(cells, grid)
    note = (
        f"{side}x{side} is not an exact {side // SIZE}x upscale ({mixed} of {SIZE * SIZE} "
        f"cells are not one color); recovered the grid with snap_to_grid, "
        f"{math.floor(agreement * 1000) / 10:.1f}% of pixels agree with it"
    )
    if agreement < SURE_AGREEMENT:
        note += "; the recovery is unsure, check the image"
    return PixelArt(Image.fromarray(grid, "RGBA"), side, "snapped", agreement, (note,))


def _with_exact_colors(snapped: np.ndarray, cells: np.ndarray) -> np.ndarray:
    """`snap_to_grid` finds the cells however the blocks are smeared, but each cell's color
    is a median nudged by its neighbours, then merged with near-identical colors across
    the image, which flattens subtle shading. Where a block holds a patch of one color
    close to the snapped one (around a few touched-up pixels, or the side of a bilinear
    block that faces same-colored neighbours), that exact color is the artist's."""
    dominant, count = _dominant(cells)
    dominant_rgba = dominant[..., None].view(np.uint8).reshape(SIZE, SIZE, 4)
    distance = np.linalg.norm(
        rgb_to_lab(dominant_rgba[..., :3].reshape(-1, 3)) - rgb_to_lab(snapped.reshape(-1, 3)),
        axis=1,
    ).reshape(SIZE, SIZE)
    exact = (count >= EXACT_PATCH * cells.shape[-1]) & (distance <= MERGE_DELTA_E)
    exact &= dominant != 0  # transparency is decided by the whole block
    grid = np.dstack([snapped, np.full((SIZE, SIZE), 255, np.uint8)])
    grid[exact] = dominant_rgba[exact]
    return grid


def _dominant(cells: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each block's most common color and how many of its pixels have it."""
    ordered = np.sort(cells, axis=-1)
    position = np.arange(ordered.shape[-1])
    starts = np.ones(ordered.shape, bool)
    starts[..., 1:] = ordered[..., 1:] != ordered[..., :-1]
    run_start = np.maximum.accumulate(np.where(starts, position, 0), axis=-1)
    run_length = position - run_start + 1
    longest = run_length.argmax(axis=-1)[..., None]
    dominant = np.take_along_axis(ordered, longest, axis=-1)[..., 0]
    return dominant, np.take_along_axis(run_length, longest, axis=-1)[..., 0]


def _agreement(cells: np.ndarray, grid: np.ndarray) -> float:
    """Share of the file's pixels within MERGE_DELTA_E of their cell's color: the measure
    of `snap.grid_cleanliness`, computed only for pixels that differ, on packed colors
    (its row-wise np.unique takes 0.4 s on a 576 px image)."""
    differ = cells != _packed(grid)[..., None]
    colors, inverse = np.unique(cells[differ], return_inverse=True)
    cell_of = np.broadcast_to(np.arange(SIZE * SIZE).reshape(SIZE, SIZE, 1), cells.shape)
    cell_lab = rgb_to_lab(grid[..., :3].reshape(-1, 3))[cell_of[differ]]
    pixel_lab = rgb_to_lab(colors[:, None].view(np.uint8)[:, :3])[inverse]
    far = int((np.linalg.norm(pixel_lab - cell_lab, axis=1) > MERGE_DELTA_E).sum())
    return 1.0 - far / cells.size


def _packed(pixels: np.ndarray) -> np.ndarray:
    """One uint32 per RGBA pixel, so colors compare and sort as single values."""
    return np.ascontiguousarray(pixels).view(np.uint32)[..., 0]


def _cells(packed: np.ndarray, factor: int) -> np.ndarray:
    """(24, 24, factor * factor): every pixel of each block."""
    blocks = packed.reshape(SIZE, factor, SIZE, factor).transpose(0, 2, 1, 3)
    return blocks.reshape(SIZE, SIZE, factor * factor)


def _blend_pixels(grid: np.ndarray) -> int:
    """Opaque pixels whose color lies between two clearly different opposite neighbours:
    resampling leaves them along every edge, while hand-drawn ramps make only a few."""
    lab = rgb_to_lab(grid[..., :3].reshape(-1, 3)).reshape(SIZE, SIZE, 3)
    opaque = grid[..., 3] == 255
    blends = np.zeros((SIZE, SIZE), bool)
    for axis in (0, 1):
        line, solid, found = (np.moveaxis(a, axis, 0) for a in (lab, opaque, blends))
        before, middle, after = line[:-2], line[1:-1], line[2:]
        span = after - before
        length = np.linalg.norm(span, axis=-1)
        along = ((middle - before) * span).sum(axis=-1) / np.maximum(length**2, 1e-9)
        nearest = before + np.clip(along, 0, 1)[..., None] * span
        found[1:-1] |= (
            solid[:-2]
            & solid[1:-1]
            & solid[2:]
            & (length > BLEND_CONTRAST)
            & (np.linalg.norm(middle - nearest, axis=-1) < BLEND_TOLERANCE)
            & (np.linalg.norm(middle - before, axis=-1) > BLEND_DISTINCT)
            & (np.linalg.norm(middle - after, axis=-1) > BLEND_DISTINCT)
        )
    return int(blends.sum())


def _opaque_colors(pixels: np.ndarray) -> np.ndarray:
    """RGBA rows with every fully transparent pixel collapsed to one value."""
    flat = pixels.reshape(-1, 4).copy()
    flat[flat[:, 3] == 0] = 0
    return flat


def pixel_digest(image: Image.Image) -> str:
    """Identity of what the image shows, regardless of how the PNG was encoded."""
    return hashlib.sha256(_opaque_colors(np.asarray(image.convert("RGBA"))).tobytes()).hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()
