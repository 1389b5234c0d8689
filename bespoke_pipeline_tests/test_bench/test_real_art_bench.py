"""The real-art bench: its split, its prompts and its bias report. `bespoke bench real-art`
prints the figures; training in it is what the LoRA tests already cover."""

from pathlib import Path

import pandas as pd
import pytest

from bespoke_pipeline.bench.reader import held_apart
from bespoke_pipeline.bench.real_art import (
    bias,
    family_of,
    read_real_art,
    training_data,
    validation_prompts,
)

SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "real-sample"


def test_a_colour_drawn_whatever_was_asked_is_named_with_its_share():
    frame = pd.DataFrame(
        {
            "asked": ["blue", "green", "pink", "teal", "blue", None],
            "drawn": ["teal", "teal", "pink", "teal", "blue", "teal"],
        }
    )
    table, line = bias(frame)
    assert line == "teal drawn for 50% of the prompts asking for another family"
    assert table.loc["blue", "teal"] == 1 and table.loc["teal", "teal"] == 1


def test_colour_families_are_the_nearest_common_name():
    assert [family_of(h) for h in ("#6072ff", "#05db73", "#1d2740", "#f0c43d")] == [
        "blue", "green", "black", "yellow",
    ]  # fmt: skip


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="../shared/real-sample is not here")
def test_the_lora_trains_on_one_part_and_is_asked_in_the_artists_words_of_the_other():
    art = read_real_art([SAMPLE], "bespoke")
    prompts = validation_prompts(art)
    data = training_data(art, "from_pixels")
    files = {p.name for p in SAMPLE.glob("*.png")}
    assert {p.name for p in prompts} == {f for f in files if held_apart(f)}
    assert len(data.captions) == len(files) - len(prompts) and prompts
    asked = prompts[0]
    assert asked.text == (SAMPLE / asked.name).with_suffix(".txt").read_text().strip()
    # trained on what the pixels show, in the template's words
    assert all(c.startswith("bespoke, 24x24 pixel grid portrait") for c in data.captions)
    assert training_data(art, "as_written").sha256 != data.sha256
    # auto keeps a caption only where the base reads every word and the pixels agree with
    # all it states: none of the artist's samples does both (one has every word known)
    assert art.frame.words_known.sum() == 1
    assert not (art.frame.words_known & art.frame.pixels_agree).any()
    assert training_data(art, "auto").captions == data.captions
