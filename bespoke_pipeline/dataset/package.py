"""The training package: a zip of image + same-name .txt pairs, the layout Replicate,
CivitAI and kohya all read, plus a manifest with the SHA-256 of every member.

Images are the recovered 24x24 grids (optionally upscaled by an integer factor), never the
user's files: a 576 px export or a file with a few stray pixels trains as the grid it shows.
Byte-identical for identical inputs (sorted members, fixed timestamps and permissions), so
the package hash is a dataset version that training runs can record.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, get_args

from PIL import Image

from bespoke_pipeline.atomic import replacing
from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.pixelart.layout import SIZE

MANIFEST_NAME = "manifest.json"
PACKAGE_FORMAT = "bespoke-training-package/1"
_FIXED_TIME = (1980, 1, 1, 0, 0, 0)


#: The captions a config may train on (`train_captions`): the user's text as written; that
#: text with only the clauses the pixels contradict rewritten in the user's words (the
#: caption check's suggested fix); a caption written from the pixels in the caption
#: template's words; or auto: the user's text where the embedded base model has a token for
#: every word and the pixels agree with all it states, from the pixels elsewhere. The
#: user's own text is what `NAME.txt` holds, for any other trainer; the others sit under
#: `captions/<variant>/`.
CaptionVariant = Literal["as_written", "corrected", "from_pixels", "auto"]
CAPTION_VARIANTS: tuple[CaptionVariant, ...] = get_args(CaptionVariant)
VARIANT_DIR = "captions"


@dataclass(frozen=True)
class PackageEntry:
    source_file: str
    caption: str
    #: The other variants' captions (`CaptionVariant`), by variant.
    variants: dict[str, str] = field(default_factory=dict)


def upscale_factor(side: int) -> int:
    """Integer nearest-neighbour factor for a target side; pixel art must not be resampled
    by fractions (512/24 = 21.3 smears cells unevenly)."""
    if side % SIZE or side < SIZE:
        raise ValueError(
            f"upscale side {side} is not a multiple of {SIZE}; use e.g. {SIZE * 32} (= {SIZE} x 32)"
        )
    return side // SIZE


def safe_stem(stem: str) -> str:
    """ASCII member names: some trainers choke on spaces and non-ASCII names in zips."""
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_stem).strip("._") or "image"


def build_package(
    raw_dir: Path, entries: list[PackageEntry], out_path: Path, upscale_to: int | None = None
) -> dict[str, object]:
    """Write the zip atomically and return its manifest (also stored inside the zip)."""
    factor = upscale_factor(upscale_to) if upscale_to else 1
    members: list[tuple[str, bytes, str]] = []
    used: set[str] = set()
    for entry in sorted(entries, key=lambda e: e.source_file):
        stem = _unique(safe_stem(Path(entry.source_file).stem), used)
        members.append(
            (f"{stem}.png", _image_bytes(raw_dir / entry.source_file, factor), entry.source_file)
        )
        members.append((f"{stem}.txt", (entry.caption + "\n").encode("utf-8"), entry.source_file))
        members += [
            (
                f"{VARIANT_DIR}/{variant}/{stem}.txt",
                (text + "\n").encode("utf-8"),
                entry.source_file,
            )
            for variant, text in sorted(entry.variants.items())
        ]
    return _write_package(members, SIZE * factor, out_path)


def _write_package(members: list[tuple[str, bytes, str]], side: int, out_path: Path) -> dict:
    """The members (name, bytes, source file) and their manifest, written atomically."""
    manifest = {
        "format": PACKAGE_FORMAT,
        "image_side": side,
        "pairs": sum(name.endswith(".png") for name, _, _ in members),
        "members": [
            {
                "name": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "source": source,
            }
            for name, data, source in members
        ],
    }
    manifest_bytes = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    _write_zip_atomically([*members, (MANIFEST_NAME, manifest_bytes, "")], out_path)
    return manifest


def _write_zip_atomically(members: list[tuple[str, bytes, str]], out_path: Path) -> None:
    """Two runs writing the same package never see half of one."""
    with replacing(out_path) as tmp, zipfile.ZipFile(tmp, "w") as archive:
        for name, data, _ in members:
            info = zipfile.ZipInfo(name, date_time=_FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, data, compresslevel=9)


def with_captions(path: Path, variant: CaptionVariant, out_path: Path) -> Path:
    """A copy of the package whose `NAME.txt` files hold the `variant` captions: what a
    remote trainer, which reads only those, is given for a config that trains on them."""
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read(MANIFEST_NAME))
        sources = {m["name"]: m["source"] for m in manifest["members"]}
        members = [
            (
                name,
                archive.read(f"{VARIANT_DIR}/{variant}/{name}" if name.endswith(".txt") else name),
                sources[name],
            )
            for name in archive.namelist()
            if "/" not in name and name != MANIFEST_NAME
        ]
    _write_package(members, manifest["image_side"], out_path)
    return out_path


def verify_package(path: Path) -> list[str]:
    """Problems found by re-reading a package against its own manifest (empty: intact)."""
    problems = []
    with zipfile.ZipFile(path) as archive:
        manifest = json.loads(archive.read(MANIFEST_NAME))
        listed = {m["name"]: m["sha256"] for m in manifest["members"]}
        present = set(archive.namelist()) - {MANIFEST_NAME}
        problems += [
            f"{n} listed in the manifest but missing" for n in sorted(listed.keys() - present)
        ]
        problems += [
            f"{n} in the zip but not in the manifest" for n in sorted(present - listed.keys())
        ]
        for name in sorted(present & listed.keys()):
            if hashlib.sha256(archive.read(name)).hexdigest() != listed[name]:
                problems.append(f"{name} does not match its manifest SHA-256")
        images = {Path(n).stem for n in present if n.endswith(".png")}
        captions = {Path(n).stem for n in present if n.endswith(".txt") and "/" not in n}
        problems += [f"{s}.png has no caption" for s in sorted(images - captions)]
        problems += [
            f"{n} has no image"
            for n in sorted(present)
            if n.endswith(".txt") and Path(n).stem not in images
        ]
    return problems


def _unique(stem: str, used: set[str]) -> str:
    candidate, n = stem, 2
    while candidate.lower() in used:
        candidate, n = f"{stem}_{n}", n + 1
    used.add(candidate.lower())
    return candidate


def _image_bytes(path: Path, factor: int) -> bytes:
    """The file's recovered grid as PNG, nearest-neighbour upscaled by `factor`; RGB when
    fully opaque, since some trainers mishandle an alpha channel they don't need. Which
    files go in was decided when the folder was scanned, so a resampled-looking grid that
    reached the package (`allow_resampled`) is packed, not refused again."""
    image = read_pixel_art(path, allow_resampled=True).image
    if image.getextrema()[3][0] == 255:
        image = image.convert("RGB")
    if factor > 1:
        image = image.resize((SIZE * factor, SIZE * factor), Image.Resampling.NEAREST)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
