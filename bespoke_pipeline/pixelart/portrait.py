"""The attributes of one bespoke portrait: what the generator draws, what analysis reads
back from pixels and what a caption describes."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

from bespoke_pipeline.pixelart.color_words import describe

Sex = Literal["male", "female"]
Facing = Literal["right", "left"]
EyewearStyle = Literal["glasses", "shades"]
HeadwearStyle = Literal["cap", "beanie", "bandana", "crown"]
BackgroundKind = Literal["flat", "gradient", "striped", "checkered", "split", "pattern"]

#: The colour attributes, in caption order.
COLOR_FIELDS = ("background", "skin", "hair", "eyes", "lips", "collar", "headwear_color", "beard")


@dataclass(frozen=True)
class Portrait:
    """Colours are exact `#rrggbb` hex of each part's main shade; None means the feature
    is absent or hidden (`background` None: transparent; `eyes` None: behind shades).
    `words` holds the phrase a caption uses for each colour attribute ("warm copper"):
    the generator picks words first and paints their colours; analysis leaves it empty
    and colours are then described with the nearest common word."""

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
    background_kind: BackgroundKind = "flat"
    #: The other colour of a two-colour or gradient background (its last band).
    background_end: str | None = None
    beard: str | None = None
    words: tuple[tuple[str, str], ...] = ()

    @property
    def eyewear(self) -> bool:
        return self.eyewear_style is not None

    @property
    def headwear(self) -> bool:
        return self.headwear_style is not None

    def color_names(self) -> dict[str, str | None]:
        """The caption's word for every colour attribute (None where absent)."""
        chosen = dict(self.words)
        return {
            f: (chosen.get(f) or describe(v) if (v := getattr(self, f)) else None)
            for f in COLOR_FIELDS
        }

    def to_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["words"] = dict(self.words)
        return values
