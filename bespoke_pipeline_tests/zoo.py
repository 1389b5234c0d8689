"""Inputs, bad and awkward, each written the way it turns up in real folders."""

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart.colors import hex_to_rgb
from bespoke_pipeline.pixelart.synth import synth_portraits


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def bomb_png(side: int = 100_000) -> bytes:
    """A tiny file whose header claims a gigantic image."""
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def png_bytes(image: Image.Image, **save_args: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **save_args)
    return buffer.getvalue()


#: file name -> (status, a phrase the reason must contain)
EXPECTED = {
    "corrupt.png": ("rejected", "not an image"),
    "truncated.png": ("rejected", "corrupt or truncated"),
    "photo.png": ("rejected", "content is JPEG, not PNG"),
    "big.png": ("rejected", "is 32x32 pixels; sides must be 24 or a whole multiple of 24"),
    "resized.png": ("rejected", "is 512x512 pixels; sides must be 24 or a whole multiple"),
    "stretched.png": ("rejected", "is 24x48 pixels; pixel art must be square"),
    "ghost.png": ("rejected", "semi-transparent"),
    "bomb.png": ("rejected", "decompression bomb"),
    "empty.png": ("rejected", "empty file (0 bytes)"),
    "twin.png": ("rejected", "duplicate: same pixels as 'punk_0001.png'"),
    "twin_576.png": ("rejected", "duplicate: same pixels as 'punk_0001.png'"),
    "notes.md": ("ignored", "not a .png image or .txt caption"),
    "orphan.txt": ("ignored", "caption without an image"),
}


def add_bad_files(raw_dir: Path) -> None:
    """Add every kind of bad file next to the good ones already in `raw_dir`."""
    good = raw_dir / "punk_0001.png"
    image = Image.open(good).convert("RGB")
    data = good.read_bytes()
    (raw_dir / "corrupt.png").write_bytes(np.random.default_rng(0).bytes(300))
    (raw_dir / "truncated.png").write_bytes(data[: len(data) // 2])
    jpeg = io.BytesIO()
    image.save(jpeg, format="JPEG")
    (raw_dir / "photo.png").write_bytes(jpeg.getvalue())
    (raw_dir / "big.png").write_bytes(png_bytes(image.resize((32, 32), Image.Resampling.NEAREST)))
    (raw_dir / "resized.png").write_bytes(png_bytes(image.resize((512, 512))))
    (raw_dir / "stretched.png").write_bytes(
        png_bytes(image.resize((24, 48), Image.Resampling.NEAREST))
    )
    ghost = image.convert("RGBA")
    ghost.putpixel((0, 0), (10, 20, 30, 128))
    (raw_dir / "ghost.png").write_bytes(png_bytes(ghost))
    (raw_dir / "bomb.png").write_bytes(bomb_png())
    (raw_dir / "empty.png").write_bytes(b"")
    # Same pixels, different encoding: a re-export of an image already in the set.
    (raw_dir / "twin.png").write_bytes(png_bytes(image.convert("RGBA"), compress_level=1))
    # The artist's 576 px export of the same grid, dropped in next to it.
    (raw_dir / "twin_576.png").write_bytes(png_bytes(upscaled(image)))
    (raw_dir / "notes.md").write_text("my notes")
    (raw_dir / "orphan.txt").write_text("TOK bespoke, purple solid background")


def add_bad_captions(raw_dir: Path) -> dict[str, str]:
    """Good images whose captions are bad; returns file -> phrase its problem must contain."""
    sources = sorted(raw_dir.glob("punk_*.png"))
    cases = {
        "blank caption.png": (b"  \n", "is empty"),
        "latin1.png": ("caf\xe9".encode("latin-1"), "is not UTF-8"),
        "lorem.png": (b"lorem ipsum dolor", "states no attribute"),
    }
    expected = {}
    for index, (name, (text, phrase)) in enumerate(cases.items()):
        source = sources[-1 - index]
        shutil.move(source, raw_dir / name)
        source.with_suffix(".txt").unlink()
        (raw_dir / name).with_suffix(".txt").write_bytes(text)
        expected[name] = phrase
    return expected


def upscaled(image: Image.Image, side: int = 576) -> Image.Image:
    """The grid as artists export it: nearest neighbour, a whole multiple of 24."""
    return image.resize((side, side), Image.Resampling.NEAREST)


def touched_up(image: Image.Image, side: int = 576) -> Image.Image:
    """An export with a few pixels painted over after upscaling (two real files do this)."""
    pixels = np.array(upscaled(image, side))
    for y, x in ((100, 317), (318, 102), (side - 1, 0)):
        pixels[y, x, :3] = 255 - pixels[y, x, :3]
    return Image.fromarray(pixels)


def smeared(image: Image.Image) -> Image.Image:
    """A 24 px file that went through an editor's bilinear resize and back."""
    return image.resize((96, 96), Image.Resampling.BILINEAR).resize(
        (24, 24), Image.Resampling.BILINEAR
    )


def rich_portrait(seed: int = 2) -> Image.Image:
    """A generated punk painted the way real art is: a dithered gradient background and
    shaded hair, 40+ colors, many of them only a few delta E apart."""
    image, portrait = next(synth_portraits(1, seed))
    assert portrait.hair, "pick a seed whose punk has hair"
    pixels = np.array(image)
    y, x = np.mgrid[0:24, 0:24]
    background = (pixels == hex_to_rgb(portrait.background)).all(axis=-1)
    top, bottom = np.array([40, 30, 120]), np.array([250, 140, 60])
    level = (2 * y + (x + y) % 2) / 47  # a vertical gradient, dithered between steps
    pixels[background] = np.round(top + (bottom - top) * level[..., None])[background]
    hair = (pixels == hex_to_rgb(portrait.hair)).all(axis=-1)
    tone = 0.6 + 0.1 * ((x + 2 * y) % 7)  # strands in seven shades
    shaded = np.clip(np.array(hex_to_rgb(portrait.hair)) * tone[..., None], 0, 255)
    pixels[hair] = shaded[hair]
    return Image.fromarray(pixels)
