"""Training sides that keep every pixel-art cell whole.

A 24x24 portrait reaches the VAE upscaled by an integer factor with nearest neighbour, so
each cell becomes an exact k x k block. The side must also suit the model: a multiple of
the VAE's downscale times the denoiser's own (UNet levels, FLUX's 2x2 latent packing).
Requested sides that break either rule (the notes' 512 and 1024: 512 / 24 = 21.3) move to
the nearest side that keeps both, and the trainer logs why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from bespoke_pipeline.models.pixel.pipeline import to_tensor
from bespoke_pipeline.pixelart.layout import SIZE

#: The side samples and evaluation render at when a config trains at several: 24 x 32.
PREFERRED_SIDE = 768


@dataclass(frozen=True)
class Side:
    requested: int
    side: int
    multiple: int  # every valid side is a multiple of this

    @property
    def factor(self) -> int:
        return self.side // SIZE

    def explanation(self) -> str | None:
        """Why the side differs from the one asked for; None when it doesn't."""
        if self.side == self.requested:
            return None
        return (
            f"resolution {self.requested} -> {self.side}: a side must be a multiple of "
            f"{SIZE} (whole pixel-art cells, each {self.factor}x{self.factor} pixels) and of "
            f"what the model needs, together {self.multiple}; {self.requested} is not, and "
            f"{self.side} is the nearest that is"
        )


def exact_sides(requested: tuple[int, ...], model_multiple: int) -> list[Side]:
    """The nearest valid side for each requested one (ties go down, to the cheaper side);
    duplicates collapse, order is kept."""
    multiple = math.lcm(SIZE, model_multiple)
    sides: list[Side] = []
    for side in requested:
        below = max(multiple, side // multiple * multiple)
        above = below + multiple
        nearest = below if side - below <= above - side else above
        if nearest not in [s.side for s in sides]:
            sides.append(Side(side, nearest, multiple))
    return sides


def sample_side(sides: list[Side]) -> int:
    """Samples and evaluation render at one training side: the one nearest 768."""
    return min((s.side for s in sides), key=lambda side: abs(side - PREFERRED_SIDE))


def upscale(images: np.ndarray, factor: int) -> torch.Tensor:
    """uint8 (N, 24, 24, 3) -> float (N, 3, 24k, 24k) in [-1, 1], each cell a k x k block."""
    return to_tensor(images).repeat_interleave(factor, dim=2).repeat_interleave(factor, dim=3)
