"""Colour arithmetic (hex, CIELAB, CIEDE2000) and the generator's named palette.

`COLORS` is what the project's generated punks are painted with: names map to exact hex
values so that generated portraits round-trip exactly through their captions. Reading
anyone else's colour words ("warm copper", "light blue-gray") is `color_words`' job.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from skimage import color

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


def hex_to_rgb(hex_color: str) -> tuple[int, int, int]:
    value = hex_color.lstrip("#")
    if len(value) != 6:
        raise ValueError(f"not a #rrggbb color: {hex_color!r}")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def rgb_to_hex(rgb: tuple[int, int, int] | np.ndarray) -> str:
    r, g, b = (int(c) for c in rgb[:3])
    return f"#{r:02x}{g:02x}{b:02x}"


def hex_to_lab(hex_colors: list[str]) -> np.ndarray:
    """CIELAB coordinates (L 0-100, a/b signed, D65) for a list of hex colors."""
    return rgb_to_lab(np.array([hex_to_rgb(c) for c in hex_colors], dtype=np.uint8).reshape(-1, 3))


def rgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB coordinates for an (N, 3) uint8 array of RGB colors."""
    return color.rgb2lab(np.asarray(rgb, dtype=np.uint8).reshape(-1, 1, 3))[:, 0, :]


def lab_to_hex(lab: np.ndarray) -> str:
    rgb = color.lab2rgb(np.asarray(lab, dtype=float).reshape(1, 1, 3))[0, 0]
    return rgb_to_hex(np.round(np.clip(rgb, 0, 1) * 255).astype(int))


def delta_e_2000(lab_a: np.ndarray, lab_b: np.ndarray) -> np.ndarray:
    """CIEDE2000 between broadcastable arrays of Lab points (last axis L, a, b): unlike
    plain Lab distance it weighs hue, chroma and lightness the way viewers do, so one
    tolerance works for dark and bright, grey and saturated colours alike."""
    lab_a, lab_b = np.broadcast_arrays(np.asarray(lab_a, float), np.asarray(lab_b, float))
    return color.deltaE_ciede2000(lab_a, lab_b, channel_axis=-1)


@lru_cache(maxsize=1)
def _vocabulary_lab() -> tuple[tuple[str, ...], np.ndarray]:
    names = tuple(COLORS)
    return names, hex_to_lab([COLORS[n] for n in names])


def delta_e(hex_a: str, hex_b: str) -> float:
    """Perceptual distance (CIE76) between two hex colors."""
    lab = hex_to_lab([hex_a, hex_b])
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
    distances = np.linalg.norm(lab[index] - hex_to_lab([hex_color])[0], axis=1)
    return pool[int(np.argmin(distances))]
