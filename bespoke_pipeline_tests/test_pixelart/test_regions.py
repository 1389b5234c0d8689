from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.colors import hex_to_rgb, rgb_to_hex
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.regions import TEMPLATE_EYES, USUAL_EYES, read_regions
from bespoke_pipeline.pixelart.synth import shade, synth_portraits

REAL_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "real-sample"
TEAL, GREEN = np.array(hex_to_rgb("#2f9e94")), np.array(hex_to_rgb("#7ad151"))


def portrait_with_background(paint) -> tuple[Image.Image, np.ndarray]:
    """A generated punk whose flat background is repainted by `paint(x, y) -> rgb`."""
    image, portrait = next(
        (i, p)
        for i, p in synth_portraits(40, seed=21)
        if p.hair_style and not p.headwear and p.background_kind == "flat"
    )
    pixels = np.asarray(image).copy()
    background = (pixels == hex_to_rgb(portrait.background)).all(axis=2)
    for y, x in zip(*np.nonzero(background), strict=True):
        pixels[y, x] = paint(x, y)
    return Image.fromarray(pixels), pixels


def test_a_gradient_background_is_a_gradient_with_its_end_colours():
    def gradient(x: int, y: int) -> np.ndarray:
        return np.round(TEAL + (GREEN - TEAL) * x / 23).astype(np.uint8)

    image, _ = portrait_with_background(gradient)
    regions = read_regions(image)
    assert regions.background_kind == "gradient"
    assert regions.background_colors[0] == rgb_to_hex(TEAL)
    assert regions.background_colors[-1] == rgb_to_hex(GREEN)


@pytest.mark.parametrize(
    ("kind", "paint"),
    [
        ("striped", lambda x, y: TEAL if (y // 2) % 2 else GREEN),
        ("checkered", lambda x, y: TEAL if (x // 2 + y // 2) % 2 else GREEN),
        ("split", lambda x, y: TEAL if x < 12 else GREEN),
    ],
)
def test_patterned_backgrounds_are_told_apart(kind, paint):
    image, _ = portrait_with_background(paint)
    regions = read_regions(image)
    assert regions.background_kind == kind
    assert set(regions.background_colors) == {rgb_to_hex(TEAL), rgb_to_hex(GREEN)}


def test_eyes_are_found_wherever_they_are_drawn():
    image, portrait = next(
        (i, p)
        for i, p in synth_portraits(40, seed=22)
        if not p.eyewear and p.background_kind == "flat"
    )
    pixels = np.asarray(image)
    shifted = np.empty_like(pixels)  # one column left: where the caption template says
    shifted[:, :-1], shifted[:, -1] = pixels[:, 1:], pixels[:, -1]
    assert read_regions(image).eyes == USUAL_EYES
    moved = read_regions(Image.fromarray(shifted))
    assert moved.eyes == TEMPLATE_EYES and moved.eyes_found
    assert moved.iris == portrait.eyes and moved.skin == portrait.skin


def test_shaded_hair_keeps_every_shade_with_the_dominant_first():
    image, portrait = next(
        (i, p)
        for i, p in synth_portraits(200, seed=23)
        if p.hair_style == "long" and not p.headwear and p.background_kind == "flat"
    )
    pixels = np.asarray(image).copy()
    hair = (pixels == hex_to_rgb(portrait.hair)).all(axis=2)
    darker = (np.array(hex_to_rgb(portrait.hair)) * 0.7).astype(np.uint8)
    ys, xs = np.nonzero(hair)
    pixels[ys[::3], xs[::3]] = darker  # every third hair pixel a darker tone
    regions = read_regions(Image.fromarray(pixels))
    assert regions.hair == portrait.hair
    assert rgb_to_hex(darker) in regions.hair_colors


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="../shared/real-sample is not in this clone")
def test_real_bespoke_art_has_its_pupils_one_column_right_of_the_template():
    found = []
    for path in sorted(REAL_SAMPLE.glob("*.png")):
        regions = read_regions(read_pixel_art(path).image)
        found.append(regions.eyes if regions.eyes_found else None)
        assert regions.facing == "right", path.name
    assert found.count(USUAL_EYES) >= 9
    assert TEMPLATE_EYES not in found


def nudged(hex_color: str, by: tuple[int, int, int]) -> np.ndarray:
    """A colour moved by a few units: the near-shade a generated image draws where it does
    not copy a colour cell for cell."""
    return np.clip(np.array(hex_to_rgb(hex_color), int) + by, 0, 255).astype(np.uint8)


def test_a_face_in_several_skin_shades_still_looks_right():
    """A held-out render drew the skin left of each pupil in a shade of its own and the two
    irises in two tones: read mirrored, the skin beside the pupils passed for a matching
    pair of irises; 3 of the 8 right-facing misses on those renders were this."""
    row, left, right = USUAL_EYES.row, USUAL_EYES.left, USUAL_EYES.right
    faces = [(i, p) for i, p in synth_portraits(40, seed=23) if not p.eyewear_style][:10]
    for image, portrait in faces:
        pixels = np.asarray(image).copy()
        pixels[row, [left - 1, right - 1]] = nudged(portrait.skin, (6, -4, 4))
        pixels[row, right + 1] = np.array(hex_to_rgb(portrait.eyes)) * 3 // 4
        assert read_regions(Image.fromarray(pixels)).facing == "right"


@pytest.mark.parametrize("color", [(128, 128, 128), (0, 0, 0), (255, 255, 255)])
def test_a_blank_image_reads_as_no_face_rather_than_crashing(color):
    """What a collapsed model draws: one flat field (scoring it crashed on the fallback
    skin colour, which is drawn nowhere)."""
    seen = read_regions(Image.new("RGB", (24, 24), color))
    assert not seen.eyes_found and seen.eyewear is None and seen.hair is None


def bare_headed(hair_style: str) -> tuple[Image.Image, np.ndarray, Portrait]:
    """A generated punk with hair of `hair_style`, no hat, on a flat background."""
    image, portrait = next(
        (i, p)
        for i, p in synth_portraits(200, seed=23)
        if p.hair_style == hair_style and not p.headwear and p.background_kind == "flat"
    )
    return image, np.asarray(image).copy(), portrait


def test_stray_cells_at_the_edge_of_the_hair_are_not_a_hat():
    """A generated image draws the background's edge against the hair in a few cells of
    colours the border lacks; scattered one at a time, they are no hat."""
    image, pixels, portrait = bare_headed("short")
    background = (pixels == hex_to_rgb(portrait.background)).all(axis=2)
    edge = np.zeros_like(background)  # background cells right above the head
    edge[:8] = background[:8] & ~background[1:9]
    stray = [(x, y) for y, x in zip(*np.nonzero(edge), strict=True)][::2]
    assert len({x for x, _ in stray}) >= 5
    for x, y in stray:
        pixels[y, x] = hex_to_rgb("#18a46e")
    assert read_regions(image).headwear_color is None
    assert read_regions(Image.fromarray(pixels)).headwear_color is None


def test_the_top_of_the_hair_in_a_shade_of_the_background_is_no_hat():
    """A held-out render drew the hair's top rows in a near-shade of the checks beside it;
    enclosed by hair and in no border colour, they were read as a hat."""
    image, pixels, portrait = bare_headed("short")
    for x, y in layout.HAIR_STYLES["short"]:
        if y <= 3:
            pixels[y, x] = nudged(portrait.background, (4, -3, 3))
    assert read_regions(image).headwear_color is None
    assert read_regions(Image.fromarray(pixels)).headwear_color is None


def test_a_stripe_that_stops_short_of_the_border_is_background_not_hair_beside_a_buzz():
    image, pixels, _ = bare_headed("buzz")
    pixels[3:20, 20] = hex_to_rgb("#b70000")  # apart from the head, not reaching an edge
    before, after = read_regions(image), read_regions(Image.fromarray(pixels))
    assert after.headwear_color is None
    assert after.hair_colors == before.hair_colors


@pytest.mark.skipif(not REAL_SAMPLE.is_dir(), reason="../shared/real-sample is not in this clone")
def test_a_real_crown_of_separate_points_is_still_headwear():
    """The artist's crown is three points of four pixels with background between them:
    dropping a would-be hat's one- and two-pixel pieces must keep it."""
    regions = read_regions(read_pixel_art(REAL_SAMPLE / "lad_023_x-2.png").image)
    assert regions.headwear_color is not None
    assert len(regions.headwear_cells) == 12


def test_the_head_outline_is_never_taken_for_a_pupil():
    """On a generated image the two pupils and irises are rarely the very same colours,
    while the outline beside the face is as black as a pupil: the pair outline + left pupil
    then looked more alike than the real eyes."""
    row, left, right = USUAL_EYES.row, USUAL_EYES.left, USUAL_EYES.right

    def outline_left_of_the_eyes(pixels: np.ndarray) -> int | None:
        dark = np.nonzero((pixels[row, :left] < 40).all(axis=1))[0]
        return int(dark[0]) if dark.size and dark[0] < left - 2 else None

    image, pixels, outline = next(
        (i, px, outline_left_of_the_eyes(px))
        for i, p in synth_portraits(60, seed=22)
        if not p.eyewear
        and p.facing == "right"
        and outline_left_of_the_eyes(px := np.asarray(i).copy()) is not None
    )
    assert read_regions(image).eyes == USUAL_EYES
    pixels[row, right] = pixels[row, left] + 7  # a near-black of its own
    pixels[row, right + 1] = np.clip(pixels[row, left + 1].astype(int) - 12, 0, 255)
    pixels[row, outline + 1] = np.clip(pixels[row + 2, left + 2].astype(int) - 20, 0, 255)
    assert read_regions(Image.fromarray(pixels)).eyes == USUAL_EYES


def test_shaded_lenses_are_still_shades():
    """Lenses drawn with a darker lower row (as a trained model draws them) once fell
    through to the eye search, which read them as glasses (and on generated samples often
    read the face as left-facing)."""
    read = 0
    for image, truth in synth_portraits(120, seed=5):
        if truth.eyewear_style != "shades":
            continue
        pixels = np.asarray(image).copy()
        lens = rgb_to_hex(pixels[layout.PUPILS[0][1], layout.PUPILS[0][0]])
        for x, y in layout.PUPILS + layout.IRISES:
            pixels[y, x] = hex_to_rgb(shade(lens, -6))
        regions = read_regions(Image.fromarray(pixels))
        assert (regions.eyewear, regions.facing) == ("shades", "right"), truth
        read += 1
    assert read >= 5
