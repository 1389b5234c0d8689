"""CryptoPunks as pretraining examples: drawn art of the real kind, told in caption words.

The generator draws one world; an artist's punks have palettes, shading and accessories it
never drew (hats, masks, pipes, chains, wild hair). The labelled CryptoPunks 0-3999 bring
that in: each set on one of the generator's backgrounds (flat, gradient, striped,
checkered, split, brick, in every colour name), facing either way, and captioned as the
generic corpus is, from the punk's labels (their words: "top hat", "clown nose", "messy
hair") and the reader's colour words for hair and skin. Punks 4000-4999 stay held apart and
5000-9999 are never read (`cryptopunks.load_punks`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.caption import background_phrase
from bespoke_pipeline.pixelart.cryptopunks import DEVELOPMENT, PUNK_BLUE, Punk, load_punks
from bespoke_pipeline.pixelart.generic import LONG_FORM, assembled, said, wide_palette
from bespoke_pipeline.pixelart.synth import background, random_portrait

#: Labels that are the punk's hair: said with the hair's colour in front.
_HAIR = {
    "blondeBob", "blondeShort", "clownHairGreen", "crazyHair", "darkHair", "frumpyHair",
    "halfShaved", "messyHair", "mohawk", "mohawkDark", "mohawkThin", "orangeSide",
    "peakSpike", "pigtails", "purpleHair", "redMohawk", "stringyHair", "straightHair",
    "straightHairBlonde", "straightHairDark", "vampireHair", "wildBlonde", "wildHair",
    "wildWhiteHair",
}  # fmt: skip
#: Colour words inside hair labels, replaced by the colour the reader sees.
_HAIR_COLOURS = {"blonde", "dark", "green", "orange", "purple", "red", "white"}
#: Labels that are kinds of figure rather than things worn.
_KINDS = {"alien", "ape", "zombie", "male", "female"}


#: A label's words: "clownNose" -> clown, Nose; "3DGlasses" -> 3D, Glasses; "vr" -> vr.
_LABEL_WORD = re.compile(r"\d+[A-Z]+(?![a-z])|\d+|[A-Z]?[a-z]+|[A-Z]+(?![a-z])")


def label_words(label: str) -> str:
    """A package label in caption words: "clownNose" -> "clown nose"."""
    return " ".join(_LABEL_WORD.findall(label)).lower()


@dataclass(frozen=True)
class PunkReading:
    """What a caption says of one punk whatever it is set on: its kind (male, female,
    zombie, ape, alien), hair, skin and the things it wears."""

    punk: Punk
    kind: str
    hair: str | None
    skin: str
    worn: tuple[str, ...]


def read_punk(punk: Punk) -> PunkReading:
    names = analyze(Image.fromarray(punk.on(PUNK_BLUE))).color_names()
    hair = None
    worn = []
    for label in punk.labels:
        if label in _KINDS:
            continue
        words = label_words(label)
        if label in _HAIR:
            style = [w for w in words.split() if w not in _HAIR_COLOURS] or ["hair"]
            if "hair" not in style and style[-1] not in {"mohawk", "pigtails", "bob"}:
                style.append("hair")
            hair = " ".join([names["hair"] or words.split()[0], *style])
        else:
            worn.append(words)
    return PunkReading(punk, punk.type, hair, names["skin"] or "pale", tuple(worn))


def punk_example(reading: PunkReading, rng: np.random.Generator) -> tuple[np.ndarray, str]:
    """One punk on a random background of the generator's, facing a random way, with a
    caption in the generic corpus's manner. (24, 24, 3) uint8."""
    ground = random_portrait(rng, wide_palette())
    image = reading.punk.on(background(ground, rng))
    facing = "right"
    if rng.random() < 0.5:
        image, facing = image[:, ::-1].copy(), "left"
    long = rng.random() < LONG_FORM
    parts = [
        said("background", f"{background_phrase(ground)} background", long),
        said("skin", f"{reading.skin} skin", long),
    ]
    if reading.hair:  # a punk without a hair label is bald or wears something over it
        parts.append(said("hair", reading.hair, long))
    optional = [reading.kind, f"looking {facing}", *reading.worn]
    return image, assembled(parts, optional, long, rng)


@cache
def _reading(index: int) -> PunkReading:
    return read_punk(load_punks(range(index, index + 1))[0])


def punk_corpus(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`count` examples drawn from punks 0-3999 (each punk read once), as uint8 (N, 24,
    24, 3) with captions; the same for the same seed."""
    rng = np.random.default_rng(seed)
    images, captions = [], []
    for index in rng.integers(DEVELOPMENT.start, DEVELOPMENT.stop, size=count):
        image, caption = punk_example(_reading(int(index)), rng)
        images.append(image)
        captions.append(caption)
    return np.stack(images), captions
