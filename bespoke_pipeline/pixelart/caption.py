"""Captions in the user's coordinate template: rendering, parsing and checking.

The template is the one from the user's Replicate notes; the trigger word leads, as in their
test prompts ("TOK bespoke, 24x24 pixel grid portrait, ..."). Parsing is tolerant of the
short forms people write by hand ("brown hair, blue eyes, light skin tone") and of the
artist's own words ("black hair with dark gray cap featuring L logo", "gradient
teal-to-green striped background"), because a user's own caption is used verbatim and only
checked, never rewritten. Colour phrases are kept as written and resolved by
`color_words`, so a word outside any list is an unreadable attribute, not an error.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields, replace
from typing import Literal

import numpy as np

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.color_words import (
    CLEARLY_OTHER,
    KIND_WORDS,
    ColourPhrase,
    describe,
    resolve,
)
from bespoke_pipeline.pixelart.colors import delta_e_2000, hex_to_lab, lab_to_hex
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.regions import Regions

DEFAULT_TRIGGER = "TOK"
#: The user's three test prompts (reference notes), verbatim: every epoch is sampled on them.
REFERENCE_PROMPTS = {
    "basic": "TOK bespoke, 24x24 pixel grid portrait, female, purple solid background, brown "
    "hair, blue eyes, light skin tone, right-facing",
    "advanced_coordinate": "TOK bespoke, 24x24 pixel grid portrait, symbolic punk style, "
    "vibrant orange solid background, black hair starting at y=3 extending to y=17, black "
    "pupils fixed at (8,12) and (13,12), brown iris eyes at (9,12) and (14,12), black nose dot "
    "at (11,13), pink lips spanning x=10-13 y=15-16, tan skin tone with jaw defined at y=19, "
    "blue collar at bottom edge y=20-22, right-facing, pure pixel art with no gradients or "
    "anti-aliasing",
    "accessory": "TOK bespoke, 24x24 pixel art, male, glasses spanning x=7-16 y=11-13, black "
    "hair, green solid background, right-facing profile",
}

STYLE_WORD = "bespoke"

# The template's own words and coordinates, as the artist's captions quote them.
_PUPILS = "black pupils fixed at ({},{}) and ({},{})".format(
    *layout.STATED_PUPILS[0], *layout.STATED_PUPILS[1]
)
_IRISES = "iris eyes at ({},{}) and ({},{})".format(
    *layout.STATED_IRISES[0], *layout.STATED_IRISES[1]
)
_NOSE = "black nose dot at ({},{})".format(*layout.STATED_NOSE)
_LIPS = f"lips spanning {layout.STATED_LIPS}"
_JAW = f"jaw defined at y={layout.JAW_ROW}"
_BOTTOM = f"at bottom edge {layout.STATED_COLLAR}"
_CLOSING = (
    "pure pixel art with no gradients or anti-aliasing",
    "clean color boundaries",
    "all features contained within 22x22 center grid",
)
#: How a caption names a background of each kind, from its two colour words.
_BACKGROUND_PHRASES = {
    "flat": "{a}",
    "gradient": "gradient from {a} to {b}",
    "striped": "{a} and {b} striped",
    "checkered": "{a} and {b} checkered",
    "split": "{a} and {b} split",
    "pattern": "{a} brick with {b} mortar",
}
#: How a caption names a hat, from its main and accent colour words.
_HEADWEAR_PHRASES = {
    "cap": "{a} cap featuring {b} logo",
    "beanie": "{a} beanie with {b} stripe",
    "bandana": "{a}/{b} bandana",
    "crown": "{a} crown with {b} gems",
}


@dataclass(frozen=True)
class CaptionAttributes:
    """What a caption states, colours as the phrases written. None means "not stated",
    which is never a contradiction."""

    sex: str | None = None
    background: str | None = None  # a colour phrase ("gradient teal-to-green"), "transparent"
    hair: str | None = None  # a colour phrase, or "bald"
    hair_style: str | None = None
    eyes: str | None = None
    lips: str | None = None
    skin: str | None = None
    collar: str | None = None  # a colour phrase, or "none" (bare neck)
    eyewear_style: str | None = None
    headwear_style: str | None = None
    headwear_color: str | None = None
    earring: bool | None = None
    beard: str | None = None
    facing: str | None = None

    def stated(self) -> dict[str, object]:
        return {f.name: v for f in fields(self) if (v := getattr(self, f.name)) is not None}

    @classmethod
    def of(cls, portrait: Portrait) -> CaptionAttributes:
        """Everything a full template caption of `portrait` states (accessories are
        mentioned only when worn)."""
        names = portrait.color_names()
        return cls(
            sex=portrait.sex,
            background=background_phrase(portrait),
            hair=names["hair"] or "bald",
            hair_style=portrait.hair_style,
            eyes=names["eyes"],
            lips=names["lips"],
            skin=names["skin"],
            collar=names["collar"] or "none",
            eyewear_style=portrait.eyewear_style,
            headwear_style=portrait.headwear_style,
            headwear_color=_headwear_colour(portrait),
            earring=True if portrait.earring else None,
            beard=names["beard"],
            facing=portrait.facing,
        )


def _words(portrait: Portrait) -> dict[str, str | None]:
    return {**portrait.color_names(), **dict(portrait.words)}


def background_phrase(portrait: Portrait) -> str:
    """The background as a caption says it (without "background"), e.g. "gradient from
    teal to lime green"; "transparent" when there is none."""
    words = _words(portrait)
    if words["background"] is None:
        return "transparent"
    if portrait.background_kind == "flat" or not portrait.background_end:
        return str(words["background"])
    end = words.get("background_end") or describe(portrait.background_end)
    return _BACKGROUND_PHRASES[portrait.background_kind].format(a=words["background"], b=end)


def _headwear_colour(portrait: Portrait) -> str | None:
    """The hat's colour words as a caption reads back: the main one (a bandana names two)."""
    words = _words(portrait)
    if not portrait.headwear_style or not words["headwear_color"]:
        return None
    if portrait.headwear_style == "bandana":
        return f"{words['headwear_color']}/{words.get('headwear_accent') or 'white'}"
    return words["headwear_color"]


def render_caption(portrait: Portrait, trigger: str = DEFAULT_TRIGGER) -> str:
    """The reference template in the portrait's own words. Coordinates are the template's,
    as in the artist's captions, wherever the pixels are (the dataset profile says so)."""
    words = _words(portrait)
    lead = STYLE_WORD if trigger == STYLE_WORD else f"{trigger} {STYLE_WORD}"
    parts = [lead, "24x24 pixel grid portrait", portrait.sex, "symbolic punk style"]
    background = background_phrase(portrait)
    flat = words["background"] and (
        portrait.background_kind == "flat" or not portrait.background_end
    )
    parts.append(f"{background} solid background" if flat else f"{background} background")
    if portrait.hair_style:
        bottom = layout.hair_bottom(portrait.hair_style)
        parts.append(
            f"{words['hair']} {portrait.hair_style} hair with darker shading starting at "
            f"y={layout.HAIR_TOP} extending to y={bottom}"
        )
    else:
        parts.append("bald head")
    if portrait.eyewear_style == "shades":
        lens = words.get("eyewear") or "black"
        parts.append(f"{lens} shades spanning {layout.GLASSES_SPAN} covering the eyes")
    else:
        parts += [_PUPILS, f"{words['eyes']} {_IRISES}"]
    parts += [_NOSE, f"{words['lips']} {_LIPS}"]
    beard = f" with {words['beard']} beard at {layout.BEARD_SPAN}" if words["beard"] else ""
    parts += [f"{words['skin']} skin tone{beard}", _JAW]
    parts.append(
        f"{words['collar']} collar {_BOTTOM}" if words["collar"] else f"bare neck {_BOTTOM}"
    )
    if portrait.eyewear_style == "glasses":
        parts.append(f"{words.get('eyewear') or 'black'} glasses spanning {layout.GLASSES_SPAN}")
    if portrait.headwear_style:
        hat = _HEADWEAR_PHRASES[portrait.headwear_style].format(
            a=words["headwear_color"], b=words.get("headwear_accent") or "white"
        )
        parts.append(f"{hat} on head spanning {layout.HEADWEAR_SPAN[portrait.headwear_style]}")
    if portrait.earring:
        parts.append("gold earring at ({},{})".format(*layout.EARRING))
    parts.append(f"{portrait.facing}-facing")
    parts += _CLOSING
    return ", ".join(parts)


_HAIR_STYLES = "|".join(layout.HAIR_STYLES)
_HEADWEAR_WORDS = (
    "cap|beanie|hat|crown|bandana|helmet|hood|headband|tiara|beret|headscarf|turban|visor|"
    "headwear|headpiece"
)
_CLOTHES = "collar|shirt|top|jacket|hoodie|sweater|clothing|clothes|suit|tie"
# First match wins, so the more specific patterns come first ("black shades ... covering
# the eyes" must not be read as an eye colour).
_CLAUSES: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("facing", r"\b(?P<facing>right|left)[- ]facing\b"),
        ("sex", r"^(?P<sex>male|female)$"),
        ("shades", r"\b(?:shades|sunglasses)\b"),
        ("glasses", r"\b(?:glasses|spectacles|goggles|monocle)\b"),
        ("headwear", rf"^(?:(?:an?|the) )?(?P<color>.*?)\s*\b(?P<kind>{_HEADWEAR_WORDS})\b"),
        ("earring", r"\bearrings?\b"),
        ("beard", r"^(?P<color>.+?) (?:beard|goatee|mustache|moustache|stubble)\b"),
        ("bald", r"\bbald\b"),
        ("hair", rf"^(?P<color>.+?) (?:(?P<style>{_HAIR_STYLES}) )?hair\b"),
        ("eyes", r"^(?P<color>.+?) (?:(?:iris(?:es)? )?eyes|irises)\b"),
        ("lips", r"^(?P<color>.+?) lips\b"),
        ("skin", r"^(?P<color>.+?) skin\b"),
        ("bare_neck", r"\bbare neck\b"),
        ("collar", rf"^(?P<color>.+?) (?:{_CLOTHES}|accent at bottom edge)\b"),
    )
)
#: Commas separate segments, except inside coordinates such as "(8,12)".
_SEGMENT_SPLIT = re.compile(r",(?![^()]*\))")
_CLAUSE_SPLIT = re.compile(r"\s+(?:with|featuring|and a|plus)\s+")
_COORDINATES = {
    "pupils": re.compile(r"pupils[^,]*?\((\d+),\s*(\d+)\)\s*and\s*\((\d+),\s*(\d+)\)"),
    "irises": re.compile(r"iris(?:es)?\b[^,]*?\((\d+),\s*(\d+)\)\s*and\s*\((\d+),\s*(\d+)\)"),
    "nose": re.compile(r"nose[^,]*?\((\d+),\s*(\d+)\)"),
    "mouth_rows": re.compile(r"lips[^,]*?y=(\d+)(?:\s*[-–]\s*(\d+))?"),
    "collar_rows": re.compile(r"bottom edge y=(\d+)\s*[-–]\s*(\d+)"),
}


@dataclass(frozen=True)
class ParsedCaption:
    attributes: CaptionAttributes
    #: Coordinates the caption states ("pupils fixed at (8,12) and (13,12)"): compared with
    #: the set's layout profile once, not with each image.
    layout: dict[str, tuple[int, ...]]
    #: (attribute, word) for colour words that left an attribute unreadable.
    unknown_words: tuple[tuple[str, str], ...]


def parse_caption(text: str) -> ParsedCaption:
    """Read the attributes and coordinates a caption states."""
    found: dict[str, object] = {}
    lowered = text.lower()
    for segment in (s.strip() for s in _SEGMENT_SPLIT.split(lowered)):
        if re.search(r"\bbackground\b", segment):
            found.setdefault("background", _background_phrase(segment))
            continue
        for clause in _CLAUSE_SPLIT.split(segment):
            for name, pattern in _CLAUSES:
                match = pattern.search(clause.strip())
                if match:
                    _read_clause(name, match, found)
                    break
    attributes = CaptionAttributes(**found)
    return ParsedCaption(attributes, _stated_layout(lowered), _unknown_words(attributes))


def _background_phrase(segment: str) -> str:
    if re.search(r"\btransparent\b", segment):
        return "transparent"
    # "solid" is the template's word over any background, gradients included: not a claim
    return " ".join(re.sub(r"\b(?:solid|background)\b", " ", segment).split())


def _read_clause(name: str, match: re.Match[str], found: dict[str, object]) -> None:
    def colour(field: str) -> None:
        phrase = " ".join(match.group("color").split())
        if phrase:
            found.setdefault(field, phrase)

    if name in ("shades", "glasses"):
        found.setdefault("eyewear_style", name)
    elif name == "headwear":
        found.setdefault("headwear_style", match.group("kind"))
        colour("headwear_color")
    elif name == "earring":
        found["earring"] = True
    elif name == "bald":
        found.setdefault("hair", "bald")
    elif name == "bare_neck":
        found.setdefault("collar", "none")
    elif name in ("sex", "facing"):
        found.setdefault(name, match.group(name))
    else:
        colour(name)
        if name == "hair" and match.group("style"):
            found.setdefault("hair_style", match.group("style"))


def _stated_layout(text: str) -> dict[str, tuple[int, ...]]:
    stated = {}
    for feature, pattern in _COORDINATES.items():
        match = pattern.search(text)
        if match:
            values = [int(v) for v in match.groups() if v is not None]
            stated[feature] = tuple(values)
    return stated


_COLOUR_FIELDS = ("background", "hair", "eyes", "lips", "skin", "collar", "headwear_color", "beard")
_NOT_COLOURS = {"transparent", "bald", "none"}


def _phrase(field: str, text: str) -> ColourPhrase:
    return resolve(text, skin=field == "skin")


def _unknown_words(attributes: CaptionAttributes) -> tuple[tuple[str, str], ...]:
    unknown = []
    for field in _COLOUR_FIELDS:
        text = getattr(attributes, field)
        if text is None or text in _NOT_COLOURS:
            continue
        phrase = _phrase(field, text)
        if not phrase.colours:
            unknown += [(_label(field), word) for word in phrase.unknown or (text,)]
    return tuple(unknown)


#: "close": not what the words name exactly, but what a person could call by them (a
#: neighbouring shade of the same hue). "doubtful": not what the words name, but not so
#: far off, or so alone, that the caption is surely wrong (see `_settle`). Neither is
#: flagged: a flag tells the artist their own words are wrong, and must be right.
Verdict = Literal["agrees", "close", "doubtful", "disagrees", "not stated", "unreadable"]


@dataclass(frozen=True)
class AttributeCheck:
    """One attribute of one caption against the pixels; the hex values are swatches."""

    attribute: str
    verdict: Verdict
    said: str | None = None
    seen: str | None = None
    said_hex: str | None = None
    seen_hex: str | None = None
    #: How far (CIEDE2000) the nearest colour seen lies from every colour the words name;
    #: `CLEARLY_OTHER` for a shape the pixels clearly contradict (eyewear, facing, kind).
    off_by: float | None = None

    def sentence(self) -> str:
        return f"caption says {self.attribute} '{self.said}' but the pixels show {self.seen}"


#: Every attribute the check reports on, in table order.
CHECKED = (
    "background",
    "background kind",
    "hair",
    "headwear",
    "eyes",
    "skin",
    "lips",
    "beard",
    "collar",
    "eyewear",
    "earring",
    "facing",
)


def check_caption(stated: CaptionAttributes, seen: Regions) -> list[AttributeCheck]:
    """Each attribute in `CHECKED`: does the caption's claim hold in the pixels?

    Colours agree within `color_words.TOLERANCE` of the region's shades. Hair and headwear
    are checked against every colour around the head, since a hat and the hair it covers
    are hard to tell apart on 24x24. "Solid" is not checked as a kind: the template says it
    over every background, gradients included; a gradient, stripes or checks stated over a
    flat background is a disagreement.
    """
    skin = [seen.skin]
    colour_claims = {
        "background": (stated.background, list(seen.background_colors)),
        # bald under a hat is still bald: only then is the hat left out
        "hair": (
            stated.hair,
            list(seen.hair_colors if stated.hair == "bald" else seen.head_colors),
        ),
        "headwear": (stated.headwear_color, list(seen.head_colors)),
        "eyes": (stated.eyes, list(seen.eye_colors)),
        "skin": (stated.skin, skin),
        "lips": (stated.lips, list(seen.lip_colors) or skin),
        "beard": (stated.beard, [seen.beard] if seen.beard else []),
        "collar": (stated.collar, list(seen.collar_colors)),
    }
    checks = []
    for attribute in CHECKED:
        if attribute in colour_claims:
            said, colours = colour_claims[attribute]
            checks.append(_colour_check(attribute, said, colours, seen))
        else:
            checks.append(_shape_check(attribute, stated, seen))
    return _settle(checks)


#: A caption is wrong beyond doubt when one attribute is this far from anything its words
#: could name, or two attributes are each at least `CLEARLY_OTHER` off: a region the reader
#: misplaces gives one wrong reading, rarely two, and never one this far off. Set on the
#: developed-on part of the real truth set (`data/reader-truth/`), where it flags only
#: captions the truth says are wrong.
BEYOND_DOUBT = 45.0


def _settle(checks: list[AttributeCheck]) -> list[AttributeCheck]:
    """Keep the contradictions of a caption that is wrong beyond doubt; make every other
    contradiction doubtful."""
    off = [c.off_by for c in checks if c.verdict == "disagrees" and c.off_by is not None]
    clear = [d for d in off if d >= CLEARLY_OTHER]
    if clear and (max(clear) >= BEYOND_DOUBT or len(clear) >= 2):
        return [_doubtful(c) if (c.off_by or 0) < CLEARLY_OTHER else c for c in checks]
    return [_doubtful(c) for c in checks]


def _doubtful(check: AttributeCheck) -> AttributeCheck:
    return replace(check, verdict="doubtful") if check.verdict == "disagrees" else check


def _colour_check(
    attribute: str, said: str | None, colours: list[str], seen: Regions
) -> AttributeCheck:
    field = {"headwear": "headwear_color", "eyes": "eyes"}.get(attribute, attribute)
    if said is None:
        return AttributeCheck(attribute, "not stated")
    if attribute == "eyes" and seen.eyewear == "shades":
        return AttributeCheck(attribute, "unreadable", said, "eyes hidden behind shades")
    if said in _NOT_COLOURS:
        present = bool(colours) if attribute != "background" else seen.background is not None
        shown = f"{colours[0]} ({describe(colours[0])})" if colours else "none"
        verdict: Verdict = "disagrees" if present else "agrees"
        return AttributeCheck(
            attribute, verdict, said, shown, None, colours[0] if colours else None
        )
    phrase = _phrase(field, said)
    if not phrase.colours:
        return AttributeCheck(attribute, "unreadable", said)
    if not colours:
        return AttributeCheck(attribute, "doubtful", said, "none", _swatch(phrase, None))
    nearest = _nearest(phrase, colours)
    shown = f"{nearest} ({describe(nearest)})"
    off_by = float(np.min([c.distance(hex_to_lab(colours)).min() for c in phrase.colours]))
    verdict: Verdict = (
        "agrees"
        if phrase.agrees_with(colours)
        else "disagrees"
        if phrase.contradicted_by(colours)
        else "close"
    )
    swatch = _swatch(phrase, nearest)
    return AttributeCheck(attribute, verdict, said, shown, swatch, nearest, round(off_by, 1))


def _nearest(phrase: ColourPhrase, colours: list[str]) -> str:
    lab = hex_to_lab(colours)
    distance = np.min([c.distance(lab) for c in phrase.colours], axis=0)
    return colours[int(distance.argmin())]


def _swatch(phrase: ColourPhrase, near: str | None) -> str:
    """The member of the phrase's first colour family nearest what was seen."""
    family = phrase.colours[0].lab
    if near is None:
        return lab_to_hex(family[0])
    distance = delta_e_2000(family, hex_to_lab([near]))
    return lab_to_hex(family[int(distance.argmin())])


def _shape_check(attribute: str, stated: CaptionAttributes, seen: Regions) -> AttributeCheck:
    if attribute == "background kind":
        kinds = resolve(stated.background).kinds - {"flat"} if stated.background else set()
        if not kinds:
            return AttributeCheck(attribute, "not stated")
        said = " ".join(sorted(kinds))
        if seen.background_kind != "flat":
            return AttributeCheck(attribute, "agrees", said, seen.background_kind)
        return AttributeCheck(attribute, "disagrees", said, "flat", off_by=CLEARLY_OTHER)
    said, shown = {
        "eyewear": (stated.eyewear_style, seen.eyewear),
        "earring": ("earring" if stated.earring else None, "earring" if seen.earring else None),
        "facing": (stated.facing, seen.facing),
    }[attribute]
    if said is None:
        return AttributeCheck(attribute, "not stated")
    agrees = shown is not None if attribute == "eyewear" else said == shown
    if agrees:
        return AttributeCheck(attribute, "agrees", said, shown)
    # a one-pixel earring is easy to miss: its absence alone never counts as clear
    clear = None if attribute == "earring" else CLEARLY_OTHER
    return AttributeCheck(attribute, "disagrees", said, shown or "none", off_by=clear)


def _label(field: str) -> str:
    return field.replace("_", " ")


#: Where each attribute is stated: the word that marks its clause in a caption.
_CLAUSE_WORDS = {
    "background": r"background",
    "hair": r"hair",
    "headwear": _HEADWEAR_WORDS,
    "eyes": r"eyes?|iris(?:es)?",
    "skin": r"skin",
    "lips": r"lips",
    "beard": r"beard|goatee|mustache|moustache|stubble",
    "collar": _CLOTHES + r"|accent at bottom edge",
    "eyewear": r"shades|sunglasses|glasses|spectacles|goggles|monocle",
    "earring": r"earrings?",
}


def suggested_caption(text: str, checks: list[AttributeCheck]) -> str | None:
    """The caption with only its disagreeing clauses rewritten in the caption's own
    phrasing ("green background" -> "magenta background"); a stated accessory the pixels
    do not show loses its clause. None when nothing disagrees."""
    wrong = [c for c in checks if c.verdict == "disagrees"]
    if not wrong:
        return None
    segments = _SEGMENT_SPLIT.split(text)
    for check in wrong:
        if check.attribute == "facing":
            segments = [_facing_swapped(s, check) for s in segments]
            continue
        marker = _CLAUSE_WORDS.get(check.attribute.replace(" kind", ""))
        at = next(
            (
                i
                for i, s in enumerate(segments)
                if marker and re.search(rf"\b(?:{marker})\b", s, re.I)
            ),
            None,
        )
        if at is None:
            continue
        if check.attribute in ("eyewear", "earring"):
            segments[at] = ""
        elif check.attribute == "background kind":
            kinds = "|".join(k for k, v in KIND_WORDS.items() if v in (check.said or "").split())
            segments[at] = re.sub(rf"\s*\b(?:{kinds})\b", "", segments[at], flags=re.I)
        elif check.said and check.seen_hex:
            said = re.escape(check.said)
            segments[at] = re.sub(said, describe(check.seen_hex), segments[at], count=1, flags=re.I)
    return ",".join(s for s in segments if s.strip())


def _facing_swapped(segment: str, check: AttributeCheck) -> str:
    return re.sub(rf"\b{check.said}([- ])facing\b", rf"{check.seen}\1facing", segment, flags=re.I)
