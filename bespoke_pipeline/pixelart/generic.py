"""Generic punks: the pretraining corpus of the embedded base model.

The same world as the bespoke punks (outlined heads, shaded hair, patterned backgrounds),
but not their layout or their words: the figure sits up to 2 px off centre and looks either
way, colours range over every name the shared resolver knows, and captions list attributes
in any order, at any length, behind any of several openings or none, with no trigger and no
coordinates. So the text encoder learns each colour word wherever it stands, and a LoRA
trained on bespoke punks still has the bespoke layout, trigger and template to learn.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart.caption import background_phrase
from bespoke_pipeline.pixelart.color_words import DESCRIPTIVE_NAMES, vocabulary
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.synth import (
    BESPOKE,
    EYE_WORDS,
    HAIR_WORDS,
    LIP_WORDS,
    SKIN_WORDS,
    Palette,
    draw,
    random_portrait,
)

MAX_SHIFT_X = 2
MAX_SHIFT_Y = 1
OPENINGS = (
    "",
    "pixel art portrait",
    "a pixel art portrait of a punk",
    "24x24 pixel portrait",
    "portrait",
    "pixel punk",
    "a character portrait",
    "punk avatar, pixel art",
)
FILLERS = (
    "pixel art",
    "clean color boundaries",
    "hard edges",
    "no anti-aliasing",
    "flat colors",
    "symbolic punk style",
    "retro game sprite",
    "crisp pixels",
)
#: Optional parts are left out this often, so the model learns to fill in what is unsaid.
LEAVE_OUT = 0.25
#: This share of captions is written long, as the bespoke template is (to 150 tokens), so
#: every position of the text encoder is trained.
LONG_FORM = 0.35
_LONG = {
    "hair": "{} with darker shading around the head",
    "skin": "{} tone with the jaw clearly defined",
    "lips": "{} across the mouth",
    "eyes": "{} beside the black pupils",
    "collar": "{} at the bottom edge of the portrait",
    "background": "{} behind the whole figure",
}
_LONG_FILLERS = (
    "pure pixel art with no gradients or anti-aliasing",
    "all features contained within the center of the grid",
    "every color a flat block with clean boundaries",
    "drawn one pixel at a time",
    "a black outline around the face and the shoulders",
    "small dark pupils with colored irises beside them",
    "a single dark dot for the nose",
    "simple shapes with strong contrast between the parts",
    "the head and shoulders seen from the side",
    "in the style of classic collectible punk portraits",
)


#: Share of colour slots filled with common words (the descriptive names and the demo's
#: kind of words); the rest range over every survey name. Spread evenly over ~950 names,
#: each word is rare, and a model that learned none of them in 5,000 steps gets the words
#: people mostly write first.
COMMON_SHARE = 0.75


def _mostly_common(common: tuple[str, ...], every: tuple[str, ...]) -> tuple[str, ...]:
    """A tuple to draw from uniformly in which `common` makes up COMMON_SHARE."""
    common = tuple(sorted(set(common)))
    repeats = round(COMMON_SHARE / (1 - COMMON_SHARE) * len(every) / len(common))
    return common * max(1, repeats) + every


def wide_palette() -> Palette:
    """Every name the resolver knows for the things that can be any colour, mostly the
    common ones; the usual words (and more) for hair, eyes, lips and skin."""
    names = tuple(sorted(n for n in vocabulary() if n.isascii() and "/" not in n))
    return replace(
        BESPOKE,
        background=_mostly_common((*DESCRIPTIVE_NAMES, *BESPOKE.background), names),
        shirt=_mostly_common((*DESCRIPTIVE_NAMES, *BESPOKE.shirt), names),
        hat=_mostly_common((*DESCRIPTIVE_NAMES, *BESPOKE.hat), names),
        accent=_mostly_common((*DESCRIPTIVE_NAMES, *BESPOKE.accent), names),
        hair=(*HAIR_WORDS, *names[::7]),
        eyes=(*EYE_WORDS, *names[::11]),
        lips=(*LIP_WORDS, *names[::13]),
        skin=SKIN_WORDS,
    )


def said(part: str, text: str, long: bool) -> str:
    """A part as a short or a long caption says it."""
    return _LONG[part].format(text) if long else text


def generic_caption(portrait: Portrait, rng: np.random.Generator) -> str:
    words = {**portrait.color_names(), **dict(portrait.words)}
    long = rng.random() < LONG_FORM

    hair = f"{words['hair']} {portrait.hair_style} hair" if portrait.hair_style else "bald"
    parts = [
        said("background", f"{background_phrase(portrait)} background", long),
        said("hair", hair, long) if portrait.hair_style else hair,
        said("skin", f"{words['skin']} skin", long),
    ]
    optional = [
        portrait.sex,
        said("lips", f"{words['lips']} lips", long),
        f"looking {portrait.facing}",
    ]
    if portrait.eyes:
        optional.append(said("eyes", f"{words['eyes']} eyes", long))
    if words["collar"]:
        garment = "shirt" if rng.random() < 0.5 else "collar"
        optional.append(said("collar", f"{words['collar']} {garment}", long))
    if portrait.beard:
        optional.append(f"{words['beard']} beard")
    if portrait.eyewear_style:
        optional.append(f"{words.get('eyewear', 'black')} {portrait.eyewear_style}")
    if portrait.headwear_style:
        optional.append(f"{words['headwear_color']} {portrait.headwear_style}")
    if portrait.earring:
        optional.append("gold earring")
    return assembled(parts, optional, long, rng)


def assembled(parts: list[str], optional: list[str], long: bool, rng: np.random.Generator) -> str:
    """A caption of `parts`, some of `optional` and some fillers, in random order behind a
    random opening: so no word is tied to a position."""
    parts = parts + [p for p in optional if rng.random() >= LEAVE_OUT]
    parts += [FILLERS[i] for i in rng.permutation(len(FILLERS))[: int(rng.integers(0, 4))]]
    if long:
        chosen = rng.permutation(len(_LONG_FILLERS))[: int(rng.integers(4, len(_LONG_FILLERS) + 1))]
        parts += [_LONG_FILLERS[i] for i in chosen]
    parts = [parts[i] for i in rng.permutation(len(parts))]
    opening = OPENINGS[int(rng.integers(len(OPENINGS)))]
    return ", ".join([opening, *parts] if opening else parts)


def generic_punk(
    rng: np.random.Generator, palette: Palette | None = None
) -> tuple[Image.Image, str, Portrait]:
    portrait = random_portrait(rng, palette or wide_palette())
    portrait = replace(portrait, facing="left" if rng.random() < 0.5 else "right")
    offset = (
        int(rng.integers(-MAX_SHIFT_X, MAX_SHIFT_X + 1)),
        int(rng.integers(-MAX_SHIFT_Y, MAX_SHIFT_Y + 1)),
    )
    image = draw(portrait, seed=int(rng.integers(2**31)), offset=offset)
    return image, generic_caption(portrait, rng), portrait


def generic_corpus(count: int, seed: int) -> tuple[np.ndarray, list[str]]:
    """`count` images as a uint8 array (N, 24, 24, 3) with their captions."""
    rng = np.random.default_rng(seed)
    palette = wide_palette()
    images, captions = [], []
    for _ in range(count):
        image, caption, _ = generic_punk(rng, palette)
        images.append(np.asarray(image))
        captions.append(caption)
    return np.stack(images), captions
