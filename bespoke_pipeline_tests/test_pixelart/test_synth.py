from collections import Counter

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.caption import parse_caption, render_caption
from bespoke_pipeline.pixelart.color_words import resolve
from bespoke_pipeline.pixelart.synth import EXPORT_SIDE, synth_portraits, write_dataset

BLACK = (0, 0, 0)


def test_same_arguments_give_byte_identical_files(tmp_path):
    first = write_dataset(tmp_path / "a", count=12, seed=5)
    second = write_dataset(tmp_path / "b", count=12, seed=5)
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.with_suffix(".txt").read_bytes() == b.with_suffix(".txt").read_bytes()
    other = write_dataset(tmp_path / "c", count=12, seed=6)
    assert [p.read_bytes() for p in other] != [p.read_bytes() for p in first]


def test_a_share_of_the_demo_set_is_stored_as_576_pixel_exports(tmp_path):
    sides = Counter(Image.open(p).size[0] for p in write_dataset(tmp_path, count=12, seed=5))
    assert sides == {24: 8, EXPORT_SIDE: 4}


def rgb(pixels: np.ndarray, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(int(c) for c in pixels[xy[1], xy[0]])


def test_every_portrait_follows_the_real_bespoke_layout():
    for image, portrait in synth_portraits(300, seed=1):
        pixels = np.asarray(image)
        if portrait.eyewear_style != "shades":
            assert [rgb(pixels, p) for p in layout.PUPILS] == [BLACK, BLACK]
            irises = {rgb(pixels, p) for p in layout.IRISES}
            assert len(irises) == 1 and irises != {BLACK}
        assert rgb(pixels, layout.NOSE) == BLACK
        assert [rgb(pixels, p) for p in layout.MOUTH][0] == rgb(pixels, layout.MOUTH[2])


def test_colours_and_patterns_are_as_rich_as_real_bespoke_art():
    """Real set: 9 to 116 colours, median 23, 152 of 193 above 16; about a third flat."""
    portraits = list(synth_portraits(193, seed=2026))
    colours = np.array([len(np.unique(np.asarray(i).reshape(-1, 3), axis=0)) for i, _ in portraits])
    assert colours.min() >= 8 and np.median(colours) >= 16 and (colours > 16).mean() >= 0.6
    kinds = Counter(p.background_kind for _, p in portraits)
    assert set(kinds) == {"flat", "gradient", "striped", "checkered", "split", "pattern"}
    assert 0.25 <= kinds["flat"] / len(portraits) <= 0.5


def test_every_caption_states_what_is_drawn_in_words_the_resolver_reads():
    for _, portrait in synth_portraits(200, seed=3):
        stated = parse_caption(render_caption(portrait))
        assert stated.unknown_words == ()
        drawn = [c for c in (portrait.background, portrait.background_end) if c]
        assert resolve(stated.attributes.background).agrees_with(drawn)
        assert resolve(stated.attributes.skin, skin=True).agrees_with([portrait.skin])


def test_attributes_vary_as_the_dataset_needs():
    portraits = [p for _, p in synth_portraits(400, seed=2)]
    assert len({p.hair_style for p in portraits}) == len(layout.HAIR_STYLES) + 1  # and bald
    assert len({p.hair for p in portraits if p.hair}) >= 10
    assert len({p.skin for p in portraits}) >= 6
    assert len({p.background for p in portraits}) >= 25
    counts: Counter[str | None] = Counter()
    for p in portraits:
        counts.update([p.sex, p.eyewear_style, p.headwear_style, "earring" if p.earring else None])
        counts.update(["beard" if p.beard else None])
    for feature in ("male", "female", "glasses", "shades", "cap", "beanie", "bandana", "crown"):
        assert counts[feature] >= 5, feature
    assert counts["earring"] >= 20 and counts["beard"] >= 20
