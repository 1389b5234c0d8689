"""Training data as the trainer sees it: read back from the training package zip, the file
that is the interface between the dataset and training steps."""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from bespoke_pipeline.dataset.package import VARIANT_DIR, CaptionVariant
from bespoke_pipeline.pixelart.layout import SIZE

#: Where one caption part ends and the next begins.
PART_SEPARATOR = re.compile(r",\s+")


@dataclass(frozen=True)
class TrainingData:
    images: np.ndarray  # uint8 (N, 24, 24, 3)
    captions: list[str]
    sha256: str  # of the package zip: the dataset version checkpoints record
    captions_from: CaptionVariant = "as_written"


def read_package(path: Path, captions_from: CaptionVariant = "as_written") -> TrainingData:
    """Image + caption pairs in member order, with the captions of `captions_from`.
    Upscaled packages are brought back to 24x24 by taking one pixel per cell, which is
    exact for nearest-neighbour upscales."""
    images, captions = [], []
    folder = "" if captions_from == "as_written" else f"{VARIANT_DIR}/{captions_from}/"
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for name in sorted(n for n in names if n.endswith(".png")):
            with Image.open(io.BytesIO(archive.read(name))) as image:
                rgb = image.convert("RGB")
            factor = rgb.width // SIZE
            images.append(np.asarray(rgb)[factor // 2 :: factor, factor // 2 :: factor])
            caption = folder + name[:-4] + ".txt"
            if caption not in names:
                raise ValueError(
                    f"{path}: no {caption}; this package holds no {captions_from} captions "
                    "(made before they existed: materialize captions and training_package again)"
                )
            captions.append(archive.read(caption).decode("utf-8").strip())
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return TrainingData(np.stack(images), captions, digest, captions_from)


def shuffled_caption(caption: str, keep_tokens: int, generator: torch.Generator) -> str:
    """kohya's `shuffle_caption`: the caption's parts after the first `keep_tokens` in a new
    order each time, so no attribute is learnt by its position. Parts end at a comma
    followed by a space; kohya splits at every comma, which would tear coordinates such
    as "(8,12)" apart."""
    parts = PART_SEPARATOR.split(caption.strip())
    kept, rest = parts[:keep_tokens], parts[keep_tokens:]
    order = torch.randperm(len(rest), generator=generator).tolist()
    return ", ".join([*kept, *(rest[i] for i in order)])
