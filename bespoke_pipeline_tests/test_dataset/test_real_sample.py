"""The twelve real bespoke punks next to the repository (`../shared/real-sample/`): 576 px
exports, two of them touched up after upscaling. A user's clone has no such folder."""

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.dataset.images import BadInputError, pixel_digest, read_pixel_art
from bespoke_pipeline_tests.zoo import smeared

REAL_SAMPLE = Path(__file__).resolve().parents[2].parent / "shared" / "real-sample"
REAL_DEV = REAL_SAMPLE.with_name("real-dev")
TOUCHED_UP = {"lady_012_parasite.png", "lady_030_grass.png"}

pytestmark = pytest.mark.skipif(
    not REAL_SAMPLE.is_dir(), reason=f"no real sample folder at {REAL_SAMPLE}"
)


def real_files() -> list[Path]:
    return sorted(REAL_SAMPLE.glob("*.png"))


def block_centres(path: Path) -> np.ndarray:
    """What the artist drew: every block of these files is mostly its centre's color."""
    return np.asarray(Image.open(path).convert("RGBA"))[12::24, 12::24]


def test_all_twelve_are_accepted_as_their_drawn_grid():
    files = real_files()
    assert len(files) == 12
    for path in files:
        art = read_pixel_art(path)
        assert art.source_side == 576, path.name
        assert (np.asarray(art.image) == block_centres(path)).all(), path.name
        if path.name in TOUCHED_UP:
            assert art.recovery == "snapped" and art.agreement > 0.99, path.name
            (warning,) = art.warnings
            assert "recovered the grid with snap_to_grid" in warning
        else:
            assert (art.recovery, art.agreement, art.warnings) == ("exact", 1.0, ()), path.name


def test_their_24px_grids_do_not_look_resampled(tmp_path):
    """Brick, striped, rainbow and gradient backgrounds, dithered hair: real art, not smears."""
    for path in real_files():
        small = tmp_path / path.name
        read_pixel_art(path).image.save(small)
        art = read_pixel_art(small)
        assert (art.recovery, art.warnings) == ("native", ()), path.name
        assert pixel_digest(art.image) == pixel_digest(read_pixel_art(path).image)


def test_a_resampled_copy_of_each_is_left_out_naming_its_blend_share(tmp_path):
    """Smeared real portraits have 15-31 % blends, well above the 8 % limit."""
    for path in real_files():
        copy = tmp_path / path.name
        smeared(read_pixel_art(path).image).save(copy)
        with pytest.raises(BadInputError, match=r": looks resampled: \d+% of pixels are blends"):
            read_pixel_art(copy)
        assert read_pixel_art(copy, allow_resampled=True).warnings, path.name


@pytest.mark.skipif(not REAL_DEV.is_dir(), reason=f"no real development set at {REAL_DEV}")
def test_no_real_development_punk_looks_resampled():
    """84 more real exports: the most blended (lady_033_staranise, 6.8 %) is kept."""
    files = sorted(REAL_DEV.glob("*.png"))
    assert len(files) == 84
    for path in files:
        read_pixel_art(path)  # a refusal raises BadInputError naming the file
