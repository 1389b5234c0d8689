"""Captions in the user's coordinate template: rendering, parsing and checking.

The template is the one from the user's Replicate notes; the trigger word leads, as in their
test prompts ("TOK bespoke, 24x24 pixel grid portrait, ..."). Parsing is tolerant of the
short forms people write by hand ("brown hair, blue eyes, light skin tone"), because a
user's own caption is used verbatim and only checked, never rewritten.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, fields

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.colors import (
    COLORS,
    SAME_COLOR_DELTA_E,
    color_name,
    delta_e,
    lookup_color,
)
from bespoke_pipeline.pixelart.portrait import Portrait

DEFAULT_TRIGGER = "TOK"
STYLE_WORD = "bespoke"

_PUPILS = "black pupils fixed at ({},{}) and ({},{})".format(*layout.PUPILS[0], *layout.PUPILS[1])
_IRISES = "iris eyes at ({},{}) and ({},{})".format(*layout.IRISES[0], *layout.IRISES[1])
_NOSE = "black nose dot at ({},{})".format(*layout.NOSE)
_LIPS = "lips spanning x=10-13 y=15-16"
_JAW = f"skin tone with jaw defined at y={layout.JAW_ROW}"
_BOTTOM = "at bottom edge y=20-22"
_CLOSING = (
    "pure pixel art with no gradients or anti-aliasing",
    "clean color boundaries",
    "all features contained within 22x22 center grid",
)


@dataclass(frozen=True)
class CaptionAttributes:
    """What a caption states. None means "not stated", which is never a contradiction."""

    sex: str | None = None
    background: str | None = None  # a color name, or "transparent"
    hair: str | None = None  # a color name, or "bald"
    hair_style: str | None = None
    eyes: str | None = None
    lips: str | None = None
    skin: str | None = None
    collar: str | None = None  # a color name, or "none" (bare neck)
    eyewear_style: str | None = None
    headwear_style: str | None = None
    headwear_color: str | None = None
    earring: bool | None = None
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
            background=names["background"] or "transparent",
            hair=names["hair"] or "bald",
            hair_style=portrait.hair_style,
            eyes=names["eyes"],
            lips=names["lips"],
            skin=names["skin"],
            collar=names["collar"] or "none",
            eyewear_style=portrait.eyewear_style,
            headwear_style=portrait.headwear_style,
            headwear_color=names["headwear_color"],
            earring=True if portrait.earring else None,
            facing=portrait.facing,
        )


def render_caption(portrait: Portrait, trigger: str = DEFAULT_TRIGGER) -> str:
    names = portrait.color_names()
    lead = STYLE_WORD if trigger == STYLE_WORD else f"{trigger} {STYLE_WORD}"
    parts = [lead, "24x24 pixel grid portrait", portrait.sex, "symbolic punk style"]
    parts.append(
        f"{names['background']} solid background"
        if names["background"]
        else "transparent background"
    )
    if portrait.hair_style:
        bottom = layout.hair_bottom(portrait.hair_style)
        parts.append(
            f"{names['hair']} {portrait.hair_style} hair starting at "
            f"y={layout.HAIR_TOP} extending to y={bottom}"
        )
    else:
        parts.append("bald head")
    if portrait.eyewear_style == "shades":
        parts.append(f"black shades spanning {layout.GLASSES_SPAN} covering the eyes")
    else:
        parts += [_PUPILS, f"{names['eyes']} {_IRISES}"]
    parts += [_NOSE, f"{names['lips']} {_LIPS}", f"{names['skin']} {_JAW}"]
    parts.append(
        f"{names['collar']} collar {_BOTTOM}" if names["collar"] else f"bare neck {_BOTTOM}"
    )
    if portrait.eyewear_style == "glasses":
        parts.append(f"black glasses spanning {layout.GLASSES_SPAN}")
    if portrait.headwear_style:
        parts.append(
            f"{names['headwear_color']} {portrait.headwear_style} on head spanning "
            f"{layout.HEADWEAR_SPAN[portrait.headwear_style]}"
        )
    if portrait.earring:
        parts.append("gold earring at ({},{})".format(*layout.EARRING))
    parts.append(f"{portrait.facing}-facing")
    parts += _CLOSING
    return ", ".join(parts)


_HAIR_STYLES = "|".join(layout.HAIR_STYLES)
_HEADWEAR = "|".join(layout.HEADWEAR)
# First match wins, so the more specific patterns come first ("black shades ... covering
# the eyes" must not be read as an eye color).
_SEGMENTS: tuple[tuple[str, re.Pattern[str]], ...] = tuple(
    (name, re.compile(pattern))
    for name, pattern in (
        ("shades", r"\bshades\b"),
        ("glasses", r"\bglasses\b"),
        ("headwear", rf"^(?:(?:an?|the) )?(?P<color>.*?)\s*\b(?P<kind>{_HEADWEAR}|hat)\b"),
        ("earring", r"\bearrings?\b"),
        ("transparent", r"\btransparent background\b"),
        ("background", r"^(?P<color>.+?) (?:solid )?background\b"),
        ("bald", r"\bbald\b"),
        ("hair", rf"^(?P<color>.+?) (?:(?P<style>{_HAIR_STYLES}) )?hair\b"),
        ("eyes", r"^(?P<color>.+?) (?:iris )?eyes\b"),
        ("lips", r"^(?P<color>.+?) lips\b"),
        ("skin", r"^(?P<color>.+?) skin\b"),
        ("bare_neck", r"\bbare neck\b"),
        ("collar", r"^(?P<color>.+?) collar\b"),
        ("sex", r"^(?P<sex>male|female)$"),
        ("facing", r"\b(?P<facing>right|left)-facing\b"),
    )
)


#: Commas separate segments, except inside coordinates such as "(8,12)".
_SEGMENT_SPLIT = re.compile(r",(?![^()]*\))")


@dataclass(frozen=True)
class ParsedCaption:
    attributes: CaptionAttributes
    problems: tuple[str, ...]


def parse_caption(text: str) -> ParsedCaption:
    """Read the attributes a caption states; unknown color words are reported, not guessed."""
    found: dict[str, object] = {}
    problems: list[str] = []
    for segment in (s.strip().lower() for s in _SEGMENT_SPLIT.split(text)):
        for name, pattern in _SEGMENTS:
            match = pattern.search(segment)
            if match:
                _read_segment(name, match, found, problems)
                break
    return ParsedCaption(CaptionAttributes(**found), tuple(problems))


def _read_segment(
    name: str, match: re.Match[str], found: dict[str, object], problems: list[str]
) -> None:
    def color(field: str) -> None:
        phrase = match.group("color").strip()
        known = lookup_color(phrase)
        if known:
            found[field] = known
        elif phrase:
            problems.append(f"unknown {_label(field.removesuffix('_color'))} color '{phrase}'")

    if name in ("shades", "glasses"):
        found["eyewear_style"] = name
    elif name == "headwear":
        found["headwear_style"] = match.group("kind")
        color("headwear_color")
    elif name == "earring":
        found["earring"] = True
    elif name == "transparent":
        found["background"] = "transparent"
    elif name == "bald":
        found["hair"] = "bald"
    elif name == "bare_neck":
        found["collar"] = "none"
    elif name in ("sex", "facing"):
        found[name] = match.group(name)
    else:
        color(name)
        if name == "hair" and match.group("style"):
            found["hair_style"] = match.group("style")


def contradictions(stated: CaptionAttributes, pixels: Portrait) -> list[str]:
    """Where a caption disagrees with what the pixels show.

    Colors are compared perceptually, so "vibrant orange" for a slightly different orange
    passes while "purple" for orange does not.
    """
    seen = CaptionAttributes.of(pixels)
    hex_of = {
        "background": pixels.background,
        "hair": pixels.hair,
        "eyes": pixels.eyes,
        "lips": pixels.lips,
        "skin": pixels.skin,
        "collar": pixels.collar,
        "headwear_color": pixels.headwear_color,
    }
    found = []
    for field, said in stated.stated().items():
        actual = getattr(seen, field)
        if field in hex_of and said in COLORS and hex_of[field]:
            if delta_e(COLORS[str(said)], hex_of[field]) > SAME_COLOR_DELTA_E:
                found.append(
                    f"caption says {_label(field)} '{said}' but the pixels are "
                    f"{hex_of[field]} ({color_name(hex_of[field])})"
                )
        elif actual is None and field == "eyes":
            continue  # eyes hidden behind shades: the caption may still name them
        elif said != actual:
            found.append(
                f"caption says {_label(field)} '{said}' but the pixels show "
                f"'{actual if actual is not None else 'none'}'"
            )
    return found


def _label(field: str) -> str:
    return field.replace("_", " ")
