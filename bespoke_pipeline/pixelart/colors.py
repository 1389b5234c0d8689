"""Colour arithmetic: hex, RGB, CIELAB and CIEDE2000, the one distance used everywhere.
Colour *words* are `color_words`' job."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from skimage import color


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
    return np.array([_lab_of_hex(c) for c in hex_colors], dtype=float).reshape(-1, 3)


@lru_cache(maxsize=8192)
def _lab_of_hex(hex_color: str) -> tuple[float, float, float]:
    """Cached: the generator and the resolver convert the same few hundred named colours
    tens of thousands of times (one skimage call each cost more than the drawing)."""
    return tuple(rgb_to_lab(np.array(hex_to_rgb(hex_color), dtype=np.uint8))[0])


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
