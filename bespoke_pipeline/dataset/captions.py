"""One caption per accepted image: the user's own words when they wrote some, checked
against the pixels; a generated template caption when they didn't."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from bespoke_pipeline.dataset.images import DEFAULT_MAX_COLORS, read_pixel_art
from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.caption import contradictions, parse_caption, render_caption
from bespoke_pipeline.pixelart.portrait import Portrait


@dataclass(frozen=True)
class CaptionedImage:
    file: str
    caption: str | None
    source: Literal["user", "generated"]
    attributes: dict[str, object]
    problems: list[str] = field(default_factory=list)
    #: False when the caption can't be used at all (empty, not UTF-8): the pair is left out
    #: rather than trained on a caption the user didn't write.
    included: bool = True


def caption_image(
    raw_dir: Path, file: str, trigger: str, max_colors: int = DEFAULT_MAX_COLORS
) -> CaptionedImage:
    image_path = raw_dir / file
    portrait = analyze(read_pixel_art(image_path, max_colors))
    attributes = _attributes(portrait)
    caption_path = image_path.with_suffix(".txt")
    if not caption_path.is_file():
        return CaptionedImage(file, render_caption(portrait, trigger), "generated", attributes)
    raw = caption_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError as error:
        reason = (
            f"{caption_path.name} is not UTF-8 text (byte 0x{raw[error.start]:02x} at "
            f"offset {error.start})"
        )
        return CaptionedImage(file, None, "user", attributes, [reason], included=False)
    if not text:
        return CaptionedImage(
            file, None, "user", attributes, [f"{caption_path.name} is empty"], included=False
        )
    parsed = parse_caption(text)
    problems = [f"{caption_path.name}: {p}" for p in parsed.problems]
    if not parsed.attributes.stated():
        problems.append(
            f"{caption_path.name}: states no attribute this pipeline can read "
            "(background, hair, eyes, skin, ...)"
        )
    if not re.search(rf"\b{re.escape(trigger)}\b", text, flags=re.IGNORECASE):
        problems.append(f"{caption_path.name}: does not contain the trigger word '{trigger}'")
    problems += [f"{caption_path.name}: {c}" for c in contradictions(parsed.attributes, portrait)]
    return CaptionedImage(file, text, "user", attributes, problems)


def _attributes(portrait: Portrait) -> dict[str, object]:
    """What analysis saw, with human color names next to the hex values."""
    names = {f"{k}_name": v for k, v in portrait.color_names().items()}
    return {**portrait.to_dict(), **names}


def captions_frame(rows: list[CaptionedImage]) -> pd.DataFrame:
    """Flat table for parquet and the UI: attributes as JSON, problems joined by '; '."""
    return pd.DataFrame(
        {
            "file": [r.file for r in rows],
            "caption": [r.caption for r in rows],
            "source": [r.source for r in rows],
            "included": [r.included for r in rows],
            "problems": ["; ".join(r.problems) for r in rows],
            "attributes": [json.dumps(r.attributes, sort_keys=True) for r in rows],
        },
        columns=["file", "caption", "source", "included", "problems", "attributes"],
    )
