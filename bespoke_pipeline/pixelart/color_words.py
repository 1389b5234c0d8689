"""Colour words as artists write them, resolved to regions of CIELAB.

The one resolver for every colour phrase the project reads: user captions, prompts and the
metrics that judge samples against them. The vocabulary is the XKCD colour survey (949
names people actually use, shipped with matplotlib) with CSS4 as a fallback and a few hair
and skin words neither has ("blonde", "ginger", "nude", "medium").

A name stands for a *family*, not one point: "green" is every survey colour whose name ends
in "green" (kiwi green, sea green, dark green, ...), because that is the range of colours
people call green. A phrase agrees with a pixel colour when some member of its family lies
within `TOLERANCE` (CIEDE2000) of it. Modifiers (light, warm, vibrant, ...) that do not form
a survey name of their own shift the family in their direction and keep the plain family
too: a caption's "warm copper" is never wrong about a plain copper.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from matplotlib import colors as mpl_colors

from bespoke_pipeline.pixelart.colors import delta_e_2000, hex_to_lab, lab_to_hex

#: A phrase agrees with a colour this close (CIEDE2000) to a member of its family. About
#: the distance between neighbouring survey names of one family ("green" to "kiwi green"
#: is 15): it tolerates shading and the artist's own shade, not a different hue.
TOLERANCE = 15.0

#: Beyond this (CIEDE2000) from every member of its family no viewer would give a colour
#: that name: a clear contradiction, whatever the hue.
CLEARLY_OTHER = 30.0
#: Between `TOLERANCE` and `CLEARLY_OTHER` a colour is still plausibly named so when its hue
#: lies this close (degrees of CIELAB hue) to a family member's: artists name a family by
#: its hue ("vibrant emerald green" over #05db73, "mint" over a pale aqua), and a colour of
#: another hue at that distance is another colour ("purple" over salmon).
PLAUSIBLE_HUE = 35.0
#: Below this CIELAB chroma a colour is greyish and its hue says little: it is plausible
#: only a little beyond `TOLERANCE` of a member.
GREYISH_CHROMA = 12.0
GREYISH_MARGIN = 7.0

#: Words both survey lists lack that artists use for hair and skin.
_SUPPLEMENT = {
    "blonde": "#e8c55a",
    "blond": "#e8c55a",
    "platinum": "#e5e4e2",
    "ginger": "#c4581f",
    "brunette": "#4b3621",
    "nude": "#c98f7e",
    "ebony": "#4a2a18",
    "metal": "#a8a9ad",
}
#: Skin tone words read as skin tones, not as the survey's colours ("light", "dark" and
#: "pale" are modifiers elsewhere; "tan" and "olive" are other colours there).
SKIN_TONES = {
    "pale": "#f7e3d3",
    "fair": "#f1d1b5",
    "light": "#eac2a3",
    "medium": "#c68e6a",
    "tan": "#c98e5e",
    "olive": "#a8834f",
    "brown": "#8d5524",
    "dark": "#8f5a38",
    "deep": "#5c3a21",
    "ebony": "#4a2a18",
}

#: Lab shift (dL, chroma factor, da, db) of each modifier that is not part of a survey name.
_MODIFIERS: dict[str, tuple[float, float, float, float]] = {
    "light": (12, 1.0, 0, 0),
    "dark": (-12, 1.0, 0, 0),
    "pale": (12, 0.7, 0, 0),
    "pastel": (15, 0.6, 0, 0),
    "soft": (6, 0.75, 0, 0),
    "muted": (0, 0.7, 0, 0),
    "dusty": (0, 0.7, 0, 0),
    "deep": (-10, 1.15, 0, 0),
    "rich": (-5, 1.15, 0, 0),
    "bright": (5, 1.2, 0, 0),
    "vibrant": (3, 1.25, 0, 0),
    "vivid": (3, 1.25, 0, 0),
    "neon": (8, 1.3, 0, 0),
    "electric": (5, 1.3, 0, 0),
    "warm": (0, 1.0, 4, 8),
    "cool": (0, 1.0, -3, -8),
    "medium": (0, 1.0, 0, 0),
    "mid": (0, 1.0, 0, 0),
    "metallic": (0, 0.8, 0, 0),
    "natural": (0, 1.0, 0, 0),
}
#: Pattern words: what kind of region, not which colour.
KIND_WORDS = {
    "solid": "flat",
    "flat": "flat",
    "plain": "flat",
    "gradient": "gradient",
    "ombre": "gradient",
    "fade": "gradient",
    "striped": "striped",
    "stripes": "striped",
    "stripe": "striped",
    "bands": "striped",
    "banded": "striped",
    "rainbow": "striped",
    "checkered": "checkered",
    "checker": "checkered",
    "checkerboard": "checkered",
    "checked": "checkered",
    "plaid": "checkered",
    "split": "split",
    "two-tone": "split",
    "brick": "pattern",
    "bricks": "pattern",
    "pattern": "pattern",
    "patterned": "pattern",
    "textured": "pattern",
    "dotted": "pattern",
    "scenery": "pattern",
}
_NOISE = {
    "a",
    "an",
    "the",
    "of",
    "with",
    "in",
    "at",
    "on",
    "colored",
    "coloured",
    "color",
    "colour",
    "tone",
    "toned",
    "tones",
    "shade",
    "shades",
    "ish",
    "tinted",
    "tint",
    "accents",
    "accent",
    "horizontal",
    "vertical",
    "diagonal",
    "background",
    "hair",
    "skin",
    "eyes",
    "iris",
    "lips",
    "collar",
    "highlights",
    "highlight",
    "texture",
    "details",
    "detail",
    "pixel",
    "pixels",
}
_JOINERS = {"and", "to", "into", "from", "&", "+", "then"}
_ALTERNATIVES = re.compile(r"\s*(?:/|\bor\b)\s*")
_MAX_NAME_WORDS = 4


@dataclass(frozen=True)
class NamedColour:
    """One colour a phrase names: the word(s) it matched, its family's Lab points and the
    one colour the words name exactly (what the generator paints for them)."""

    name: str
    lab: np.ndarray  # (N, 3)
    centre: np.ndarray  # (3,)

    def distance(self, lab: np.ndarray) -> np.ndarray:
        """CIEDE2000 from each of `lab` (M, 3) to the nearest family member."""
        return delta_e_2000(self.lab[None, :, :], lab[:, None, :]).min(axis=1)

    def plausibly(self, lab: np.ndarray) -> np.ndarray:
        """For each of `lab` (M, 3): could a person name it so? When a family member lies
        within `TOLERANCE`, yes; within `CLEARLY_OTHER` and of the member's hue (both
        coloured, not greyish), yes; a greyish colour a little beyond the tolerance of a
        greyish member, yes."""
        distance = delta_e_2000(self.lab[None, :, :], lab[:, None, :])  # (M, members)
        hue = np.arctan2(lab[:, 2], lab[:, 1])[:, None]
        member_hue = np.arctan2(self.lab[:, 2], self.lab[:, 1])[None, :]
        turn = np.degrees(np.abs(np.angle(np.exp(1j * (hue - member_hue)))))
        grey = (np.hypot(lab[:, 1], lab[:, 2]) < GREYISH_CHROMA)[:, None]
        grey_member = (np.hypot(self.lab[:, 1], self.lab[:, 2]) < GREYISH_CHROMA)[None, :]
        same_hue = ~grey & ~grey_member & (turn <= PLAUSIBLE_HUE) & (distance < CLEARLY_OTHER)
        greyish = grey & grey_member & (distance <= TOLERANCE + GREYISH_MARGIN)
        return ((distance <= TOLERANCE) | same_hue | greyish).any(axis=1)


@dataclass(frozen=True)
class ColourPhrase:
    """What a colour phrase says. `any_of`: alternatives ("white/gray"), one must be there;
    otherwise every colour must be ("teal-to-green", "beige and coral")."""

    text: str
    colours: tuple[NamedColour, ...]
    any_of: bool
    kinds: frozenset[str]
    unknown: tuple[str, ...]

    @property
    def names(self) -> str:
        return (" or " if self.any_of else " and ").join(c.name for c in self.colours)

    def agrees_with(self, observed: Sequence[str], tolerance: float = TOLERANCE) -> bool:
        """True when the observed colours (hex) show what the phrase names."""
        if not self.colours or not observed:
            return False
        lab = hex_to_lab(list(observed))
        hits = [bool((c.distance(lab) <= tolerance).any()) for c in self.colours]
        return any(hits) if self.any_of else all(hits)

    def contradicted_by(self, observed: Sequence[str]) -> bool:
        """True when no colour the phrase names could be what a person calls any observed
        colour (hex): the test a caption must fail to be flagged, since a flag tells the
        artist their own words are wrong. A phrase naming several colours ("purple with
        green accent") is contradicted only when none of them is there."""
        if not self.colours or not observed:
            return False
        lab = hex_to_lab(list(observed))
        return not any(bool(c.plausibly(lab).any()) for c in self.colours)


@lru_cache(maxsize=1)
def vocabulary() -> dict[str, str]:
    """Every colour name the resolver knows -> hex ("grey" spelled the survey's way)."""
    names = {n.lower(): h for n, h in mpl_colors.CSS4_COLORS.items()}
    names |= {n.removeprefix("xkcd:"): h for n, h in mpl_colors.XKCD_COLORS.items()}
    return names | _SUPPLEMENT


def known_words() -> set[str]:
    """Every word the resolver reads: names (split into words), modifiers, kinds, tones."""
    words = {w for name in vocabulary() for w in normalise(name).split()}
    return words | set(_MODIFIERS) | set(KIND_WORDS) | set(SKIN_TONES) | _JOINERS | _NOISE


@lru_cache(maxsize=2048)
def _family(name: str) -> np.ndarray:
    members = [h for n, h in vocabulary().items() if n == name or n.endswith(" " + name)]
    return hex_to_lab(members)


def _shifted(lab: np.ndarray, modifiers: Iterable[str]) -> np.ndarray:
    out = lab.copy()
    for word in modifiers:
        d_l, chroma, d_a, d_b = _MODIFIERS[word]
        out[:, 0] = np.clip(out[:, 0] + d_l, 0, 100)
        out[:, 1:] *= chroma
        out[:, 1] += d_a
        out[:, 2] += d_b
    return out


def normalise(text: str) -> str:
    """Lower case, one spelling of grey, hyphens and en dashes as word breaks except in
    "two-tone"; "-to-" becomes " to "."""
    text = text.lower().replace("–", "-").replace("gray", "grey")
    text = text.replace("two-tone", "two_tone")
    text = re.sub(r"[^a-z0-9/&+_'\s-]", " ", text)
    text = re.sub(r"\s*-\s*", " ", text)
    return " ".join(text.replace("two_tone", "two-tone").split())


@lru_cache(maxsize=4096)
def resolve(phrase: str, skin: bool = False) -> ColourPhrase:
    """Read a colour phrase. `skin`: the phrase describes skin, where "light" or "tan" are
    tones of their own. Words it cannot read are listed in `unknown`, never raised."""
    text = normalise(phrase)
    groups = [g for g in _ALTERNATIVES.split(text) if g]
    colours: list[NamedColour] = []
    kinds: set[str] = set()
    unknown: list[str] = []
    for group in groups:
        found, group_kinds, group_unknown = _read_words(group.split(), skin)
        colours += found
        kinds |= group_kinds
        unknown += group_unknown
    return ColourPhrase(phrase, tuple(colours), len(groups) > 1, frozenset(kinds), tuple(unknown))


def _read_words(words: list[str], skin: bool) -> tuple[list[NamedColour], set[str], list[str]]:
    colours: list[NamedColour] = []
    kinds: set[str] = set()
    unknown: list[str] = []
    modifiers: list[str] = []
    joined = True  # a joiner ("and", "to") separates colours; adjacent names are one colour
    i = 0
    while i < len(words):
        matched = _longest_name(words, i, skin)
        if matched:
            name, i = matched
            colour = _named(name, modifiers, skin)
            if colours and not joined:  # "sandy beige", "light gray silver"
                previous = colours.pop()
                colour = NamedColour(
                    f"{previous.name} {colour.name}",
                    np.concatenate([previous.lab, colour.lab]),
                    (previous.centre + colour.centre) / 2,
                )
            colours.append(colour)
            modifiers, joined = [], False
            continue
        word = words[i]
        if word in _MODIFIERS:
            modifiers.append(word)
        else:  # any other word between two names keeps them two colours
            joined = True
            if word in KIND_WORDS:
                kinds.add(KIND_WORDS[word])
            elif word not in _JOINERS and word not in _NOISE:
                unknown.append(word)
        i += 1
    if modifiers and not colours:
        lone = _lone_modifier(modifiers[-1], skin)
        if lone:
            colours.append(lone)
        else:
            unknown.append(modifiers[-1])
    return colours, kinds, unknown


#: A modifier standing alone ("dark eyes") names the colours it means on its own.
_LONE_MODIFIERS = {
    "dark": ("black", "dark", "dark brown", "dark grey", "dark blue"),
    "light": ("white", "light grey", "pale"),
    "pale": ("white", "pale", "light grey"),
}


def _lone_modifier(word: str, skin: bool) -> NamedColour | None:
    if skin and word in SKIN_TONES:  # "light skin tone": the modifier is the tone
        return _named(word, [], skin)
    if word not in _LONE_MODIFIERS:
        return None
    known = vocabulary()
    lab = hex_to_lab([known[n] for n in _LONE_MODIFIERS[word]])
    return NamedColour(word, lab, lab[0])


def _longest_name(words: list[str], start: int, skin: bool) -> tuple[str, int] | None:
    if skin and words[start] in SKIN_TONES:  # "light tan skin": two tones, not xkcd's "light tan"
        return words[start], start + 1
    known = vocabulary()
    for end in range(min(len(words), start + _MAX_NAME_WORDS), start, -1):
        candidate = " ".join(words[start:end])
        if (skin and candidate in SKIN_TONES) or (
            candidate in known and candidate not in _MODIFIERS
        ):
            return candidate, end
    return None


def _named(name: str, modifiers: list[str], skin: bool) -> NamedColour:
    tone = skin and name in SKIN_TONES
    base = hex_to_lab([SKIN_TONES[name]]) if tone else _family(name)
    centre = hex_to_lab([SKIN_TONES[name] if tone else vocabulary()[name]])
    if not modifiers:
        return NamedColour(name, base, centre[0])
    label = " ".join([*modifiers, name])
    shifted = _shifted(centre, modifiers)[0]
    return NamedColour(label, np.concatenate([base, _shifted(base, modifiers)]), shifted)


@lru_cache(maxsize=4096)
def colour_of(phrase: str, skin: bool = False) -> str:
    """The colour a phrase names exactly (its first colour): what to paint for the words
    (cached: the generator asks for the same words thousands of times)."""
    resolved = resolve(phrase, skin)
    if not resolved.colours:
        raise ValueError(f"'{phrase}' names no colour the resolver knows")
    return lab_to_hex(resolved.colours[0].centre)


#: Names used to describe a colour to a person (messages, reports): common words only,
#: each resolved like any caption word.
DESCRIPTIVE_NAMES = (
    "black",
    "white",
    "grey",
    "light grey",
    "dark grey",
    "silver",
    "red",
    "dark red",
    "maroon",
    "pink",
    "light pink",
    "hot pink",
    "magenta",
    "purple",
    "lavender",
    "violet",
    "dark purple",
    "blue",
    "light blue",
    "sky blue",
    "dark blue",
    "navy",
    "cyan",
    "teal",
    "turquoise",
    "mint",
    "green",
    "light green",
    "dark green",
    "lime",
    "olive",
    "yellow",
    "gold",
    "cream",
    "beige",
    "tan",
    "peach",
    "orange",
    "coral",
    "salmon",
    "brown",
    "light brown",
    "dark brown",
    "copper",
    "rust",
    "brick red",
)


@lru_cache(maxsize=1)
def _descriptive_lab() -> np.ndarray:
    known = vocabulary()
    return hex_to_lab([known[n] for n in DESCRIPTIVE_NAMES])


def describe(hex_color: str) -> str:
    """The common colour word nearest to a colour, for people reading a report."""
    distances = delta_e_2000(_descriptive_lab(), hex_to_lab([hex_color]))
    return DESCRIPTIVE_NAMES[int(np.argmin(distances))]
