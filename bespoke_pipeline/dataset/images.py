"""Reading one user PNG as 24x24 pixel art, or saying exactly why it can't be used."""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from bespoke_pipeline.pixelart.layout import SIZE

#: A 24x24 PNG is a few hundred bytes; anything far larger is not what it claims to be.
MAX_FILE_BYTES = 1 << 20
DEFAULT_MAX_COLORS = 16


class BadInputError(ValueError):
    """A source file that cannot be used; the message names the file and the reason."""

    def __init__(self, file: str, reason: str) -> None:
        super().__init__(f"{file}: {reason}")
        self.file = file
        self.reason = reason


def read_pixel_art(path: Path, max_colors: int = DEFAULT_MAX_COLORS) -> Image.Image:
    """The image as 24x24 RGBA, after checking everything a trainer would silently mangle."""
    name = path.name
    size = path.stat().st_size
    if size == 0:
        raise BadInputError(name, "empty file (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise BadInputError(name, f"file is {size:,} bytes; a 24x24 PNG is a few KB")
    data = path.read_bytes()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as opened:
                if opened.format != "PNG":
                    raise BadInputError(name, f"content is {opened.format}, not PNG")
                if opened.size != (SIZE, SIZE):
                    width, height = opened.size
                    raise BadInputError(name, f"is {width}x{height} pixels, expected {SIZE}x{SIZE}")
                image = opened.convert("RGBA")
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        raise BadInputError(name, f"refused as a decompression bomb ({error})") from error
    except UnidentifiedImageError as error:
        raise BadInputError(name, "not an image (content is not PNG data)") from error
    except (OSError, SyntaxError, ValueError) as error:
        raise BadInputError(name, f"corrupt or truncated PNG ({error})") from error

    pixels = np.asarray(image)
    alpha = pixels[..., 3]
    semi = int(((alpha > 0) & (alpha < 255)).sum())
    if semi:
        raise BadInputError(
            name,
            f"{semi} semi-transparent pixels (alpha between 1 and 254); "
            "pixel art must be fully opaque or fully transparent",
        )
    colors = len(np.unique(_opaque_colors(pixels), axis=0))
    if colors > max_colors:
        raise BadInputError(
            name,
            f"{colors} distinct colors (limit {max_colors}): "
            "anti-aliasing, gradients or a resized image?",
        )
    return image


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
