"""CryptoPunks in the pretraining corpus: the figure is the punk's, the ground and the
words are the corpus's."""

import numpy as np
from PIL import Image

from bespoke_pipeline.pixelart import cryptopunks
from bespoke_pipeline.pixelart.analyze import analyze
from bespoke_pipeline.pixelart.punk_corpus import label_words, punk_corpus, punk_example, read_punk
from bespoke_pipeline_tests.punks import needs_punks


def test_package_labels_become_caption_words():
    assert label_words("clownNose") == "clown nose"
    assert label_words("3DGlasses") == "3d glasses"
    assert label_words("vr") == "vr"
    assert label_words("normalBeardBlack") == "normal beard black"


def first_punk_with(label: str) -> cryptopunks.Punk:
    return next(p for p in cryptopunks.load_punks(range(0, 400)) if label in p.labels)


@needs_punks
def test_the_figure_is_the_punks_own_on_a_new_ground_facing_the_way_the_caption_says():
    punk = first_punk_with("topHat")
    reading = read_punk(punk)
    opaque = punk.rgba[..., 3] == 255
    rng = np.random.default_rng(0)
    facings = set()
    for _ in range(12):
        image, caption = punk_example(reading, rng)
        facing = "left" if "looking left" in caption else "right"
        if "looking" in caption:
            facings.add(facing)
            seen = image[:, ::-1] if facing == "left" else image
            np.testing.assert_array_equal(seen[opaque], punk.rgba[..., :3][opaque])
        assert "background" in caption
    assert facings == {"left", "right"}


@needs_punks
def test_a_hair_label_is_said_with_the_colour_the_reader_sees_and_labels_are_worn():
    punk = first_punk_with("clownHairGreen")
    reading = read_punk(punk)
    seen = analyze(Image.fromarray(punk.on())).color_names()["hair"]
    assert reading.hair == f"{seen} clown hair"  # the label's own "green" left out
    assert not any("hair" in item for item in reading.worn)
    assert reading.kind in {"male", "female", "zombie", "ape", "alien"}
    assert reading.kind not in reading.worn


@needs_punks
def test_the_corpus_is_the_same_for_the_same_seed_and_other_for_another():
    images, captions = punk_corpus(6, seed=3)
    again, again_captions = punk_corpus(6, seed=3)
    other, _ = punk_corpus(6, seed=4)
    assert images.shape == (6, 24, 24, 3) and images.dtype == np.uint8
    np.testing.assert_array_equal(images, again)
    assert captions == again_captions
    assert not np.array_equal(images, other)
