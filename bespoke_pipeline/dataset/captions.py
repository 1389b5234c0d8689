"""One caption per accepted image: the user's own words when they wrote some, checked
against the pixels attribute by attribute; a generated template caption when they didn't.

What holds for the whole set (the coordinates the captions state, words nobody can read)
is reported once for the set, by `profile` and `vocabulary_report`, never once per image.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.dataset.package import CAPTION_VARIANTS, CaptionVariant, PackageEntry
from bespoke_pipeline.pixelart.analyze import portrait_of
from bespoke_pipeline.pixelart.caption import (
    CHECKED,
    AttributeCheck,
    check_caption,
    parse_caption,
    render_caption,
    suggested_caption,
)
from bespoke_pipeline.pixelart.regions import Regions, read_regions

VERDICTS = ("agrees", "close", "disagrees", "not stated", "unreadable")
#: Verdicts under which a caption may say something else than the pixels show.
UNSURE = ("disagrees", "doubtful", "unreadable")


@dataclass(frozen=True)
class CaptionedImage:
    file: str
    caption: str | None
    source: Literal["user", "generated"]
    attributes: dict[str, object]
    checks: list[AttributeCheck] = field(default_factory=list)
    #: Where the features are in this image (eyes, nose, mouth, collar rows).
    layout: dict[str, object] = field(default_factory=dict)
    #: Coordinates the caption states, for the set's profile.
    stated_layout: dict[str, tuple[int, ...]] = field(default_factory=dict)
    unknown_words: list[tuple[str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: The caption with its disagreeing clauses rewritten, for the user to copy over theirs.
    suggested: str | None = None
    #: What the pixels show, in the caption template's words (`render_caption`).
    from_pixels: str | None = None
    #: False when the caption can't be used at all (empty, not UTF-8): the pair is left out
    #: rather than trained on a caption the user didn't write.
    included: bool = True


def caption_image(
    raw_dir: Path,
    file: str,
    trigger: str,
    max_colors: int | None = None,
    allow_resampled: bool = False,
) -> CaptionedImage:
    image = read_pixel_art(raw_dir / file, max_colors, allow_resampled).image
    regions = read_regions(image)
    portrait = portrait_of(regions)
    seen = {
        "attributes": {**portrait.to_dict(), "background_kind": regions.background_kind},
        "layout": found_layout(regions),
        "from_pixels": render_caption(portrait, trigger),
    }
    caption_path = (raw_dir / file).with_suffix(".txt")
    if not caption_path.is_file():
        return CaptionedImage(file, seen["from_pixels"], "generated", **seen)
    raw = caption_path.read_bytes()
    try:
        text = raw.decode("utf-8-sig").strip()
    except UnicodeDecodeError as error:
        reason = (
            f"{caption_path.name} is not UTF-8 text (byte 0x{raw[error.start]:02x} at "
            f"offset {error.start})"
        )
        return CaptionedImage(file, None, "user", **seen, problems=[reason], included=False)
    if not text:
        reason = f"{caption_path.name} is empty"
        return CaptionedImage(file, None, "user", **seen, problems=[reason], included=False)
    parsed = parse_caption(text)
    checks = check_caption(parsed.attributes, regions)
    problems = []
    if not parsed.attributes.stated():
        problems.append(
            f"{caption_path.name}: states no attribute this pipeline can read "
            "(background, hair, eyes, skin, ...)"
        )
    if not re.search(rf"\b{re.escape(trigger)}\b", text, flags=re.IGNORECASE):
        problems.append(f"{caption_path.name}: does not contain the trigger word '{trigger}'")
    problems += [f"{caption_path.name}: {c.sentence()}" for c in checks if c.verdict == "disagrees"]
    return CaptionedImage(
        file,
        text,
        "user",
        **seen,
        checks=checks,
        stated_layout=parsed.layout,
        unknown_words=list(parsed.unknown_words),
        problems=problems,
        suggested=suggested_caption(text, checks),
    )


def found_layout(regions: Regions) -> dict[str, object]:
    """Positions as the caption template writes them; pupils and irises only where a
    pupil pattern was found (not behind shades)."""
    layout: dict[str, object] = {"eye_row": regions.eyes.row if regions.eyes_found else None}
    if regions.eyes_found:
        layout["pupils"] = [c for p in regions.eyes.pupils for c in p]
        layout["irises"] = [c for p in regions.eyes.irises for c in p]
    layout["nose"] = list(regions.nose) if regions.nose else None
    layout["mouth_row"] = regions.mouth_row
    layout["collar_top"] = regions.collar_rows[0] if regions.collar_rows else None
    layout["facing"] = regions.facing
    return layout


def captions_frame(rows: list[CaptionedImage]) -> pd.DataFrame:
    """Flat table for parquet and the UI: structured columns as JSON, problems joined."""
    return pd.DataFrame(
        {
            "file": [r.file for r in rows],
            "caption": [r.caption for r in rows],
            "source": [r.source for r in rows],
            "included": [r.included for r in rows],
            "flagged": [any(c.verdict == "disagrees" for c in r.checks) for r in rows],
            "pixels_agree": [not any(c.verdict in UNSURE for c in r.checks) for r in rows],
            "problems": ["; ".join(r.problems) for r in rows],
            "suggested": [r.suggested for r in rows],
            "from_pixels": [r.from_pixels for r in rows],
            "checks": [json.dumps([asdict(c) for c in r.checks]) for r in rows],
            "layout": [json.dumps(r.layout, sort_keys=True) for r in rows],
            "stated_layout": [json.dumps(r.stated_layout, sort_keys=True) for r in rows],
            "unknown_words": [json.dumps(r.unknown_words) for r in rows],
            "attributes": [json.dumps(r.attributes, sort_keys=True) for r in rows],
        }
    )


def _checks(frame: pd.DataFrame) -> pd.DataFrame:
    records = [
        {"file": file, **check}
        for file, checks in zip(frame.file, frame.checks, strict=True)
        for check in json.loads(checks)
    ]
    columns = ["file", "attribute", "verdict", "said", "seen", "said_hex", "seen_hex"]
    return pd.DataFrame(records, columns=columns)


def agreement_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Per attribute, how many user captions agree, disagree, don't say, or say it in
    words that can't be read; `agree_share` (agrees or close) is over the captions that
    state it readably."""
    checks = _checks(frame)
    counts = pd.crosstab(checks.attribute, checks.verdict).reindex(
        index=list(CHECKED), columns=list(VERDICTS), fill_value=0
    )
    agreeing = counts["agrees"] + counts["close"]
    judged = agreeing + counts["disagrees"]
    counts["agree_share"] = (agreeing / judged.where(judged > 0)).round(3)
    return counts.reset_index().rename(columns={"index": "attribute"})


def disagreements(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per attribute a caption gets wrong, with both colours as hex swatches."""
    checks = _checks(frame)
    return checks[checks.verdict == "disagrees"].drop(columns="verdict").reset_index(drop=True)


def training_captions(frame: pd.DataFrame, variant: CaptionVariant) -> pd.Series:
    """The caption each row trains on under `variant` (see `CaptionVariant`): corrected is
    the suggested fix where a caption was flagged, the caption as written elsewhere; auto
    needs the `words_known` column (does the base have a token for every word)."""
    if variant == "as_written":
        return frame.caption
    if variant == "corrected":
        return frame.suggested.fillna(frame.caption)
    if variant == "auto":
        return frame.caption.where(frame.pixels_agree & frame.words_known, frame.from_pixels)
    return frame.from_pixels


def package_entries(frame: pd.DataFrame) -> list[PackageEntry]:
    """One package entry per row: the caption as written, and every other variant's."""
    others = [v for v in CAPTION_VARIANTS if v != "as_written"]
    texts = {v: training_captions(frame, v).tolist() for v in others}
    return [
        PackageEntry(file, caption, {v: texts[v][i] for v in others})
        for i, (file, caption) in enumerate(zip(frame.file, frame.caption, strict=True))
    ]


def write_suggestions(frame: pd.DataFrame, folder: Path) -> list[Path]:
    """One `.txt` per flagged caption, named as the user's, with the suggested caption: a
    folder to copy over the user's own files, never written over them."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for row in frame[frame.suggested.notna()].itertuples():
        path = folder / Path(row.file).with_suffix(".txt").name
        path.write_text(row.suggested + "\n", encoding="utf-8")
        written.append(path)
    return written


def vocabulary_report(frame: pd.DataFrame) -> pd.DataFrame:
    """Colour words no caption attribute could be read from, each listed once with how many
    captions use it: extend the words, not the captions."""
    uses: Counter[tuple[str, str]] = Counter()
    example: dict[tuple[str, str], str] = {}
    for file, words in zip(frame.file, frame.unknown_words, strict=True):
        for attribute, word in {tuple(w) for w in json.loads(words)}:
            uses[(word, attribute)] += 1
            example.setdefault((word, attribute), file)
    rows = [
        {"word": w, "attribute": a, "captions": n, "example": example[(w, a)]}
        for (w, a), n in sorted(uses.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    return pd.DataFrame(rows, columns=["word", "attribute", "captions", "example"])
