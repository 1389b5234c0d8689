from collections import Counter
from dataclasses import fields, replace

import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.color_words import describe
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.synth import synth_portraits

#: What a caption can't see: the words the generator chose.
ATTRIBUTES = [f.name for f in fields(Portrait) if f.name != "words"]


def seen_as(portrait: Portrait) -> Portrait:
    return replace(portrait, words=())


def test_accuracy_on_2000_fresh_portraits_is_at_least_99_percent_per_attribute():
    """Prints the accuracy table (`pytest -s -k accuracy`)."""
    correct: Counter[str] = Counter()
    total = 0
    for image, truth in synth_portraits(2000, seed=20261123):
        seen = analyze(image)
        total += 1
        correct.update(a for a in ATTRIBUTES if getattr(seen, a) == getattr(truth, a))
    print(f"\n{'attribute':<16}accuracy (n={total})")
    for attribute in ATTRIBUTES:
        print(f"{attribute:<16}{correct[attribute] / total:.2%}")
    assert all(correct[a] / total >= 0.99 for a in ATTRIBUTES), correct


def test_left_facing_portraits_are_read_as_left_facing_with_the_same_features():
    checked = 0
    for image, truth in synth_portraits(100, seed=3):
        if truth.eyewear_style == "shades":
            continue  # without visible pupils, facing is read from the head's shape
        seen = analyze(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
        if seen_as(analyze(image)) == seen_as(truth):
            assert seen == replace(seen_as(truth), facing="left")
            checked += 1
    assert checked >= 80


def test_transparent_background_reads_as_none():
    image, truth = next(p for p in synth_portraits(40, seed=4) if p[1].background_kind == "flat")
    rgba = np.asarray(image.convert("RGBA")).copy()
    background = rgba[0, 0].copy()
    rgba[(rgba == background).all(axis=2)] = (0, 0, 0, 0)
    seen = analyze(Image.fromarray(rgba))
    assert seen.background is None
    assert replace(seen, background=truth.background) == seen_as(truth)


def test_palette_images_read_like_rgb():
    for image, _ in synth_portraits(20, seed=5):
        assert analyze(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=256)) == analyze(
            image
        )


def test_unknown_colours_are_described_with_common_words():
    """Analysis knows colours, not the words a caption chose: each is named by the
    nearest common word, e.g. a background repainted an odd teal is called "teal"."""
    image, truth = next(synth_portraits(1, seed=6))
    grid = np.asarray(image.convert("RGB")).copy()
    background = (grid == grid[0, 0]).all(axis=2)
    grid[background] = (0x12, 0x80, 0x7E)  # no colour word is exactly this
    names = analyze(Image.fromarray(grid)).color_names()
    assert names["background"] == "teal"
    assert names["skin"] == describe(truth.skin)  # the generator's own word is not known


def test_wrong_size_is_refused():
    with pytest.raises(ValueError, match="expected a 24x24 image, got 32x32"):
        analyze(Image.new("RGB", (32, 32)))
