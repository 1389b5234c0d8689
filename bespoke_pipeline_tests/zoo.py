"""Bad inputs, each written the way it turns up in real folders."""

import io
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


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
    "big.png": ("rejected", "is 32x32 pixels, expected 24x24"),
    "ghost.png": ("rejected", "semi-transparent"),
    "gradient.png": ("rejected", "distinct colors"),
    "bomb.png": ("rejected", "decompression bomb"),
    "empty.png": ("rejected", "empty file (0 bytes)"),
    "twin.png": ("rejected", "duplicate: same pixels as 'punk_0001.png'"),
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
    ghost = image.convert("RGBA")
    ghost.putpixel((0, 0), (10, 20, 30, 128))
    (raw_dir / "ghost.png").write_bytes(png_bytes(ghost))
    ramp = np.arange(24 * 24 * 3, dtype=np.uint32).reshape(24, 24, 3) % 256
    (raw_dir / "gradient.png").write_bytes(png_bytes(Image.fromarray(ramp.astype(np.uint8))))
    (raw_dir / "bomb.png").write_bytes(bomb_png())
    (raw_dir / "empty.png").write_bytes(b"")
    # Same pixels, different encoding: a re-export of an image already in the set.
    (raw_dir / "twin.png").write_bytes(png_bytes(image.convert("RGBA"), compress_level=1))
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
