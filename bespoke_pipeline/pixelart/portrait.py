"""The attributes of one bespoke portrait: what the generator draws, what analysis reads
back from pixels and what a caption describes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from bespoke_pipeline.pixelart.colors import color_name

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
        """Human names for every color attribute, from the shared vocabulary."""
        fields = ("background", "skin", "hair", "eyes", "lips", "collar", "headwear_color")
        return {f: (color_name(v) if (v := getattr(self, f)) else None) for f in fields}

    def to_dict(self) -> dict[str, object]:
        return asdict(self)
