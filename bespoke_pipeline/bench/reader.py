"""`bespoke bench reader`: how often the pixel reader sees what a person sees.

Three sources, each split into a part the reader was developed on and a part held apart:
(a) the artist's real pairs against a truth set made by looking (`data/reader-truth/`),
(b) the labelled CryptoPunks 0-3999 and 4000-4999, (c) generator portraits, half of them
mirrored. Per attribute: accuracy, and F1 for things that are there or not. Every miss is
listed, and drawn on a contact sheet with what was true and what was read.

A colour counts as read right when the truth's words could name the colour the reader
gives (`ColourPhrase.contradicted_by`), the same test the caption check flags by.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.pixelart.color_words import colour_of, resolve
from bespoke_pipeline.pixelart.colors import rgb_to_hex
from bespoke_pipeline.pixelart.contact_sheet import annotated_sheet
from bespoke_pipeline.pixelart.cryptopunks import DEVELOPMENT, HELD_APART, PUNK_BLUE, load_punks
from bespoke_pipeline.pixelart.regions import Regions, read_regions
from bespoke_pipeline.pixelart.synth import synth_portraits

TRUTH = Path(__file__).resolve().parents[2] / "data" / "reader-truth" / "real.csv"
#: Attributes that are there or not: reported with F1 beside accuracy.
PRESENCE = ("headwear", "eyewear", "earring", "beard")


def held_apart(file: str) -> bool:
    """The third of the real pairs the reader is never tuned on (fixed by the file name)."""
    return int(hashlib.sha256(file.encode()).hexdigest(), 16) % 3 == 0


@dataclass(frozen=True)
class Reading:
    """One attribute of one image: the truth, what was read, right or not."""

    source: str
    part: str
    item: str
    attribute: str
    truth: str
    read: str
    right: bool


def _colour_right(words: str, colours: Iterable[str], skin: bool = False) -> bool:
    colours = list(colours)
    phrase = resolve(words, skin=skin)
    if not phrase.colours:
        raise ValueError(f"reader truth: no colour in '{words}'")
    return bool(colours) and not phrase.contradicted_by(colours)


def _presence(name: str, truth: bool, read: bool) -> tuple[str, str, str, bool]:
    return name, str(truth), str(read), truth == read


def real_readings(folders: list[Path], truth: Path = TRUTH) -> tuple[list[Reading], dict]:
    """The reader against the truth set, for every truth row whose image is in `folders`."""
    table = pd.read_csv(truth, dtype=str, keep_default_na=False)
    paths = {p.name: p for folder in folders for p in folder.glob("*.png")}
    readings, images = [], {}
    for row in table.itertuples(index=False):
        if row.file not in paths:
            continue
        image = read_pixel_art(paths[row.file]).image
        images[row.file] = image
        part = "held apart" if held_apart(row.file) else "developed on"
        for attribute, truth_value, read_value, right in _real_checks(row, read_regions(image)):
            readings.append(
                Reading("real", part, row.file, attribute, truth_value, read_value, right)
            )
    return readings, images


def _real_checks(row, seen: Regions) -> list[tuple[str, str, str, bool]]:
    checks = [
        ("background", row.background, seen.background or "none",
         _colour_right(row.background, seen.background_colors)),
        ("facing", row.facing, seen.facing, row.facing == seen.facing),
        _presence("headwear", row.headwear != "none", seen.headwear_color is not None),
        _presence("eyewear", row.eyewear != "none", seen.eyewear is not None),
        _presence("earring", row.earring == "yes", seen.earring),
        _presence("beard", row.beard != "none", seen.beard is not None),
        ("skin", row.skin, seen.skin, _colour_right(row.skin, [seen.skin], skin=True)),
    ]  # fmt: skip
    hidden = row.eyes == "hidden"
    if hidden or seen.eyewear == "shades":
        checks.append(("eyes", row.eyes, "hidden" if seen.eyewear == "shades" else "shown",
                       hidden == (seen.eyewear == "shades")))  # fmt: skip
    else:
        checks.append(("eyes", row.eyes, seen.iris or "none",
                       _colour_right(row.eyes, seen.eye_colors)))  # fmt: skip
    if row.hair != "none":
        checks.append(("hair", row.hair, seen.hair or "none",
                       _colour_right(row.hair, seen.head_colors)))  # fmt: skip
    if row.collar != "none":
        checks.append(("collar", row.collar, seen.collar or "none",
                       _colour_right(row.collar, seen.collar_colors)))  # fmt: skip
    if row.lips != "hidden":
        checks.append(("lips", row.lips, seen.lips,
                       _colour_right(row.lips, seen.lip_colors or [seen.skin])))  # fmt: skip
    return checks


def punk_readings(indices: range, part: str) -> tuple[list[Reading], dict]:
    """The reader against the CryptoPunks labels, each punk on the official blue."""
    readings, images = [], {}
    for punk in load_punks(indices):
        image = Image.fromarray(punk.on(), "RGB")
        seen = read_regions(image)
        name = f"punk {punk.index}"
        images[name] = image
        checks = [
            ("background", rgb_to_hex(PUNK_BLUE), seen.background or "none",
             seen.background == rgb_to_hex(PUNK_BLUE)),
            ("facing", punk.facing, seen.facing, seen.facing == punk.facing),
            _presence("headwear", punk.headwear is not None, seen.headwear_color is not None),
            _presence("eyewear", punk.eyewear is not None, seen.eyewear is not None),
            _presence("earring", punk.earring, seen.earring),
            _presence("beard", punk.beard, seen.beard is not None),
        ]  # fmt: skip
        readings += [Reading("cryptopunks", part, name, *check) for check in checks]
    return readings, images


def generated_readings(count: int, seed: int) -> tuple[list[Reading], dict]:
    """The reader against the generator's own truth; every other portrait mirrored."""
    readings, images = [], {}
    for i, (image, portrait) in enumerate(synth_portraits(count, seed)):
        facing = "left" if i % 2 else "right"
        if facing == "left":
            image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        seen = read_regions(image)
        name = f"generated {i}"
        images[name] = image
        checks = [
            ("background", portrait.background or "none", seen.background or "none",
             portrait.background in seen.background_colors),
            ("facing", facing, seen.facing, seen.facing == facing),
            _presence("headwear", portrait.headwear_style is not None,
                      seen.headwear_color is not None),
            _presence("eyewear", portrait.eyewear_style is not None, seen.eyewear is not None),
            _presence("earring", portrait.earring, seen.earring),
            _presence("beard", portrait.beard is not None, seen.beard is not None),
            ("skin", portrait.skin, seen.skin, portrait.skin == seen.skin),
        ]  # fmt: skip
        if portrait.hair:
            checks.append(("hair", portrait.hair, seen.hair or "none",
                           portrait.hair in seen.head_colors))  # fmt: skip
        if portrait.eyes:
            checks.append(("eyes", portrait.eyes, seen.iris or "none",
                           portrait.eyes in seen.eye_colors))  # fmt: skip
        readings += [Reading("generated", "all", name, *check) for check in checks]
    return readings, images


def summary(readings: list[Reading]) -> pd.DataFrame:
    """One row per source, part and attribute: images, accuracy, F1 where it applies."""
    frame = pd.DataFrame(readings)
    rows = []
    for (source, part, attribute), group in frame.groupby(["source", "part", "attribute"]):
        row = {"source": source, "part": part, "attribute": attribute, "images": len(group),
               "accuracy": group.right.mean(), "F1": np.nan}  # fmt: skip
        if attribute in PRESENCE:
            truth, read = group.truth == "True", group.read == "True"
            hits = (truth & read).sum()
            row["F1"] = 2 * hits / max(1, truth.sum() + read.sum())
        rows.append(row)
    return pd.DataFrame(rows)


def miss_sheet(readings: list[Reading], images: dict[str, Image.Image]) -> Image.Image:
    """Each image with a miss, its misses as truth / read colour pairs where both are colours
    (presence and facing misses are named in the row's label)."""
    misses: dict[str, list[Reading]] = {}
    for reading in readings:
        if not reading.right:
            misses.setdefault(reading.item, []).append(reading)
    rows = []
    for item, wrong in misses.items():
        label = f"{item}: " + "; ".join(f"{r.attribute} {r.truth} -> {r.read}" for r in wrong)
        swatches = [(r.attribute, _hex_or_none(r.truth), _hex_or_none(r.read)) for r in wrong]
        rows.append((images[item], label, swatches))
    return annotated_sheet(rows)


def _hex_or_none(value: str) -> str | None:
    """A swatch for a colour given as hex or as words; None for anything else."""
    if value.startswith("#"):
        return value
    return colour_of(value) if resolve(value).colours else None


def bench_reader(
    real: list[Path], generated: int = 200, seed: int = 20261207, punks: bool = True
) -> tuple[pd.DataFrame, list[Reading], dict[str, Image.Image]]:
    readings, images = real_readings(real)
    if punks:
        for indices, part in ((DEVELOPMENT, "developed on"), (HELD_APART, "held apart")):
            more, shown = punk_readings(indices, part)
            readings += more
            images |= shown
    more, shown = generated_readings(generated, seed)
    return summary(readings + more), readings + more, images | shown
