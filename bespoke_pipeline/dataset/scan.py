"""Scanning the raw folder: which files become training images and why the others don't."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from bespoke_pipeline.dataset.images import (
    BadInputError,
    file_digest,
    pixel_digest,
    read_pixel_art,
)

Status = Literal["ok", "rejected", "ignored"]


@dataclass(frozen=True)
class RawFile:
    file: str
    status: Status
    reason: str | None = None
    sha256: str | None = None
    caption_file: str | None = None
    #: For ok images: the file's side in pixels (24, 576, ...) and what reading it found
    #: worth a look (a recovered grid, smeared edges kept with `allow_resampled`), "; "-joined.
    source_side: int | None = None
    warning: str | None = None


def scan_raw_dir(
    raw_dir: Path, max_colors: int | None = None, allow_resampled: bool = False
) -> list[RawFile]:
    """One record per file directly in `raw_dir`, sorted by name. Reads only; the folder is
    the user's source of truth and is never modified. `max_colors` and `allow_resampled`
    are `read_pixel_art`'s."""
    if not raw_dir.is_dir():
        raise FileNotFoundError(f"raw image folder not found: {raw_dir}")
    entries = sorted(p for p in raw_dir.iterdir() if not p.name.startswith("."))
    stems_with_images = {p.stem for p in entries if p.suffix.lower() == ".png"}
    records: list[RawFile] = []
    first_with_pixels: dict[str, str] = {}
    for path in entries:
        suffix = path.suffix.lower()
        if path.is_dir():
            records.append(
                RawFile(
                    path.name, "ignored", "a folder; only files directly in the raw folder are read"
                )
            )
        elif suffix == ".txt":
            if path.stem not in stems_with_images:
                records.append(
                    RawFile(path.name, "ignored", f"caption without an image '{path.stem}.png'")
                )
        elif suffix != ".png":
            records.append(RawFile(path.name, "ignored", "not a .png image or .txt caption"))
        else:
            records.append(_scan_image(path, max_colors, allow_resampled, first_with_pixels))
    return records


def _scan_image(
    path: Path, max_colors: int | None, allow_resampled: bool, first_with_pixels: dict[str, str]
) -> RawFile:
    """Duplicates are found on the recovered grid, so a 576 px export of a 24 px file in
    the folder is one."""
    caption = path.with_suffix(".txt")
    caption_file = caption.name if caption.is_file() else None
    try:
        art = read_pixel_art(path, max_colors, allow_resampled)
    except BadInputError as error:
        return RawFile(path.name, "rejected", error.reason, file_digest(path), caption_file)
    sha = file_digest(path)
    digest = pixel_digest(art.image)
    if digest in first_with_pixels:
        return RawFile(
            path.name,
            "rejected",
            f"duplicate: same pixels as '{first_with_pixels[digest]}'",
            sha,
            caption_file,
        )
    first_with_pixels[digest] = path.name
    warning = "; ".join(art.warnings) or None
    return RawFile(path.name, "ok", None, sha, caption_file, art.source_side, warning)


def records_frame(records: list[RawFile]) -> pd.DataFrame:
    columns = ["file", "status", "reason", "sha256", "caption_file", "source_side", "warning"]
    frame = pd.DataFrame([asdict(r) for r in records], columns=columns)
    return frame.astype({"source_side": "Int64"})  # whole pixels, empty where not read
