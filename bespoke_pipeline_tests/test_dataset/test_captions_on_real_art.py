"""The caption check on the artist's own 96 pairs, against the truth set made by looking
(`data/reader-truth/`): a flag tells the artist their words are wrong, so it must be right."""

from pathlib import Path

import pandas as pd
import pytest

from bespoke_pipeline.bench.reader import TRUTH, held_apart
from bespoke_pipeline.dataset.captions import caption_image

SHARED = Path(__file__).resolve().parents[3] / "shared"
FOLDERS = [SHARED / "real-sample", SHARED / "real-dev"]
pytestmark = pytest.mark.skipif(
    not all(f.is_dir() for f in FOLDERS), reason="../shared/real-sample and real-dev are not here"
)


@pytest.fixture(scope="module")
def flags() -> pd.DataFrame:
    truth = pd.read_csv(TRUTH, dtype=str, keep_default_na=False).set_index("file")
    rows = []
    for png in sorted(p for folder in FOLDERS for p in folder.glob("*.png")):
        captioned = caption_image(png.parent, png.name, "bespoke")
        wrong = set(truth.loc[png.name, "caption_wrong"].split(";"))
        for check in captioned.checks:
            if check.verdict == "disagrees":
                attribute = check.attribute.replace(" kind", "_kind")
                rows.append((png.name, held_apart(png.name), attribute, attribute in wrong))
    return pd.DataFrame(rows, columns=["file", "held_apart", "attribute", "genuine"])


def test_every_flag_on_the_developed_on_part_is_a_genuine_contradiction(flags):
    developed = flags[~flags.held_apart]
    assert developed.genuine.all(), developed[~developed.genuine]


def test_on_the_held_apart_part_every_flagged_caption_is_wrong_and_most_flags_are(flags):
    apart = flags[flags.held_apart]
    assert apart.groupby("file").genuine.any().all()
    assert apart.genuine.mean() >= 0.9


def test_only_captions_wrong_beyond_doubt_are_flagged(flags):
    # 37 of the 96 captions contradict their pixels somewhere (the truth set); the check
    # flags those it is sure of, about one in six
    assert flags.file.nunique() <= 0.2 * 96
