from collections import Counter

import numpy as np

from bespoke_pipeline.pixelart import layout
from bespoke_pipeline.pixelart.colors import COLORS
from bespoke_pipeline.pixelart.synth import synth_portraits, write_dataset

BLACK = (0, 0, 0)


def test_same_arguments_give_byte_identical_files(tmp_path):
    first = write_dataset(tmp_path / "a", count=12, seed=5)
    second = write_dataset(tmp_path / "b", count=12, seed=5)
    for a, b in zip(first, second, strict=True):
        assert a.read_bytes() == b.read_bytes()
        assert a.with_suffix(".txt").read_bytes() == b.with_suffix(".txt").read_bytes()
    other = write_dataset(tmp_path / "c", count=12, seed=6)
    assert [p.read_bytes() for p in other] != [p.read_bytes() for p in first]


def rgb(pixels: np.ndarray, xy: tuple[int, int]) -> tuple[int, ...]:
    return tuple(int(c) for c in pixels[xy[1], xy[0]])


def test_every_portrait_follows_the_bespoke_layout():
    for image, portrait in synth_portraits(300, seed=1):
        pixels = np.asarray(image)
        if portrait.eyewear_style != "shades":
            assert [rgb(pixels, p) for p in layout.PUPILS] == [BLACK, BLACK]
            assert {rgb(pixels, p) for p in layout.IRISES} == {rgb(pixels, (9, 12))} != {BLACK}
        assert rgb(pixels, layout.NOSE) == BLACK
        assert len({rgb(pixels, p) for p in layout.LIPS}) == 1
        # nothing but background on the outer ring: features stay in the centre 22x22
        ring = np.concatenate([pixels[0], pixels[-1], pixels[:, 0], pixels[:, -1]])
        assert len(np.unique(ring, axis=0)) == 1
        assert len(np.unique(pixels.reshape(-1, 3), axis=0)) <= 12  # flat colors only


def test_hair_stays_between_rows_3_and_17():
    for style, pixels in layout.HAIR_STYLES.items():
        rows = [y for _, y in pixels]
        assert min(rows) == layout.HAIR_TOP, style
        assert max(rows) <= 17, style


def test_attributes_vary_as_the_dataset_needs():
    portraits = [p for _, p in synth_portraits(400, seed=2)]
    assert len({p.hair_style for p in portraits}) >= 7  # six styles plus bald (None)
    assert len({p.hair for p in portraits if p.hair}) >= 6
    assert len({p.skin for p in portraits}) >= 5
    assert len({p.background for p in portraits}) >= 8
    assert len({p.eyes for p in portraits if p.eyes}) >= 4
    assert len({p.collar for p in portraits}) >= 5
    counts = Counter()
    for p in portraits:
        counts.update([p.sex, p.eyewear_style, p.headwear_style, "earring" if p.earring else None])
    for feature in ("male", "female", "glasses", "shades", "cap", "beanie", "earring"):
        assert counts[feature] >= 10, feature
    assert all(p.background in COLORS.values() for p in portraits)
