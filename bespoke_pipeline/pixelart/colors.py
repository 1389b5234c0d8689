"""The one shared color vocabulary: every color name in a caption, a generated portrait or
an analysis result comes from here.

Names map to exact hex values so that generated portraits round-trip exactly; unknown
colors (a user's own art) get the perceptually nearest name, measured in CIELAB because
RGB distance ranks e.g. dark blues and greys very differently from how people see them.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from PIL import Image, ImageCms

COLORS: dict[str, str] = {
    # neutrals
    "black": "#000000",
    "white": "#f4f4f4",
    "grey": "#9aa0a6",
    "gold": "#ffd700",
    # backgrounds
    "purple": "#8a5cc2",
    "vibrant orange": "#f08a24",
    "green": "#5fae5a",
    "sky blue": "#6fb7e8",
    "pink": "#f29bc0",
    "teal": "#2f9e94",
    "yellow": "#f2d24b",
    "red": "#d9473b",
    "navy": "#2b3a67",
    "mint": "#a8e6c1",
    "lavender": "#c7b8ea",
    # skin tones
    "pale": "#f7e3d3",
    "light": "#eac2a3",
    "tan": "#c98e5e",
    "olive": "#a8834f",
    "dark": "#8f5a38",
    "ebony": "#4a2a18",
    # hair
    "brown": "#6b3e1f",
    "blonde": "#e8c55a",
    "ginger": "#c4581f",
    "blue": "#3a6fd8",
    # eyes
    "hazel": "#8e7a3a",
    # lips
    "dark red": "#8b1e2d",
    "coral": "#f07a6a",
    "nude": "#c98f7e",
}

BACKGROUNDS = (
    "purple",
    "vibrant orange",
    "green",
    "sky blue",
    "pink",
    "teal",
    "yellow",
    "red",
    "navy",
    "mint",
    "lavender",
    "grey",
)
SKIN_TONES = ("pale", "light", "tan", "olive", "dark", "ebony")
HAIR_COLORS = (
    "black",
    "brown",
    "blonde",
    "ginger",
    "white",
    "blue",
    "pink",
    "green",
    "purple",
    "red",
    "grey",
)
EYE_COLORS = ("brown", "blue", "green", "grey", "hazel")
LIP_COLORS = ("pink", "red", "dark red", "coral", "nude", "purple")
COLLAR_COLORS = ("blue", "red", "white", "black", "green", "yellow", "navy", "gold")
HEADWEAR_COLORS = ("red", "blue", "black", "green", "white", "purple")
EYEWEAR_COLOR = "black"
EARRING_COLOR = "gold"

#: Colors closer than this (CIE76 delta E) are "the same color" to a viewer; used to decide
#: whether a caption's color word agrees with the pixels.
SAME_COLOR_DELTA_E = 20.0


def hex_to_rgb(hex_color: str) -> tuple[int, int, int]:
    value = hex_color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb color: {hex_color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def rgb_to_hex(rgb: tuple[int, int, int] | np.ndarray) -> str:
    r, g, b = (int(c) for c in rgb[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


@lru_cache(maxsize=1)
def _srgb_to_lab() -> ImageCms.ImageCmsTransform:
    return ImageCms.buildTransform(
        ImageCms.createProfile("sRGB"), ImageCms.createProfile("LAB"), "RGB", "LAB"
    )


def to_lab(hex_colors: list[str]) -> np.ndarray:
    """CIELAB coordinates (L 0-100, a/b signed) for a list of hex colors."""
    return rgb_to_lab(np.array([hex_to_rgb(c) for c in hex_colors], dtype=np.uint8))


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB coordinates for an (N, 3) uint8 array of RGB colors, via LittleCMS."""
    strip = Image.fromarray(np.ascontiguousarray(rgb, dtype=np.uint8).reshape(1, -1, 3), "RGB")
    lab = np.asarray(ImageCms.applyTransform(strip, _srgb_to_lab()), dtype=np.float64)[0]
    # Pillow stores L scaled to 0-255 and a/b offset by 128 (as signed bytes).
    lab[:, 0] *= 100.0 / 255.0
    lab[:, 1:] = np.where(lab[:, 1:] >= 128, lab[:, 1:] - 256, lab[:, 1:])
    return lab


@lru_cache(maxsize=1)
def _vocabulary_lab() -> tuple[tuple[str, ...], np.ndarray]:
    names = tuple(COLORS)
    return names, to_lab([COLORS[n] for n in names])


def delta_e(hex_a: str, hex_b: str) -> float:
    """Perceptual distance (CIE76) between two hex colors."""
    lab = to_lab([hex_a, hex_b])
    return float(np.linalg.norm(lab[0] - lab[1]))


@lru_cache(maxsize=4096)
def color_name(hex_color: str, candidates: tuple[str, ...] | None = None) -> str:
    """The vocabulary name perceptually nearest to `hex_color` (exact hex wins outright)."""
    names, lab = _vocabulary_lab()
    hex_color = hex_color.lower()
    pool = candidates or names
    for name in pool:
        if COLORS[name] == hex_color:
            return name
    index = [names.index(n) for n in pool]
    distances = np.linalg.norm(lab[index] - to_lab([hex_color])[0], axis=1)
    return pool[int(np.argmin(distances))]


def lookup_color(phrase: str) -> str | None:
    """The vocabulary name a caption's color phrase means, or None if it names no known color.

    Users qualify colors ("vibrant orange", "light brown"), so a phrase that ends with a
    vocabulary name means that name; the longest such name wins ("dark red" over "red").
    """
    phrase = " ".join(phrase.lower().split())
    if phrase in COLORS:
        return phrase
    endings = [
        name for name in COLORS if phrase.endswith(" " + name) or name.endswith(" " + phrase)
    ]
    return max(endings, key=len) if endings else None
