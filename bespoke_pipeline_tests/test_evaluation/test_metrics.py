import math

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bespoke_pipeline.evaluation.metrics import (
    METRICS,
    Reference,
    diversity,
    image_metrics,
    layout_eyes,
    palette_of,
)
from bespoke_pipeline.evaluation.scoring import WEIGHTS, composite, summarize
from bespoke_pipeline.paths import PROJECT_DIR
from bespoke_pipeline.pixelart.caption import CaptionAttributes
from bespoke_pipeline.pixelart.color_words import colour_of, resolve
from bespoke_pipeline.pixelart.colors import hex_to_rgb
from bespoke_pipeline.pixelart.regions import USUAL_EYES, read_regions
from bespoke_pipeline.pixelart.snap import snap_to_grid
from bespoke_pipeline.pixelart.synth import synth_portraits

PAIRS = list(synth_portraits(40, seed=8))
TRAINING = np.stack([np.asarray(image) for image, _ in PAIRS[10:]])
# A portrait with open eyes and hair on a flat background, so every metric applies; not in
# the training set.
IMAGE, PORTRAIT = next(
    (i, p)
    for i, p in PAIRS[:10]
    if p.eyewear_style != "shades" and p.hair and p.background_kind == "flat"
)
EXPECTED = CaptionAttributes.of(PORTRAIT)
# the training set's cells, with the palette of all the colours drawn (the portrait's too)
REFERENCE = Reference(
    TRAINING, palette_of(np.concatenate([TRAINING, [np.asarray(IMAGE)]])), layout_eyes(TRAINING)
)


def metrics_of(image: Image.Image, expected: CaptionAttributes = EXPECTED) -> dict[str, float]:
    return image_metrics(image, snap_to_grid(image, palette=REFERENCE.palette), expected, REFERENCE)


def test_the_reference_places_eyes_where_the_training_set_has_them():
    assert REFERENCE.eyes == USUAL_EYES


def test_a_perfect_portrait_scores_one_on_every_metric():
    values = metrics_of(IMAGE)
    for name in WEIGHTS:
        assert values[name] == 1.0 or math.isnan(values[name]), name
    assert values["memorized"] == 0.0 and values["novelty"] > 0.05
    assert composite(pd.Series(values)) == pytest.approx(1.0)


def test_a_wrong_background_fails_exactly_that_metric():
    pixels = np.asarray(IMAGE).copy()
    background = np.array(hex_to_rgb(PORTRAIT.background), dtype=np.uint8)
    said = resolve(EXPECTED.background)
    other = next(
        w for w in ("red", "navy", "mint", "yellow") if not said.agrees_with([colour_of(w)])
    )
    pixels[(pixels == background).all(axis=2)] = hex_to_rgb(colour_of(other))
    perfect, wrong = metrics_of(IMAGE), metrics_of(Image.fromarray(pixels))
    changed = {k for k in WEIGHTS if not (perfect[k] == wrong[k] or math.isnan(perfect[k]))}
    assert changed == {"background"}


def test_a_left_facing_portrait_and_a_missing_accessory_are_caught():
    mirrored = metrics_of(IMAGE.transpose(Image.Transpose.FLIP_LEFT_RIGHT))
    assert mirrored["right_facing"] == 0.0
    asked_for_glasses = CaptionAttributes(**{**EXPECTED.stated(), "eyewear_style": "glasses"})
    assert metrics_of(IMAGE, asked_for_glasses)["accessories"] == 0.0


def drawn_tall(image: Image.Image, hair: str) -> np.ndarray:
    """A buzz cut drawn a row taller, where a cap would sit, as held-out renders do."""
    pixels = np.asarray(image).copy()
    pixels[2, 9:14] = hex_to_rgb(hair)
    return pixels


def test_close_cropped_hair_drawn_tall_is_the_prompts_hair_not_a_cap():
    """With no sideburns the reader takes such hair for a cap. Asked for no headwear and
    in the prompt's hair colour, it is the hair; in another colour it is headwear."""
    pixels, portrait = next(
        (tall, p)
        for i, p in PAIRS[10:]
        if p.hair_style == "buzz" and p.background_kind == "flat"
        if read_regions(Image.fromarray(tall := drawn_tall(i, p.hair))).headwear_color
    )
    expected = CaptionAttributes.of(portrait)
    assert expected.headwear_style is None
    as_hair = metrics_of(Image.fromarray(pixels), expected)
    assert as_hair["accessories"] == 1.0 and as_hair["hair_color"] == 1.0
    said = resolve(expected.hair)
    other = next(w for w in ("red", "navy", "mint") if not said.agrees_with([colour_of(w)]))
    top = pixels[:7]
    top[(top == hex_to_rgb(portrait.hair)).all(axis=2)] = hex_to_rgb(colour_of(other))
    assert metrics_of(Image.fromarray(pixels), expected)["accessories"] == 0.0


def test_a_training_image_counts_as_memorized_and_blur_as_unclean():
    copy = Image.fromarray(TRAINING[0])
    assert metrics_of(copy)["memorized"] == 1.0
    blurred = IMAGE.resize((240, 240), Image.Resampling.BILINEAR)
    assert metrics_of(blurred)["grid_cleanliness"] < 0.9


def test_diversity_is_the_mean_share_of_cells_that_differ_between_samples():
    a = PAIRS[0][0]
    grid = np.asarray(a.convert("RGB")).copy()
    grid[:2, :3] = 255 - grid[:2, :3]  # 6 cells of 576 changed
    b = Image.fromarray(grid)
    assert diversity([a, a]) == 0.0
    assert diversity([a, b]) == 6 / 576
    assert diversity([a, a, b]) == pytest.approx((0 + 6 / 576 + 6 / 576) / 3)  # every pair


def test_every_weighted_metric_is_documented_here_and_in_the_readme():
    assert set(WEIGHTS) <= {m.name for m in METRICS}
    assert sum(WEIGHTS.values()) == pytest.approx(1.0)
    readme = (PROJECT_DIR / "README.md").read_text()
    assert all(m.name in readme for m in METRICS)


def test_a_metric_no_prompt_asks_drops_out_of_the_composite_and_the_rest_rescale():
    row = pd.Series({metric: 1.0 for metric in WEIGHTS})
    row["background"], row["eyes_placed"] = 0.0, math.nan  # under shades: not asked
    asked = 1 - WEIGHTS["eyes_placed"]
    assert composite(row) == pytest.approx((asked - WEIGHTS["background"]) / asked)


def test_summaries_are_per_sampler_setting_and_skip_what_was_not_asked():
    rows = []
    for steps, background in ((10, 1.0), (20, 0.0)):
        for sample, eyes in enumerate((1.0, math.nan)):
            metrics = {metric: 1.0 for metric in WEIGHTS} | {"background": background}
            rows.append(
                {"guidance_scale": 1.0, "steps": steps, "prompt": "p", "suite": "held_out",
                 "sample": sample, **metrics, "eyes_placed": eyes}
            )  # fmt: skip
    table = summarize(pd.DataFrame(rows)).set_index("steps")
    assert table.loc[10, "eyes_placed"] == 1.0  # the NaN left out, not read as 0
    assert table.loc[10, "composite"] == 1.0 and table.loc[20, "background"] == 0.0
    assert table.loc[20, "composite"] == pytest.approx(1 - WEIGHTS["background"])
    assert bool(table.loc[10, "meets_targets"]) and not bool(table.loc[20, "meets_targets"])
