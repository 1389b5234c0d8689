"""Find the parts of a 24x24 portrait by searching its pixels.

Real bespoke art does not sit where the caption template says: pupils are one column right
of the stated (8,12)/(13,12), backgrounds are gradients, stripes and bricks, hair is shaded
in several tones and framed by a black outline. So nothing here reads a fixed "witness"
pixel. The background is the border-connected region around the figure; the eyes are the
best pupil-and-iris pattern near where eyes usually are; skin, hair, lips, collar, beard and
accessories are read from areas placed relative to the eyes found. Every colour attribute
keeps its several shades (`*_colors`, most common first) next to the dominant one. What no
rule reads well, the figure's shape, comes from a small learned part (`reader_net`): which
way the figure faces and what it wears; a part is there when either sees it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image
from scipy import ndimage

from bespoke_pipeline.pixelart.colors import delta_e_2000, hex_to_rgb, rgb_to_hex, rgb_to_lab
from bespoke_pipeline.pixelart.layout import SIZE

if TYPE_CHECKING:
    from bespoke_pipeline.pixelart.reader_net import Cues

Pixel = tuple[int, int]

DARK_L = (
    16.0  # CIELAB lightness below which a pixel reads as black (pupils, outline); ebony skin is 20
)
SAME_SHADE = 6.0  # CIEDE2000 under which two pixels are one shade
SKIN_SHADE = 10.0  # skin's own shading (a jaw shadow, a blush) stays skin
_SHADE_SHARE = 0.1  # a shade must cover this share of its region to be listed
_FLAT_SHARE = 0.9  # one colour on this share of the background makes it flat
_BAND_PURITY = 0.8  # a row/column this uniform is one band of a banded background
_POCKET_REACH = 2  # a pocket of background lies at most this many pixels from its shade


@dataclass(frozen=True)
class EyeLayout:
    """The eye row and the two pupils' columns; each iris sits right of its pupil."""

    row: int
    left: int
    right: int

    @property
    def pupils(self) -> tuple[Pixel, Pixel]:
        return (self.left, self.row), (self.right, self.row)

    @property
    def irises(self) -> tuple[Pixel, Pixel]:
        return (self.left + 1, self.row), (self.right + 1, self.row)


#: Where the reference caption template says the eyes are.
TEMPLATE_EYES = EyeLayout(12, 8, 13)
#: Where 83% of the artist's real portraits have them: the search starts here.
USUAL_EYES = EyeLayout(12, 9, 14)


@dataclass(frozen=True)
class Regions:
    """What is where. Colours are `#rrggbb`; None means absent (or transparent)."""

    background: str | None
    background_colors: tuple[str, ...]
    background_kind: str  # flat, gradient, striped, checkered, split, pattern, transparent
    facing: str  # right or left; every position below is in the right-facing frame
    eyes: EyeLayout
    eyes_found: bool  # False: no pupil pattern (shades, closed eyes), `eyes` is the usual place
    iris: str | None
    eye_colors: tuple[str, ...]
    skin: str
    hair: str | None
    hair_colors: tuple[str, ...]
    hair_cells: frozenset[Pixel]
    #: Every colour around the head that is not skin: hair, hats, their outline. What a
    #: caption's hair or headwear colour is checked against, since a hat drawn in the hair's
    #: place or dark strands at the hair's edge are easy to read as one another.
    head_colors: tuple[str, ...]
    lips: str
    lip_colors: tuple[str, ...]
    collar: str | None
    collar_colors: tuple[str, ...]
    beard: str | None
    eyewear: str | None  # glasses or shades
    eyewear_color: str | None
    headwear_color: str | None  # None: nothing on the head
    headwear_cells: frozenset[Pixel]
    earring: bool
    jaw_width: int
    nose: Pixel | None  # the dark dot below and between the eyes
    mouth_row: int | None  # the row where the lips' colour is widest
    collar_rows: tuple[int, int] | None  # first and last row showing the collar's colour


@lru_cache(maxsize=4)
def _colour_tables(colours: bytes) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hex, Lab and the CIEDE2000 between every two of a picture's colours (sorted RGB rows),
    delta[a, b] for keys a and b: the searches ask for a hundred rows of it per picture, and
    one vectorised call is far cheaper. Cached by palette, so a picture read again costs
    nothing; a noise-like render has hundreds of colours."""
    rgb = np.frombuffer(colours, dtype=np.uint8).reshape(-1, 3)
    lab = rgb_to_lab(rgb)
    upper = np.triu_indices(len(rgb), k=1)  # the distance is symmetric: half the pairs
    delta = np.zeros((len(rgb), len(rgb)))
    delta[upper] = delta_e_2000(lab[upper[0]], lab[upper[1]])
    delta.T[upper] = delta[upper]
    hexes = np.array([rgb_to_hex(c) for c in rgb])
    for table in (hexes, lab, delta):
        table.flags.writeable = False  # shared by every reading of these colours
    return hexes, lab, delta


class _Canvas:
    """The pixels with what every search needs: hex keys, lightness, the background."""

    def __init__(self, rgba: np.ndarray) -> None:
        self.rgb = rgba[..., :3]
        self.opaque = rgba[..., 3] > 0
        flat = self.rgb.reshape(-1, 3)
        colours, inverse = np.unique(flat, axis=0, return_inverse=True)
        self.hexes, self.lab_of, self.delta = _colour_tables(colours.tobytes())
        self.key_of = {h: k for k, h in enumerate(self.hexes.tolist())}
        self.index = inverse.reshape(SIZE, SIZE)
        self.index[~self.opaque] = -1
        self.lightness = np.where(self.opaque, self.lab_of[inverse, 0].reshape(SIZE, SIZE), -1)
        self.background = _background_mask(self.index, self.delta)
        self.dark = self.opaque & (self.lightness < DARK_L)
        # The outline: dark, at the figure's edge, and thin (a mass of black hair or a black
        # beard has whole 2x2 blocks of dark and is not outline).
        edge = self.opaque & ~self.background & ndimage.binary_dilation(self.background)
        thick = ndimage.binary_opening(self.dark & ~self.background, structure=np.ones((2, 2)))
        self.outline = self.dark & edge & ~thick
        # The most common light colour in the middle of the picture: the face, for telling
        # an iris from the skin around it before anything else is known.
        middle = np.zeros((SIZE, SIZE), bool)
        middle[SIZE // 2 - 2 : SIZE // 2 + 5, SIZE // 2 - 5 : SIZE // 2 + 5] = True
        central = self.index[middle & ~self.dark & ~self.background & self.opaque]
        self.face = Counter(central.tolist()).most_common(1)[0][0] if central.size else -1
        # The face's own shades: a generated face draws its skin in several near-equal
        # colours, and the one beside a mirrored pupil is still face, not an iris.
        self.face_like = np.zeros(len(colours) + 2, bool)  # last two: keys -2 and -1
        if self.face >= 0:
            self.face_like[: len(colours)] = self.delta[:, self.face] <= SKIN_SHADE

    def key(self, pixel: Pixel) -> int:
        x, y = pixel
        return int(self.index[y, x]) if 0 <= x < SIZE and 0 <= y < SIZE else -2

    def hex_at(self, pixel: Pixel) -> str | None:
        key = self.key(pixel)
        return str(self.hexes[key]) if key >= 0 else None

    def is_dark(self, pixel: Pixel) -> bool:
        x, y = pixel
        return bool(0 <= x < SIZE and 0 <= y < SIZE and self.dark[y, x])

    def is_background(self, pixel: Pixel) -> bool:
        x, y = pixel
        return bool(0 <= x < SIZE and 0 <= y < SIZE and self.background[y, x])

    def shades(self, mask: np.ndarray) -> list[tuple[str, float]]:
        """Colours under `mask` with their share, most common first."""
        keys = self.index[mask & self.opaque]
        if keys.size == 0:
            return []
        counts = Counter(keys.tolist())
        total = keys.size
        ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        return [(str(self.hexes[k]), n / total) for k, n in ranked]

    def distance(self, a: str, b: str) -> float:
        if a in self.key_of:
            return float(self.to(b)[self.key_of[a]])
        return float(delta_e_2000(self.lab(a), self.lab(b)))

    def to(self, hex_color: str) -> np.ndarray:
        """CIEDE2000 from every colour drawn to one colour, drawn here or not."""
        key = self.key_of.get(hex_color)
        if key is not None:
            return self.delta[:, key]
        return delta_e_2000(self.lab_of, self.lab(hex_color)[None, :])

    def lab(self, hex_color: str) -> np.ndarray:
        """CIELAB of a colour, drawn here or not (a fallback such as black for the skin of
        a portrait with no face, as a collapsed model draws)."""
        key = self.key_of.get(hex_color)
        if key is not None:
            return self.lab_of[key]
        return rgb_to_lab(np.array([hex_to_rgb(hex_color)], np.uint8))[0]

    def like_background(self, mask: np.ndarray) -> np.ndarray:
        """Pixels of `mask` in the shade of background a step or two away: a pocket of a
        patterned background that a generated image encloses between strands of hair,
        which no viewer takes for a hat. Only background within `_POCKET_REACH` counts: a
        hat in the shade of a gradient's far end is still a hat."""
        found = np.zeros_like(mask)
        for key in np.unique(self.index[self.background & self.opaque]):
            around = ndimage.binary_dilation(
                self.background & (self.index == key), np.ones((3, 3)), _POCKET_REACH
            )
            close = np.append(self.delta[:, key] <= SAME_SHADE, False)
            found |= mask & around & close[self.index]
        return found

    def near(self, mask: np.ndarray, hex_color: str | None, tolerance: float) -> np.ndarray:
        """Pixels of `mask` within `tolerance` (CIEDE2000) of a colour."""
        if hex_color is None:
            return np.zeros_like(mask)
        close = np.append(self.to(hex_color) <= tolerance, False)  # -1 (transparent): never
        return mask & close[self.index]


def read_regions(image: Image.Image, usual: EyeLayout = USUAL_EYES) -> Regions:
    """Search a 24x24 portrait for its parts; `usual` is where to expect the eyes.

    The learned cues (`reader_net`) say which way the figure faces and whether it wears
    eyewear, something on its head, an earring or a beard; the rules below find where each
    part is and which colours it has, in the right-facing frame."""
    rgba = np.asarray(image.convert("RGBA")).copy()
    if rgba.shape[:2] != (SIZE, SIZE):
        raise ValueError(f"expected a {SIZE}x{SIZE} image, got {rgba.shape[1]}x{rgba.shape[0]}")
    # imported here, not above: torch takes seconds to import, and what only reads reports
    # (`bespoke status`) imports this module without reading any picture
    from bespoke_pipeline.pixelart.reader_net import read_cues

    shown = np.where(rgba[..., 3:] > 0, rgba[..., :3], np.uint8(_UNDER_TRANSPARENT))
    cues = read_cues(shown)
    facing = "right" if cues.right_facing >= 0.5 else "left"
    canvas = _Canvas(rgba if facing == "right" else rgba[:, ::-1].copy())
    if cues.eyewear_kind == "covering":  # shades, a mask: the lenses say where the eyes are
        eyes, lens = _lenses(canvas, usual) or (usual, None)
        return _read_parts(canvas, cues, eyes, False, facing, lens)
    eyes, score = _find_eyes(canvas, usual)
    found = score >= _EYES_FOUND
    return _read_parts(canvas, cues, eyes if found else usual, found, facing, None)


#: The rules and the cues each see what the other misses (a generated earring of one gold
#: pixel, a punk's silver stud; a shaded real beard, a flat generated one): a part is there
#: when either sees it, the cues alone only when this sure of a one-pixel earring.
_SURE = 0.8
#: What the net is shown where a portrait is transparent: a neutral grey.
_UNDER_TRANSPARENT = (128, 128, 128)


def _read_parts(
    canvas: _Canvas,
    cues: Cues,
    eyes: EyeLayout,
    found: bool,
    facing: str,
    lens: str | None,
) -> Regions:
    """`lens`: the lens colour where the rules found shades over the eyes."""
    background_kind, background_colors = _background_kind(canvas)
    skin = _skin(canvas, eyes)
    eyewear, eyewear_color = _eyewear(canvas, eyes, skin, cues.eyewear_kind, lens)
    figure = canvas.opaque & ~canvas.background
    not_skin = figure & ~canvas.near(figure, skin, SKIN_SHADE)
    frame = _frame_mask(canvas, eyes, eyewear_color)
    earring = _earring(canvas, eyes, not_skin)
    headwear_color, hat_mask = _headwear(
        canvas, eyes, not_skin & ~frame & ~earring, cues.headwear >= 0.5
    )
    hair_colors, hair_cells = _hair(canvas, eyes, not_skin & ~hat_mask & ~earring & ~frame)
    head_colors = [
        c
        for c, share in canvas.shades(not_skin & _hair_zone(eyes) & ~earring & ~frame)
        if share >= _SHADE_SHARE / 2
    ]
    iris_colors = [] if eyewear == "shades" else _iris(canvas, eyes, skin, eyewear_color)
    collar_colors = _window_shades(canvas, not_skin & ~canvas.outline, 20, SIZE - 1, 0, SIZE - 1)
    chin = (eyes.row + 6, eyes.row + 7, eyes.left, eyes.right + 1)
    bearded = cues.beard >= 0.5 or _beard_share(canvas, chin, not_skin) >= 0.4
    jaw = (eyes.row + 4, eyes.row + 7, eyes.left - 1, eyes.right + 1)  # mouth to chin
    beard_colors = _window_shades(canvas, not_skin & ~canvas.outline, *jaw) if bearded else []
    lip_colors = _lips(canvas, eyes, not_skin, jaw if bearded else None)
    return Regions(
        background=_first(background_colors) if canvas.background.any() else None,
        background_colors=tuple(background_colors),
        background_kind=background_kind,
        facing=facing,
        eyes=eyes,
        eyes_found=found,
        iris=_first(iris_colors),
        eye_colors=tuple(iris_colors),
        skin=skin,
        hair=_first(hair_colors),
        hair_colors=tuple(hair_colors),
        hair_cells=hair_cells,
        head_colors=tuple(head_colors),
        lips=_first(lip_colors) or skin,
        lip_colors=tuple(lip_colors),
        collar=_first(collar_colors),
        collar_colors=tuple(collar_colors),
        beard=_first(beard_colors),
        eyewear=eyewear,
        eyewear_color=eyewear_color,
        headwear_color=headwear_color,
        headwear_cells=_cells(hat_mask),
        earring=bool(earring.any()) or cues.earring >= _SURE,
        jaw_width=_jaw_width(canvas, eyes),
        nose=_nose(canvas, eyes),
        mouth_row=_row_of(canvas, _first(lip_colors), eyes.row + 3, eyes.row + 6),
        collar_rows=_rows_of(canvas, _first(collar_colors), 20 - 4, SIZE - 1),
    )


def _first(colors: list[str]) -> str | None:
    return colors[0] if colors else None


def _cells(mask: np.ndarray) -> frozenset[Pixel]:
    return frozenset((int(x), int(y)) for y, x in zip(*np.nonzero(mask), strict=True))


# -- background ------------------------------------------------------------------------


def _background_mask(index: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """The background as drawn by hand, or by a model: the border-connected region, and
    whatever it holds apart from the figure (not touching it even by a corner). A generated
    image draws stray cells, and stripes that stop short of the border, in colours the
    border does not have; read as figure they would become a hat, an earring or hair."""
    background = _border_background(index, delta)
    labels, count = ndimage.label((index >= 0) & ~background, structure=np.ones((3, 3)))
    if count <= 1:
        return background
    figure = 1 + int(np.argmax(np.bincount(labels.ravel())[1:]))
    return background | ((labels > 0) & (labels != figure))


def _border_background(index: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Border-connected pixels of the border's colours, seeded from the top, left and right
    edges (the figure stands on the bottom one). A background colour covers a fair share
    of those edges, or is a small step from one that does (a gradient along the edge): so
    hair that reaches the top edge, a mohawk say, stays hair."""
    edges = [index[0, :], index[:, 0], index[:, -1]]
    seen = np.concatenate(edges)
    counts = Counter(seen.tolist())
    palette = {k for k, n in counts.items() if n >= max(2, _BORDER_SHARE * seen.size) or k == -1}
    pairs = [
        (a, b) for edge in edges for a, b in zip(edge[:-1].tolist(), edge[1:].tolist(), strict=True)
    ]
    grown = True
    while grown:  # follow a gradient step by step from the colours that cover the edges
        grown = False
        for a, b in pairs:
            for key, neighbour in ((a, b), (b, a)):
                grows = key not in palette and key >= 0 and neighbour in palette
                if grows and neighbour >= 0 and delta[key, neighbour] <= _GRADIENT_STEP:
                    palette.add(key)
                    grown = True
    seeds = np.zeros((SIZE, SIZE), bool)
    seeds[0, :] = seeds[:, 0] = seeds[:, -1] = True
    candidate = np.isin(index, list(palette))
    labels, _ = ndimage.label(candidate)
    touching = np.unique(labels[seeds & candidate])
    return np.isin(labels, touching[touching > 0])


_BORDER_SHARE = 0.05  # of the top, left and right edges' cells
_GRADIENT_STEP = 15.0  # CIEDE2000 between neighbouring cells of a background gradient


def _background_kind(canvas: _Canvas) -> tuple[str, list[str]]:
    """Flat, or how the background's colours are arranged, with its main colours (for
    bands: in order along the bands, so a gradient's ends come first and last)."""
    mask = canvas.background
    if not mask.any():
        return "pattern", []
    if (canvas.index[mask] == -1).all():
        return "transparent", []
    shades = canvas.shades(mask)
    main = [c for c, share in shades if share >= _SHADE_SHARE / 2]
    if shades[0][1] >= _FLAT_SHARE:
        return "flat", [shades[0][0]]
    for along_rows in (True, False):
        bands = _bands(canvas, mask, along_rows)
        if bands is not None:
            return _band_kind(canvas, bands), _ordered_unique(bands)
    main = _raster_order(canvas, mask, main or [shades[0][0]])
    if len(main) == 2 and _alternates(canvas, mask):
        return "checkered", main
    return "pattern", main


def _bands(canvas: _Canvas, mask: np.ndarray, along_rows: bool) -> list[str] | None:
    """Each row's (or column's) colour if nearly every one is a single colour."""
    index = canvas.index if along_rows else canvas.index.T
    lines = mask if along_rows else mask.T
    colours, pure = [], 0
    for keys, inside in zip(index, lines, strict=True):
        if inside.sum() < 3:
            continue
        key, count = Counter(keys[inside].tolist()).most_common(1)[0]
        pure += count / inside.sum() >= _BAND_PURITY
        colours.append(str(canvas.hexes[key]))
    if len(colours) < SIZE // 3 or pure < _BAND_PURITY * len(colours):
        return None
    return colours


def _band_kind(canvas: _Canvas, bands: list[str]) -> str:
    runs = [c for i, c in enumerate(bands) if i == 0 or c != bands[i - 1]]
    distinct = _ordered_unique(runs)
    if len(distinct) == 2 and len(runs) == 2:
        return "split"
    if len(distinct) >= 3 and len(runs) == len(distinct):
        return "gradient"
    return "striped"


def _ordered_unique(colours: list[str]) -> list[str]:
    return list(dict.fromkeys(colours))


def _alternates(canvas: _Canvas, mask: np.ndarray) -> bool:
    """Checks: along rows and along columns alike, the colours change in runs of one
    length (the cell size). Bricks have long and short runs; patches have no rhythm."""
    lengths: list[list[int]] = []
    for index, inside in ((canvas.index, mask), (canvas.index.T, mask.T)):
        runs = []
        for keys, line in zip(index, inside, strict=True):
            start = 0
            for x in range(1, SIZE + 1):
                if x == SIZE or not line[x] or keys[x] != keys[start] or not line[start]:
                    if start > 0 and x < SIZE and line[start - 1] and line[start] and line[x]:
                        runs.append(x - start)  # a whole run, between two changes
                    start = x
        lengths.append(runs)
    if not all(lengths):
        return False
    cell = Counter(lengths[0] + lengths[1]).most_common(1)[0][0]
    return all(sum(r == cell for r in runs) >= 0.7 * len(runs) for runs in lengths)


def _raster_order(canvas: _Canvas, mask: np.ndarray, colours: list[str]) -> list[str]:
    """Colours in the order they first appear reading from the top left."""
    first = {}
    for y, x in zip(*np.nonzero(mask), strict=True):
        first.setdefault(str(canvas.hexes[canvas.index[y, x]]), (y, x))
    return sorted(colours, key=lambda c: first.get(c, (SIZE, SIZE)))


# -- eyes ---------------------------------------------------------------------------

_EYES_FOUND = 8.0  # of a best possible score of 12; shades score at most 6
_EYE_ROW_SPAN = 2  # rows above or below the usual eye row that are searched
_EYE_GAPS = (5, 4, 6)


def _find_eyes(canvas: _Canvas, usual: EyeLayout) -> tuple[EyeLayout, float]:
    """The best pupil pair: dark pupils, never on the head's outline, a different colour
    right of each (the iris), the same colours in both eyes, no dark pixel between them;
    nearer the usual place wins a tie."""
    best, best_score = usual, -np.inf
    for row in range(usual.row - _EYE_ROW_SPAN, usual.row + _EYE_ROW_SPAN + 1):
        for left in range(4, 13):
            for gap in _EYE_GAPS:
                eyes = EyeLayout(row, left, left + gap)
                score = _eye_score(canvas, eyes) - 0.05 * (
                    abs(row - usual.row) + abs(left - usual.left) + abs(gap - 5)
                )
                if score > best_score:
                    best, best_score = eyes, score
    return best, best_score


def _eye_score(canvas: _Canvas, eyes: EyeLayout) -> float:
    (lp, rp), (li, ri) = eyes.pupils, eyes.irises
    between = range(eyes.left + 2, eyes.right)
    score = 0.0
    for pupil, iris in ((lp, li), (rp, ri)):
        if canvas.is_dark(pupil) and not canvas.outline[pupil[1], pupil[0]]:
            score += 2
            iris_key = canvas.key(iris)
            if iris_key != canvas.key(pupil) and not canvas.is_background(iris):
                score += 1
                # an iris is a colour of its own, not the face between the eyes: this is
                # also what tells a right-facing eye from its mirror image
                score += not canvas.face_like[iris_key]
                # a dark iris next to a black pupil: the pupil is the darker of the two
                score += 0.5 * bool(
                    canvas.lightness[iris[1], iris[0]] > canvas.lightness[pupil[1], pupil[0]]
                )
    score += canvas.key(lp) == canvas.key(rp)
    score += canvas.key(li) == canvas.key(ri)
    score += sum(not canvas.dark[eyes.row, x] for x in between) / max(1, len(between))
    return score


# -- face -------------------------------------------------------------------------------


def _skin(canvas: _Canvas, eyes: EyeLayout) -> str:
    """The face's dominant colour under the eyes, away from pupils, nose and mouth."""
    mask = np.zeros((SIZE, SIZE), bool)
    mask[eyes.row + 1 : eyes.row + 4, max(0, eyes.left) : eyes.right + 2] = True
    mask &= ~canvas.dark & ~canvas.background
    shades = canvas.shades(mask)
    if not shades:
        mask[eyes.row - 1 : eyes.row + 6, max(0, eyes.left - 1) : eyes.right + 3] = True
        shades = canvas.shades(mask & ~canvas.background) or [("#000000", 1.0)]
    return shades[0][0]


def _iris(canvas: _Canvas, eyes: EyeLayout, skin: str, frame: str | None) -> list[str]:
    """The iris right of each pupil first, then the row above the pupils where real art
    draws the rest of the eye (unless a glasses frame sits there)."""
    above = [(x, eyes.row - 1) for x in (eyes.left, eyes.left + 1, eyes.right, eyes.right + 1)]
    colours = [canvas.hex_at(p) for p in eyes.irises]
    colours += [c for c in map(canvas.hex_at, above) if c != frame]
    return _ordered_unique([c for c in colours if c is not None and c != skin])


def _eyewear(
    canvas: _Canvas, eyes: EyeLayout, skin: str, kind: str, lens: str | None
) -> tuple[str | None, str | None]:
    """What the cues saw over the eyes, in the colour most drawn there that is not skin:
    a lens or mask ("shades", the eyes hidden), or a frame ("glasses"). A frame across the
    bridge of the nose is glasses even where the cues saw none."""
    if kind == "covering":
        band = [(x, y) for y in (eyes.row - 1, eyes.row) for x in range(eyes.left, eyes.right + 2)]
        return "shades", lens or _most_drawn(canvas, band, skin)
    bridge = [(x, y) for y in (eyes.row - 1, eyes.row) for x in range(eyes.left + 2, eyes.right)]
    frame = _most_drawn(canvas, bridge, skin, len(bridge) // 3)
    if kind == "glasses" or frame is not None:
        return "glasses", frame or _most_drawn(canvas, bridge, skin)
    return None, None


def _most_drawn(canvas: _Canvas, pixels: list[Pixel], skin: str, at_least: int = 1) -> str | None:
    """The commonest colour of `pixels` that is neither skin nor background, if it is drawn
    on `at_least` of them."""
    colours = [
        c
        for c in (canvas.hex_at(p) for p in pixels if not canvas.is_background(p))
        if c is not None and canvas.distance(c, skin) > SAME_SHADE
    ]
    return Counter(colours).most_common(1)[0][0] if len(colours) >= at_least else None


def _lenses(canvas: _Canvas, usual: EyeLayout) -> tuple[EyeLayout, str] | None:
    """Shades: a block of one colour, not the face's, over each eye (the 2x2 cells where a
    pupil, its iris and the eye above them would be), in the usual row. A lens may be
    shaded (a highlight, a darker lower row) within `SKIN_SHADE`, as drawn lenses are; a
    pupil beside its iris and the eye above differ by more."""
    for dx in (0, -1, 1):
        eyes = EyeLayout(usual.row, usual.left + dx, usual.right + dx)
        cells = [
            (x + i, eyes.row - j) for x in (eyes.left, eyes.right) for i in (0, 1) for j in (0, 1)
        ]
        keys = [canvas.key(cell) for cell in cells]
        if min(keys) < 0 or canvas.face in keys or canvas.background[eyes.row, eyes.left]:
            continue
        lens = Counter(keys).most_common(1)[0][0]
        spread = delta_e_2000(canvas.lab_of[keys], canvas.lab_of[lens][None, :])
        if spread.max() <= SKIN_SHADE:
            return eyes, str(canvas.hexes[lens])
    return None


def _window_shades(
    canvas: _Canvas, mask: np.ndarray, top: int, bottom: int, left: int, right: int
) -> list[str]:
    window = np.zeros((SIZE, SIZE), bool)
    window[max(0, top) : bottom + 1, max(0, left) : right + 1] = True
    return [c for c, share in canvas.shades(mask & window) if share >= _SHADE_SHARE]


def _lips(
    canvas: _Canvas, eyes: EyeLayout, not_skin: np.ndarray, beard: tuple[int, int, int, int] | None
) -> list[str]:
    """Colours below the nose and between the eyes that are neither skin nor dark. Through
    a beard, only colours the beard around the mouth does not have."""
    window = np.zeros((SIZE, SIZE), bool)
    window[eyes.row + 3 : eyes.row + 7, eyes.left + 1 : eyes.right + 1] = True
    lips = not_skin & ~canvas.dark & window
    if beard:
        top, bottom, left, right = beard
        around = np.zeros((SIZE, SIZE), bool)
        around[top : bottom + 1, max(0, left) : right + 1] = True
        around[eyes.row + 5, eyes.left + 2 : eyes.right] = False  # the mouth itself
        beard_keys = set(canvas.index[around & not_skin].tolist())
        lips &= ~np.isin(canvas.index, list(beard_keys))
    return [c for c, share in canvas.shades(lips) if share >= _SHADE_SHARE]


def _beard_share(canvas: _Canvas, chin: tuple[int, int, int, int], not_skin: np.ndarray) -> float:
    """Share of the chin below the mouth that is not skin (nor outline)."""
    top, bottom, left, right = chin
    window = np.zeros((SIZE, SIZE), bool)
    window[top : bottom + 1, left : right + 1] = True
    window &= canvas.opaque & ~canvas.background
    if not window.any():
        return 0.0
    return float((window & not_skin & ~canvas.dark).sum() / window.sum())


def _nose(canvas: _Canvas, eyes: EyeLayout) -> Pixel | None:
    """The first dark pixel below the eyes, between them, nearest the middle."""
    middle = (eyes.left + eyes.right + 1) / 2
    for y in range(eyes.row + 1, eyes.row + 4):
        xs = [x for x in range(eyes.left + 1, eyes.right + 1) if canvas.dark[y, x]]
        if xs:
            return min(xs, key=lambda x: abs(x - middle)), y
    return None


def _row_of(canvas: _Canvas, colour: str | None, top: int, bottom: int) -> int | None:
    rows = _rows_of(canvas, colour, top, bottom, widest=True)
    return rows[0] if rows else None


def _rows_of(
    canvas: _Canvas, colour: str | None, top: int, bottom: int, widest: bool = False
) -> tuple[int, int] | None:
    """First and last row in top..bottom showing `colour` (`widest`: the row with most)."""
    if colour is None:
        return None
    band = np.zeros((SIZE, SIZE), bool)
    band[top : bottom + 1] = True
    counts = canvas.near(band, colour, 0.5).sum(axis=1)
    rows = np.nonzero(counts)[0]
    if rows.size == 0:
        return None
    if widest:
        row = int(np.argmax(counts))
        return row, row
    return int(rows.min()), int(rows.max())


def _jaw_width(canvas: _Canvas, eyes: EyeLayout) -> int:
    """Width of the face at the jaw row, between the eyes' outer columns (so long hair
    beside it does not count), beard included, outline not."""
    row = min(SIZE - 1, eyes.row + 7)
    figure = canvas.opaque & ~canvas.background & ~canvas.outline
    return int(figure[row, max(0, eyes.left - 1) : eyes.right + 2].sum())


# -- hair and what sits on the head -----------------------------------------------------


def _hair_zone(eyes: EyeLayout) -> np.ndarray:
    """Above the brows, and beside the face down to the jaw (behind the ear, or hair that
    falls in front)."""
    zone = np.zeros((SIZE, SIZE), bool)
    zone[: eyes.row - 1, :] = True
    zone[eyes.row - 1 : eyes.row + 7, : max(0, eyes.left - 1)] = True
    zone[eyes.row - 1 : eyes.row + 7, eyes.right + 3 :] = True
    return zone


def _frame_mask(canvas: _Canvas, eyes: EyeLayout, colour: str | None) -> np.ndarray:
    """The eyewear's pixels: its colour, at eye height, from the ear to past the face."""
    band = np.zeros((SIZE, SIZE), bool)
    band[eyes.row - 1 : eyes.row + 2, max(0, eyes.left - 2) : eyes.right + 4] = True
    return canvas.near(band, colour, 0.5)


def _hair(
    canvas: _Canvas, eyes: EyeLayout, candidates: np.ndarray
) -> tuple[list[str], frozenset[Pixel]]:
    """The hair's shades, main one first, and the cells of its colour family."""
    mask = candidates & _hair_zone(eyes) & ~canvas.outline
    if mask.sum() < 2:
        return [], frozenset()
    ranked = canvas.shades(mask)
    shades = [ranked[0][0]] + [c for c, share in ranked[1:] if share >= _SHADE_SHARE]
    return shades, _cells(canvas.near(mask, shades[0], HAIR_FAMILY))


#: A colour on top of the head this close (CIEDE2000) to a colour of the hair beside the
#: face is that hair (a highlight, a darker tone), not a hat.
HAIR_FAMILY = 15.0


def _headwear(
    canvas: _Canvas, eyes: EyeLayout, not_skin: np.ndarray, worn: bool
) -> tuple[str | None, np.ndarray]:
    """A covering on top of the head in colours the hair beside the face (sideburns, hair
    behind the ear, below any hat) does not have. With no hair beside the face, it must
    also rise above the skull or stick out past the head: hair cut close (a buzz) hugs the
    skull, and a narrow crest (a mohawk) is hair. `worn`: the cues see headwear, which may
    share the hair's colours (then all of the top of the head is the hat)."""
    none = np.zeros((SIZE, SIZE), bool)
    top = not_skin & ~canvas.outline & ~canvas.like_background(not_skin)
    top[eyes.row - 5 :, :] = False
    sides = not_skin & ~canvas.outline & _hair_zone(eyes)
    sides[: eyes.row - 5, :] = False
    side_colours = [c for c, share in canvas.shades(sides) if share >= _SHADE_SHARE / 2]
    hat = none.copy()
    for colour, _ in canvas.shades(top):
        if not any(canvas.distance(colour, c) <= HAIR_FAMILY for c in side_colours):
            hat |= canvas.near(top, colour, 0.5)
    hat &= ~_pieces_up_to(hat, _SCRAP)
    if not _stands_out(canvas, eyes, hat, bool(side_colours)):
        if not worn:
            return None, none
        hat = top
    shades = canvas.shades(hat)
    return (shades[0][0], hat) if shades else (None, none)


def _stands_out(canvas: _Canvas, eyes: EyeLayout, hat: np.ndarray, side_hair: bool) -> bool:
    columns = np.nonzero(hat.any(axis=0))[0]
    if hat.sum() < 6 or columns.size < 5:
        return False
    if side_hair:
        return True
    rows = np.nonzero(hat.any(axis=1))[0]
    head = np.nonzero((canvas.opaque & ~canvas.background)[eyes.row])[0]
    inside = head.size and head.min() <= columns.min() and columns.max() <= head.max()
    return not (rows.min() > eyes.row - 10 and inside)


def _pieces_up_to(mask: np.ndarray, pixels: int) -> np.ndarray:
    """The 4-connected pieces of a mask of at most `pixels` pixels."""
    labels, _ = ndimage.label(mask)
    sizes = np.bincount(labels.ravel())
    small = sizes <= pixels
    small[0] = False
    return small[labels]


#: Pieces of a would-be hat this small are dropped: a hat is cloth or a crown's points,
#: where stray pixels in unexplained colours (a generated image's uneven edge against a
#: patterned background) come one or two at a time.
_SCRAP = 2  # pixels, 4-connected


def _earring(canvas: _Canvas, eyes: EyeLayout, not_skin: np.ndarray) -> np.ndarray:
    """A spot of at most two pixels below the ear, at the back of the head, in a colour
    found nowhere else beside the head (so not a strand of hair)."""
    window = np.zeros((SIZE, SIZE), bool)
    window[eyes.row + 1 : eyes.row + 4, max(0, eyes.left - 5) : max(0, eyes.left - 2)] = True
    window &= not_skin & ~canvas.dark
    elsewhere = _hair_zone(eyes) & not_skin & ~window
    elsewhere[: eyes.row - 5, :] = False  # a hat may share the earring's gold
    for colour, _ in canvas.shades(window):
        spot = canvas.near(window, colour, 0.5)
        if spot.sum() <= 2 and not canvas.near(elsewhere, colour, HAIR_FAMILY).any():
            return spot
    return np.zeros((SIZE, SIZE), bool)
