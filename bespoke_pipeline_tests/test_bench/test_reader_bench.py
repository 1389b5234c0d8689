"""The pixel reader against truth: floors on the parts it was never tuned on, so that a
regression in the rules or the learned cues fails here. `bespoke bench reader` prints the
full table."""

from pathlib import Path

import pytest

from bespoke_pipeline.bench.reader import (
    generated_readings,
    punk_readings,
    real_readings,
    summary,
)
from bespoke_pipeline.pixelart import cryptopunks
from bespoke_pipeline_tests.punks import needs_punks

SHARED = Path(__file__).resolve().parents[3] / "shared"
REAL = [SHARED / "real-sample", SHARED / "real-dev"]
needs_real = pytest.mark.skipif(
    not all(f.is_dir() for f in REAL), reason="../shared/real-sample and real-dev are not here"
)


def figures(readings, part: str) -> dict[str, tuple[float, float]]:
    table = summary(readings)
    table = table[table.part == part]
    return {row.attribute: (row.accuracy, row.F1) for row in table.itertuples()}


@needs_punks
def test_punks_never_read_past_our_half():
    with pytest.raises(ValueError, match="held out"):
        cryptopunks.load_punks(range(4990, 5010))


@needs_punks
def test_punk_labels_map_to_the_readers_attributes():
    first = {p.index: p for p in cryptopunks.load_punks(range(0, 10))}
    assert first[0].type == "female" and first[0].earring and first[0].headwear is None
    assert first[3].eyewear == "glasses"  # nerd glasses
    assert first[4].eyewear == "shades" and first[4].beard  # big shades, goat
    assert first[6].headwear == "bandana"  # do-rag
    assert first[9].headwear == "cap" and first[9].beard  # police cap, big beard


@needs_punks
def test_on_held_apart_punks_the_reader_meets_its_targets():
    got = figures(punk_readings(cryptopunks.HELD_APART, "held apart")[0], "held apart")
    assert got["facing"][0] >= 0.98
    assert got["background"][0] == 1.0
    assert got["eyewear"][1] >= 0.95
    assert got["headwear"][1] >= 0.90


@needs_real
def test_on_held_apart_real_art_the_reader_sees_what_a_person_sees():
    got = figures(real_readings(REAL)[0], "held apart")
    assert got["facing"][0] >= 0.95
    assert got["background"][0] >= 0.95
    assert got["eyewear"][1] >= 0.9
    assert got["headwear"][1] >= 0.75
    assert got["hair"][0] >= 0.9 and got["collar"][0] >= 0.9


def test_generated_portraits_are_read_as_drawn_whichever_way_they_face():
    got = figures(generated_readings(60, seed=5)[0], "all")
    assert got["facing"][0] == 1.0
    assert got["background"][0] >= 0.98
    assert got["eyewear"][1] >= 0.95
    assert got["skin"][0] >= 0.95
