"""Procedural bespoke punks with known ground truth, drawn like the artist's real ones.

Real bespoke art (docs/real-art.md) has patterned backgrounds,
hair shaded in several tones, a black outline, pupils at (9,12)/(14,12) and captions in the
artist's own colour words; so do these. Every colour is chosen as a *word* first ("warm
copper", "light blue-gray") and painted with the colour the shared resolver gives that word,
so a caption always states what is drawn. They are the demo dataset, the test oracle for
analysis and captions, and (shifted and mirrored, in `generic`) the base model's corpus.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.caption import DEFAULT_TRIGGER, render_caption
from bespoke_pipeline.pixelart.color_words import colour_of
from bespoke_pipeline.pixelart.colors import delta_e_2000, hex_to_lab, hex_to_rgb, lab_to_hex
from bespoke_pipeline.pixelart.portrait import Portrait

BACKGROUND_WORDS = (
    "warm copper", "sandy beige", "vibrant mint green", "deep burgundy", "light blue-gray",
    "teal", "peach", "cyan", "magenta", "vibrant yellow", "coral", "lavender", "navy",
    "olive green", "sky blue", "hot pink", "forest green", "burnt orange", "slate gray",
    "cream", "royal blue", "lime green", "mustard yellow", "plum", "salmon", "turquoise",
    "maroon", "vibrant kiwi green", "purple", "red", "vibrant orange", "soft pink", "grey",
    "dark teal", "light green", "pale yellow", "indigo", "rust",
)  # fmt: skip
HAIR_WORDS = (
    "black", "dark brown", "brown", "light brown", "blonde", "ginger", "auburn", "red",
    "white", "silver", "grey", "blue", "pink", "purple", "green", "teal", "platinum",
)  # fmt: skip
SKIN_WORDS = ("pale", "fair", "light", "medium", "tan", "olive", "brown", "dark")
EYE_WORDS = ("brown", "dark brown", "blue", "light blue", "green", "hazel", "grey", "amber")
LIP_WORDS = ("pink", "red", "dark red", "coral", "nude", "brown", "purple", "orange-red")
SHIRT_WORDS = (
    "white", "black", "navy", "red", "blue", "green", "yellow", "gold", "grey", "purple",
    "light blue", "dark green", "orange", "teal", "maroon", "brown",
)  # fmt: skip
HAT_WORDS = (
    "red",
    "dark gray",
    "royal blue",
    "green",
    "white",
    "purple",
    "yellow",
    "orange",
    "teal",
)
ACCENT_WORDS = ("gold", "white", "red", "yellow", "black", "cyan")
LENS_WORDS = ("black", "dark green", "dark blue", "purple", "red")
FRAME_WORDS = ("black", "red", "white", "gold", "brown")


@dataclass(frozen=True)
class Palette:
    """The words a generator may use for each part; the bespoke demo keeps to the artist's
    kind of words, the base model's corpus ranges over every name the resolver knows."""

    background: tuple[str, ...] = BACKGROUND_WORDS
    hair: tuple[str, ...] = HAIR_WORDS
    skin: tuple[str, ...] = SKIN_WORDS
    eyes: tuple[str, ...] = EYE_WORDS
    lips: tuple[str, ...] = LIP_WORDS
    shirt: tuple[str, ...] = SHIRT_WORDS
    hat: tuple[str, ...] = HAT_WORDS
    accent: tuple[str, ...] = ACCENT_WORDS


BESPOKE = Palette()

BACKGROUND_KINDS = {
    "flat": 7,
    "gradient": 4,
    "striped": 3,
    "checkered": 2,
    "split": 2,
    "pattern": 2,
}
HAIR_STYLE_WEIGHTS = {
    "male": {"bald": 2, "short": 4, "curly": 2, "mohawk": 2, "bob": 1, "long": 1, "buzz": 3,
             "messy": 3},
    "female": {"bald": 1, "short": 2, "curly": 3, "mohawk": 1, "bob": 4, "long": 5, "buzz": 1,
               "messy": 2},
}  # fmt: skip
#: Touching parts this close (CIEDE2000) would read as one region; the sampler redraws.
DISTINCT = 18.0
OUTLINE = "#000000"
EARRING_GOLD = colour_of("gold")


@dataclass
class _Canvas:
    pixels: np.ndarray
    offset: tuple[int, int] = (0, 0)  # where the figure is moved to (the background stays)

    def paint(self, cells, hex_color: str) -> None:
        rgb = hex_to_rgb(hex_color)
        dx, dy = self.offset
        for x, y in cells:
            if 0 <= x + dx < layout.SIZE and 0 <= y + dy < layout.SIZE:
                self.pixels[y + dy, x + dx] = rgb


def _pick(rng: np.random.Generator, options) -> str:
    return options[int(rng.integers(len(options)))]


def _weighted(rng: np.random.Generator, weights: dict[str, int]) -> str:
    names = list(weights)
    p = np.array([weights[n] for n in names], dtype=float)
    return names[int(rng.choice(len(names), p=p / p.sum()))]


def _distinct_word(
    rng: np.random.Generator, words, avoid: list[str], skin: bool = False
) -> tuple[str, str]:
    """A word whose colour is at least DISTINCT from every colour in `avoid`."""
    avoid_lab = hex_to_lab(avoid) if avoid else None
    for _ in range(50):
        word = _pick(rng, words)
        hex_color = colour_of(word, skin=skin)
        if avoid_lab is None or delta_e_2000(avoid_lab, hex_to_lab([hex_color])).min() >= DISTINCT:
            return word, hex_color
    raise RuntimeError(f"no colour among {words} is distinct from {avoid}")


def _distinct(colours: list[str], others: list[str | None]) -> bool:
    present = [c for c in others if c]
    if not present:
        return True
    return bool(
        delta_e_2000(hex_to_lab(colours)[:, None], hex_to_lab(present)[None]).min() >= DISTINCT
    )


@lru_cache(maxsize=8192)
def shade(hex_color: str, lightness: float) -> str:
    """The same colour made lighter (+) or darker (-) by `lightness` CIELAB L units (cached:
    drawing asks for the same few shades thousands of times)."""
    lab = hex_to_lab([hex_color])[0]
    lab[0] = np.clip(lab[0] + lightness, 2, 98)
    return lab_to_hex(lab)


def random_portrait(rng: np.random.Generator, palette: Palette = BESPOKE) -> Portrait:
    """Sample words for every part, keeping touching parts' colours apart."""
    sex = "male" if rng.random() < 0.5 else "female"
    skin_word, skin = _distinct_word(rng, palette.skin, [OUTLINE], skin=True)
    hair_style = _weighted(rng, HAIR_STYLE_WEIGHTS[sex])
    words: dict[str, str] = {"skin": skin_word}
    hair = None
    if hair_style != "bald":  # black would vanish into the outline a buzz cut hugs, and
        # a messy cut's single-pixel tufts would read as outline
        avoid = [skin, OUTLINE] if hair_style in ("buzz", "messy") else [skin]
        words["hair"], hair = _distinct_word(rng, palette.hair, avoid)
    headwear = headwear_color = None
    if hair_style not in ("mohawk", "buzz") and rng.random() < 0.22:  # never hides all hair
        headwear = _pick(rng, list(layout.HEADWEAR))
        hat_words = ("gold", "silver") if headwear == "crown" else palette.hat
        if (
            headwear == "crown"
            and hair
            and delta_e_2000(
                hex_to_lab([colour_of(w) for w in hat_words]), hex_to_lab([hair])
            ).min()
            < DISTINCT
        ):
            headwear, hat_words = "cap", palette.hat  # a crown would vanish in blonde hair
        words["headwear_color"], headwear_color = _distinct_word(
            rng, hat_words, [c for c in (skin, hair, OUTLINE) if c]
        )
        words["headwear_accent"], _ = _distinct_word(rng, palette.accent, [headwear_color])
    roll = rng.random()
    eyewear = "glasses" if roll < 0.14 else "shades" if roll < 0.24 else None
    if eyewear:
        frames = FRAME_WORDS if eyewear == "glasses" else LENS_WORDS
        words["eyewear"], _ = _distinct_word(rng, frames, [skin])
    words["eyes"], eyes = _distinct_word(rng, palette.eyes, [skin, OUTLINE])
    beard = None
    if sex == "male" and rng.random() < 0.3:
        words["beard"], beard = _distinct_word(rng, palette.hair, [skin, OUTLINE])
    words["lips"], lips = _distinct_word(
        rng, palette.lips, [c for c in (skin, beard, OUTLINE) if c]
    )
    words["collar"], collar = _distinct_word(rng, palette.shirt, [skin, OUTLINE])
    taken = [c for c in (skin, hair, headwear_color, collar, OUTLINE) if c]
    words["background"], background = _distinct_word(rng, palette.background, taken)
    kind = _weighted(rng, BACKGROUND_KINDS)
    background_end = None
    if kind != "flat":
        end_word, background_end = _distinct_word(rng, palette.background, [*taken, background])
        words["background_end"] = end_word
    return Portrait(
        background=background,
        skin=skin,
        hair=hair,
        hair_style=None if hair_style == "bald" else hair_style,
        eyes=None if eyewear == "shades" else eyes,
        lips=lips,
        collar=collar,
        sex=sex,
        eyewear_style=eyewear,
        headwear_style=headwear,
        headwear_color=headwear_color,
        earring=bool(rng.random() < 0.25) and _distinct([EARRING_GOLD], [hair, beard]),
        background_kind=kind,
        background_end=background_end,
        beard=beard,
        words=tuple(sorted(words.items())),
    )


def draw(portrait: Portrait, seed: int = 0, offset: tuple[int, int] = (0, 0)) -> Image.Image:
    """Render a portrait as a 24x24 RGB image. `seed` places the shading and patterns (a
    portrait's look is fixed by its seed, its meaning by its attributes); `offset` moves
    the figure over the background."""
    rng = np.random.default_rng(seed)
    canvas = _Canvas(background(portrait, rng))
    canvas.offset = offset
    figure = layout.SKIN[portrait.sex] | layout.SHIRT[portrait.sex]
    canvas.paint(_outline(figure), OUTLINE)
    canvas.paint(layout.SKIN[portrait.sex], portrait.skin)
    shadow = [(7, y) for y in range(13, 17) if (7, y) in layout.SKIN[portrait.sex]]
    canvas.paint(shadow, shade(portrait.skin, -8))  # the jaw's shadow at the back
    if rng.random() < 0.5:
        canvas.paint(layout.CHEEKS, shade(portrait.skin, -5))  # blush
    if portrait.collar:
        canvas.paint(layout.SHIRT[portrait.sex], portrait.collar)
        below = sorted(layout.SHIRT[portrait.sex] - layout.COLLAR[portrait.sex])
        canvas.paint(below[::3], shade(portrait.collar, -10))  # folds
        canvas.paint(below[1::5], shade(portrait.collar, 8))  # highlights
    if portrait.beard:
        _shaded(canvas, layout.BEARD[portrait.sex] | set(layout.MUSTACHE), portrait.beard, rng)
    if portrait.hair and portrait.hair_style:
        _shaded(canvas, layout.HAIR_STYLES[portrait.hair_style], portrait.hair, rng)
        if rng.random() < 0.5:
            canvas.paint(layout.BROWS, shade(portrait.hair, -15))
    _face(canvas, portrait)
    words = dict(portrait.words)
    if portrait.headwear_style and portrait.headwear_color:
        main, second = layout.HEADWEAR[portrait.headwear_style]
        canvas.paint(main, portrait.headwear_color)
        canvas.paint(second, colour_of(words.get("headwear_accent", "white")))
    _eyewear(canvas, portrait, words.get("eyewear", "black"))
    if portrait.earring:
        canvas.paint([layout.EARRING], EARRING_GOLD)
    image = Image.fromarray(canvas.pixels)
    if portrait.facing == "left":
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    return image


def _outline(figure: frozenset) -> list[tuple[int, int]]:
    """Background cells touching the figure's skin and shirt from the side or above."""
    ring = set()
    for x, y in figure:
        for dx, dy in ((1, 0), (-1, 0), (0, -1), (0, 1)):
            cell = (x + dx, y + dy)
            if cell not in figure and 0 <= cell[0] < layout.SIZE and 0 <= cell[1] < layout.SIZE:
                ring.add(cell)
    return sorted(ring)


def _shaded(canvas: _Canvas, cells, base: str, rng: np.random.Generator) -> None:
    """Hair and beards in 2-4 tones: the base colour on most cells, a darker tone low and
    at the back, scattered highlights (dithering) on some."""
    cells = sorted(cells)
    canvas.paint(cells, base)
    tones = int(rng.integers(4, 7))
    dark = shade(base, -14 if hex_to_lab([base])[0][0] > 25 else 10)
    bottom = max(y for _, y in cells)
    canvas.paint([(x, y) for x, y in cells if y == bottom or x <= 4], dark)
    if tones >= 3:
        light = shade(base, 12 if hex_to_lab([base])[0][0] < 85 else -7)
        canvas.paint([c for i, c in enumerate(cells) if (c[0] + 2 * c[1]) % 7 == 0], light)
    if tones >= 4:
        canvas.paint([c for c in cells if rng.random() < 0.08], shade(base, -7))
    for extra in range(5, tones + 1):  # dithering: scattered tones between the main ones
        canvas.paint([c for c in cells if rng.random() < 0.05], shade(base, 3 * extra - 12))


def _face(canvas: _Canvas, portrait: Portrait) -> None:
    canvas.paint(layout.PUPILS, OUTLINE)
    if portrait.eyes:
        canvas.paint(layout.IRISES, portrait.eyes)
        canvas.paint(layout.EYE_TOPS, shade(portrait.eyes, 18))
    canvas.paint([layout.NOSE], OUTLINE)
    canvas.paint(layout.MOUTH, portrait.lips)
    canvas.paint(layout.MOUTH[1:2], shade(portrait.lips, -10))  # the parting of the lips


def _eyewear(canvas: _Canvas, portrait: Portrait, word: str) -> None:
    if portrait.eyewear_style == "glasses":
        canvas.paint(layout.GLASSES_FRAME, colour_of(word))
    elif portrait.eyewear_style == "shades":
        canvas.paint(layout.SHADES_LENSES, colour_of(word))
        canvas.paint(layout.SHADES_FRAME, OUTLINE)


def background(portrait: Portrait, rng: np.random.Generator) -> np.ndarray:
    """The portrait's background alone, (24, 24, 3) uint8: also the ground other figures
    (the CryptoPunks of the pretraining corpus) are set on."""
    a = np.array(hex_to_rgb(portrait.background or "#000000"), dtype=float)
    b = np.array(hex_to_rgb(portrait.background_end or portrait.background or "#000000"))
    pixels = np.zeros((layout.SIZE, layout.SIZE, 3), dtype=np.uint8)
    pixels[:] = a
    size = layout.SIZE
    kind = portrait.background_kind
    vertical = rng.random() < 0.5  # bands run down the picture (colour changes along x)
    coordinate = np.arange(size)[None, :] if vertical else np.arange(size)[:, None]
    coordinate = np.broadcast_to(coordinate, (size, size))
    if kind == "gradient":
        steps = int(rng.integers(10, 21))
        band = np.minimum(coordinate * steps // size, steps - 1)
        mix = (band / (steps - 1))[..., None]
        pixels[:] = np.round(a + (b - a) * mix).astype(np.uint8)
    elif kind == "striped":
        width = int(rng.integers(2, 4))
        pixels[(coordinate // width) % 2 == 1] = b
    elif kind == "checkered":
        cell = int(rng.integers(2, 4))
        ys, xs = np.mgrid[:size, :size]
        pixels[((xs // cell) + (ys // cell)) % 2 == 1] = b
    elif kind == "split":
        pixels[coordinate >= size // 2] = b
    elif kind == "pattern":  # bricks: rows of bricks with mortar lines, alternate rows offset
        ys, xs = np.mgrid[:size, :size]
        mortar = (ys % 3 == 2) | (((xs + 2 * ((ys // 3) % 2)) % 4) == 3)
        pixels[mortar] = b
    return pixels


def synth_portraits(count: int, seed: int) -> Iterator[tuple[Image.Image, Portrait]]:
    """`count` distinct portraits, the same ones for the same seed."""
    rng = np.random.default_rng(seed)
    seen: set[bytes] = set()
    while len(seen) < count:
        portrait = random_portrait(rng)
        image = draw(portrait, seed=int(rng.integers(2**31)))
        if image.tobytes() not in seen:
            seen.add(image.tobytes())
            yield image, portrait


#: Every n-th demo image is stored as a 576 px export (24 x 24), as artists save them.
EXPORT_EVERY = 3
EXPORT_SIDE = 576


def write_dataset(
    out_dir: Path, count: int, seed: int, trigger: str = DEFAULT_TRIGGER
) -> list[Path]:
    """Write `punk_NNNN.png` + `.txt` pairs; the same arguments give byte-identical files.
    Every third image is saved as a 576 px nearest-neighbour export, the rest at 24 px."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for index, (image, portrait) in enumerate(synth_portraits(count, seed), start=1):
        png = out_dir / f"punk_{index:04d}.png"
        if index % EXPORT_EVERY == 0:
            image = image.resize((EXPORT_SIDE, EXPORT_SIDE), Image.Resampling.NEAREST)
        image.save(png, format="PNG", optimize=True)
        png.with_suffix(".txt").write_text(
            render_caption(portrait, trigger) + "\n", encoding="utf-8"
        )
        written.append(png)
    return written
