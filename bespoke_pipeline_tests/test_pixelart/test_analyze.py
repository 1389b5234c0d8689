from collections import Counter
from dataclasses import fields, replace

import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.colors import color_name
from bespoke_pipeline.pixelart.portrait import Portrait
from bespoke_pipeline.pixelart.synth import draw, synth_portraits

ATTRIBUTES = [f.name for f in fields(Portrait)]


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
    for image, truth in synth_portraits(200, seed=3):
        flipped = replace(truth, facing="left")
        assert analyze(draw(flipped)) == flipped
        assert analyze(image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)) == flipped


def test_transparent_background_reads_as_none():
    image, truth = next(synth_portraits(1, seed=4))
    rgba = np.asarray(image.convert("RGBA")).copy()
    background = rgba[0, 0].copy()
    rgba[(rgba == background).all(axis=2)] = (0, 0, 0, 0)
    seen = analyze(Image.fromarray(rgba))
    assert seen.background is None
    assert replace(seen, background=truth.background) == truth


def test_palette_images_read_like_rgb():
    for image, truth in synth_portraits(20, seed=5):
        assert analyze(image.convert("P", palette=Image.Palette.ADAPTIVE, colors=32)) == truth


def test_color_names_come_from_the_shared_vocabulary():
    portrait = analyze(draw(next(synth_portraits(1, seed=6))[1]))
    names = portrait.color_names()
    assert names["background"] == color_name(portrait.background)
    assert names["skin"] in {"pale", "light", "tan", "olive", "dark", "ebony"}


def test_wrong_size_is_refused():
    with pytest.raises(ValueError, match="expected a 24x24 image, got 32x32"):
        analyze(Image.new("RGB", (32, 32)))
