"""Where every feature sits on the 24x24 bespoke grid (x right, y down, 0-based).

This is the single source of the layout: the generator draws from it, analysis reads from
it, and captions quote its coordinates. The fixed points come from the user's reference
notes; the rest (head outline, hair shapes, accessories) are our drawing of a right-facing
punk that keeps every feature inside the centre 22x22.
"""

from __future__ import annotations

Pixel = tuple[int, int]

SIZE = 24

PUPILS: tuple[Pixel, Pixel] = ((8, 12), (13, 12))
IRISES: tuple[Pixel, Pixel] = ((9, 12), (14, 12))
NOSE: Pixel = (11, 13)
LIPS: tuple[Pixel, ...] = tuple((x, y) for y in (15, 16) for x in range(10, 14))
HAIR_TOP = 3
JAW_ROW = 19
COLLAR_ROWS = (20, 21, 22)


def _rect(x0: int, x1: int, y0: int, y1: int) -> frozenset[Pixel]:
    return frozenset((x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1))


def _row(y: int, *xs: int) -> frozenset[Pixel]:
    return frozenset((x, y) for x in xs)


# The head: a skull with rounded corners, an ear at the back (left, since the face looks
# right), and a jaw row whose width tells male (square) from female (narrow chin).
SKULL = _rect(6, 16, 4, 18) - _row(4, 6, 16) - _row(18, 6, 16)
EAR = _rect(5, 5, 11, 13)
JAW = {"male": _rect(7, 15, JAW_ROW, JAW_ROW), "female": _rect(9, 14, JAW_ROW, JAW_ROW)}
NECK = _rect(9, 12, 20, 22)
COLLAR = (_rect(7, 16, 20, 20) | _rect(5, 18, 21, 22)) - _rect(10, 11, 20, 20)

SIDEBURNS = _row(5, 6) | _row(6, 6)
HAIR_STYLES: dict[str, frozenset[Pixel]] = {
    "short": _rect(7, 15, 3, 3) | _rect(6, 16, 4, 4) | SIDEBURNS,
    "spiky": _row(3, 6, 8, 10, 12, 14, 16) | _rect(6, 16, 4, 4) | _rect(6, 8, 5, 5) | SIDEBURNS,
    "mohawk": _rect(9, 12, 3, 5),
    "bob": _rect(7, 15, 3, 3) | _rect(6, 16, 4, 5) | _rect(5, 6, 5, 12),
    "long": _rect(7, 15, 3, 3) | _rect(6, 16, 4, 4) | SIDEBURNS | _rect(4, 5, 4, 17),
    "messy": (_rect(6, 16, 3, 3) - _row(3, 9, 13))
    | _rect(5, 17, 4, 4)
    | _rect(5, 8, 5, 5)
    | _rect(14, 17, 5, 5)
    | _rect(6, 6, 6, 7),
}
#: The pixel that shows hair for every style a hat can sit on (the mohawk hides under one).
HAIR_WITNESS: Pixel = (6, 6)
MOHAWK_WITNESS: Pixel = (11, 3)

GLASSES_FRAME = _rect(7, 16, 11, 11) | _row(12, 7, 10, 11, 12, 15, 16) | _row(13, 7, 10, 12, 15, 16)
SHADES_LENSES = _rect(8, 9, 12, 13) | _rect(13, 14, 12, 13)
GLASSES_SPAN = "x=7-16 y=11-13"

HEADWEAR: dict[str, frozenset[Pixel]] = {
    "cap": _rect(7, 15, 2, 2) | _rect(6, 16, 3, 4) | _rect(17, 19, 4, 4),
    "beanie": _rect(8, 14, 1, 1) | _rect(7, 15, 2, 2) | _rect(6, 16, 3, 4),
}
HEADWEAR_SPAN = {"cap": "x=6-19 y=2-4", "beanie": "x=6-16 y=1-4"}
#: Rows above the hair line are background unless something sits on the head.
HEADWEAR_WITNESS: Pixel = (11, 2)
BEANIE_WITNESS: Pixel = (11, 1)

EARRING: Pixel = (5, 14)

#: Skin on one side of the head and background on its mirror image tells which way the
#: face looks, with or without eyes visible (shades) or an ear (long hair).
FACING_WITNESS: tuple[Pixel, Pixel] = ((6, 15), (17, 15))


def hair_bottom(style: str) -> int:
    """Lowest row of a hair style, quoted in captions as "extending to y=N"."""
    return max(y for _, y in HAIR_STYLES[style])


def mirror(pixel: Pixel) -> Pixel:
    return SIZE - 1 - pixel[0], pixel[1]
