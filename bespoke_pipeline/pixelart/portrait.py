"""The attributes of one bespoke portrait: what the generator draws, what analysis reads
back from pixels and what a caption describes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from bespoke_pipeline.pixelart.color_words import describe
from bespoke_pipeline.pixelart.colors import COLORS

Sex = Literal["male", "female"]
Facing = Literal["right", "left"]
EyewearStyle = Literal["glasses", "shades"]
HeadwearStyle = Literal["cap", "beanie"]


@dataclass(frozen=True)
class Portrait:
    """Colors are exact `#rrggbb` hex; None means the feature is absent or hidden
    (`background` None: transparent; `eyes` None: behind shades)."""

    background: str | None
    skin: str
    hair: str | None
    hair_style: str | None
    eyes: str | None
    lips: str
    collar: str | None
    sex: Sex
    eyewear_style: EyewearStyle | None = None
    headwear_style: HeadwearStyle | None = None
    headwear_color: str | None = None
    earring: bool = False
    facing: Facing = "right"

    @property
    def eyewear(self) -> bool:
        return self.eyewear_style is not None

    @property
    def headwear(self) -> bool:
        return self.headwear_style is not None

    def color_names(self) -> dict[str, str | None]:
        """Words for every color attribute: a generated punk's colors by the names they were
        painted with (so its captions round-trip), anyone else's by the nearest common word."""
        fields = ("background", "skin", "hair", "eyes", "lips", "collar", "headwear_color")
        return {f: (color_word(v) if (v := getattr(self, f)) else None) for f in fields}

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


_PALETTE_NAMES = {hex_value: name for name, hex_value in COLORS.items()}


def color_word(hex_color: str) -> str:
    return _PALETTE_NAMES.get(hex_color.lower()) or describe(hex_color)
