import io

import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.evaluation.metrics import palette_of
from bespoke_pipeline.pixelart.colors import delta_e_2000, rgb_to_lab
from bespoke_pipeline.pixelart.snap import grid_cleanliness, snap_to_grid
from bespoke_pipeline.pixelart.synth import synth_portraits

R = Image.Resampling
PORTRAITS = [image for image, _ in synth_portraits(12, seed=21)]
PALETTE = palette_of(np.stack([np.asarray(p) for p in PORTRAITS]))


def exact_share(snapped: Image.Image, truth: Image.Image) -> float:
    return float((np.asarray(snapped) == np.asarray(truth)).all(axis=2).mean())


def indistinguishable_share(snapped: Image.Image, truth: Image.Image) -> float:
    """Cells within CIEDE2000 3 of the truth: rich palettes hold shades 1-3 apart (dither
    tones, gradient steps) that a blurred rendering cannot tell apart, nor can a viewer."""
    a, b = (rgb_to_lab(np.asarray(i).reshape(-1, 3)) for i in (snapped, truth))
    return float((delta_e_2000(a, b) <= 3).mean())


@pytest.mark.parametrize("side", [512, 768, 1024])
@pytest.mark.parametrize(
    ("resample", "expected"),
    [(R.NEAREST, 1.0), (R.BILINEAR, 0.99), (R.LANCZOS, 0.96)],
    ids=["NEAREST", "BILINEAR", "LANCZOS"],
)
def test_recovers_cells_from_upscaled_portraits(side: int, resample: R, expected: float) -> None:
    shares = [
        indistinguishable_share(snap_to_grid(p.resize((side, side), resample), palette=PALETTE), p)
        for p in PORTRAITS
    ]
    assert np.mean(shares) >= expected


def test_nearest_upscale_needs_no_palette_even_when_shifted() -> None:
    for portrait in PORTRAITS[:4]:
        big = portrait.resize((1024, 1024), R.NEAREST)
        shifted = Image.new("RGB", big.size, big.getpixel((0, 0)))
        shifted.paste(big, (9, -4))  # the grid no longer starts at the image corner
        assert exact_share(snap_to_grid(shifted), portrait) == 1.0


def test_jpeg_noise_snaps_back_onto_the_palette() -> None:
    portrait = PORTRAITS[0]
    buffer = io.BytesIO()
    portrait.resize((768, 768), R.BILINEAR).save(buffer, "JPEG", quality=85)
    noisy = Image.open(io.BytesIO(buffer.getvalue()))
    assert indistinguishable_share(snap_to_grid(noisy, palette=PALETTE), portrait) >= 0.97


def test_native_size_keeps_drawn_colours_and_palette_never_forces_far_colors() -> None:
    # a colour drawn on two or more cells is meant: only a stray single dither tone close
    # to its neighbour's may merge
    assert min(exact_share(snap_to_grid(p), p) for p in PORTRAITS) >= 0.995
    magenta = Image.new("RGB", (24, 24), (255, 0, 255))
    assert snap_to_grid(magenta, palette=["#000000", "#f4f4f4"]).getpixel((0, 0)) == (255, 0, 255)


def test_cleanliness_separates_hard_edges_from_blur() -> None:
    portrait = PORTRAITS[2]
    sharp = portrait.resize((512, 512), R.NEAREST)
    blurred = portrait.resize((512, 512), R.BILINEAR)
    assert grid_cleanliness(sharp, snap_to_grid(sharp), 6.0) == 1.0
    assert grid_cleanliness(blurred, snap_to_grid(blurred), 6.0) < 0.9


def test_a_noisy_native_rendering_settles_on_its_drawn_colours() -> None:
    """What the embedded model draws at 24x24: every pixel a little off its colour."""
    rng = np.random.default_rng(0)
    for portrait in PORTRAITS[:4]:
        noise = rng.integers(-2, 3, size=(24, 24, 3))
        noisy = Image.fromarray(np.clip(np.asarray(portrait) + noise, 0, 255).astype(np.uint8))
        assert indistinguishable_share(snap_to_grid(noisy, palette=PALETTE), portrait) >= 0.97
