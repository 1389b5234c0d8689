"""The reader's learned part: which way a portrait faces and what it wears, from its shape.

Hand-written rules read colours well and shapes badly: a cap, a hood, a tiara and a mohawk
differ in outline, not in any colour rule, and which way a face looks is the whole figure's
asymmetry (the back of the head, the neck, a brim). A small convolutional net learns those
from the labelled CryptoPunks and the generator's portraits (`bench/reader_training.py`
trains it, reproducibly, in a few minutes on a CPU) and ships as a few hundred kilobytes of
safetensors beside this module. The rules (`regions`) still find every region and colour;
the net only answers the yes/no questions they got wrong.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch import nn

WEIGHTS = Path(__file__).with_name("reader_net.safetensors")
#: Eyewear as the net tells it apart: see-through frames, or something that hides the eyes
#: (shades, a mask, a visor, goggles, an eye patch).
EYEWEAR_CLASSES = ("none", "glasses", "covering")
#: One logit each: the portrait faces right; it wears something on its head; an earring;
#: hair on the chin or jaw.
FLAGS = ("right_facing", "headwear", "earring", "beard")


class ReaderNet(nn.Module):
    """Two 3x3 conv stages on the 24x24 grid, then a small dense layer: positions matter
    (a brim on the right, a neck on the left), so the features are flattened, not pooled
    away."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()

        def stage(inputs: int, outputs: int, pool: bool) -> nn.Sequential:
            return nn.Sequential(
                nn.Conv2d(inputs, outputs, 3, padding=1),
                nn.BatchNorm2d(outputs),
                nn.ReLU(),
                nn.Conv2d(outputs, outputs, 3, padding=1),
                nn.BatchNorm2d(outputs),
                nn.ReLU(),
                nn.MaxPool2d(2) if pool else nn.Identity(),
            )

        # 24 -> 12 -> 6 cells: a 6x6 map still places a one-pixel earring or a brim tip
        self.features = nn.Sequential(
            stage(4, width, True), stage(width, 2 * width, True), stage(2 * width, 2 * width, False)
        )
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(0.2),
            nn.Linear(2 * width * 6 * 6, 128),
            nn.ReLU(),
            nn.Linear(128, len(EYEWEAR_CLASSES) + len(FLAGS)),
        )

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(pixels))


def as_input(rgb: np.ndarray) -> torch.Tensor:
    """(N, 24, 24, 3) uint8 -> (N, 4, 24, 24): RGB in [0, 1] and a darkness channel, since
    the black outline and pupils carry most of a portrait's shape whatever its colours."""
    pixels = torch.from_numpy(np.ascontiguousarray(rgb)).float().div(255).permute(0, 3, 1, 2)
    darkness = 1 - pixels.max(dim=1, keepdim=True).values
    return torch.cat([pixels, darkness], dim=1)


@dataclass(frozen=True)
class Cues:
    """What the net sees in one portrait, as probabilities."""

    right_facing: float
    eyewear: dict[str, float]
    headwear: float
    earring: float
    beard: float

    @property
    def eyewear_kind(self) -> str:
        return max(self.eyewear, key=self.eyewear.__getitem__)


def cues_from_logits(logits: torch.Tensor) -> list[Cues]:
    eyewear = torch.softmax(logits[:, : len(EYEWEAR_CLASSES)], dim=1)
    flags = torch.sigmoid(logits[:, len(EYEWEAR_CLASSES) :])
    return [
        Cues(
            right_facing=float(f[0]),
            eyewear=dict(zip(EYEWEAR_CLASSES, map(float, e), strict=True)),
            headwear=float(f[1]),
            earring=float(f[2]),
            beard=float(f[3]),
        )
        for e, f in zip(eyewear, flags, strict=True)
    ]


@lru_cache(maxsize=1)
def shipped_net() -> ReaderNet:
    net = ReaderNet()
    net.load_state_dict(load_file(WEIGHTS))
    return net.eval()


def read_cues(rgb: np.ndarray) -> Cues:
    """The cues of one (24, 24, 3) uint8 portrait (transparent pixels already filled)."""
    with torch.inference_mode():
        return cues_from_logits(shipped_net()(as_input(rgb[None])))[0]
