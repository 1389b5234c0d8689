import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.bench.snap import (
    JPEG_QUALITIES,
    SIDES,
    arts_from,
    exact_share,
    generator_like,
    unseen_share,
)
from bespoke_pipeline.evaluation.metrics import palette_of
from bespoke_pipeline.pixelart.colors import delta_e_2000, hex_to_rgb, rgb_to_lab
from bespoke_pipeline.pixelart.regions import read_regions
from bespoke_pipeline.pixelart.snap import grid_cleanliness, snap_to_grid
from bespoke_pipeline.pixelart.synth import synth_portraits

R = Image.Resampling
PORTRAITS = [image for image, _ in synth_portraits(12, seed=21)]
PALETTE = palette_of(np.stack([np.asarray(p) for p in PORTRAITS]))
REAL_SAMPLE = Path(__file__).resolve().parents[3] / "shared" / "real-sample"
REAL = arts_from(REAL_SAMPLE, synthetic=0)  # empty where ../shared/real-sample is not here
GENERATED = list(arts_from(None, synthetic=6).values())
needs_real = pytest.mark.skipif(not REAL, reason="../shared/real-sample is not in this clone")


def color_distances(snapped: Image.Image, truth: Image.Image) -> np.ndarray:
    a, b = (rgb_to_lab(np.asarray(i).reshape(-1, 3)) for i in (snapped, truth))
    return delta_e_2000(a, b)


def indistinguishable_share(snapped: Image.Image, truth: Image.Image) -> float:
    """Cells within CIEDE2000 3 of the truth: rich palettes hold shades 1-3 apart (dither
    tones, gradient steps) that a blurred rendering cannot tell apart, nor can a viewer."""
    return float((color_distances(snapped, truth) <= 3).mean())


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


@needs_real
def test_exact_real_art_at_24_px_keeps_every_colour() -> None:
    """Checkered and dithered real backgrounds: no pixel's 4 neighbours share its colour, and
    reading the noise from them merged lad_054's cells (16% kept)."""
    assert {name: exact_share(snap_to_grid(art), art) for name, art in REAL.items()} == {
        name: 1.0 for name in REAL
    }


def test_a_noisy_native_rendering_without_palette_settles_as_drawn() -> None:
    """The base model card snaps without a palette: each pixel once kept its own noisy
    colour, so no region read as one colour and the card's hair colour fell from 70% to 2%."""
    rng = np.random.default_rng(1)
    shares = []
    for portrait in PORTRAITS[:6]:
        art = np.asarray(portrait)
        noisy = np.clip(art + rng.normal(0, 2.0, art.shape).round(), 0, 255).astype(np.uint8)
        snapped = snap_to_grid(Image.fromarray(noisy))
        drawn = len(np.unique(art.reshape(-1, 3), axis=0))
        assert len(np.unique(np.asarray(snapped).reshape(-1, 3), axis=0)) <= drawn + 2
        shares.append(indistinguishable_share(snapped, portrait))
        seen, drawn_hair = (read_regions(i).hair_colors for i in (snapped, portrait))
        seen_lab, drawn_lab = (
            rgb_to_lab(np.array([hex_to_rgb(c) for c in h])) for h in (seen, drawn_hair)
        )
        # every drawn hair shade is read, as the mean of its noisy pixels, rounded
        assert (delta_e_2000(drawn_lab[:, None], seen_lab[None]).min(axis=1) <= 1).all()
    # shades drawn closer than the noise can tell (a gradient's steps) merge, nothing else
    assert min(shares) >= 0.9 and np.mean(shares) >= 0.97


@pytest.mark.parametrize("side", SIDES)
def test_generator_like_renderings_snap_to_the_exact_cells(side: int) -> None:
    """Off-phase grid, blur and noise, no palette: the colours come back to the unit."""
    shares = [
        exact_share(snap_to_grid(generator_like(art, i, side)), art)
        for i, art in enumerate(GENERATED)
    ]
    assert np.mean(shares) >= 0.99
    assert min(shares) >= 0.98  # a cell or two of a colour drawn once can round the wrong way


@needs_real
def test_real_art_snaps_to_the_exact_cells_and_keeps_its_close_shades() -> None:
    """Each real sample at one side: exact cells, and the shades that real art places a
    few delta E apart (gradient steps, dither tones) are not merged into one."""
    shares, close, kept = [], 0, 0
    for i, art in enumerate(REAL.values()):
        snapped = snap_to_grid(generator_like(art, i, SIDES[i % len(SIDES)]))
        shares.append(exact_share(snapped, art))
        truth, found = (np.asarray(a).reshape(-1, 3) for a in (art, snapped))
        colors, inverse = np.unique(truth, axis=0, return_inverse=True)
        lab = rgb_to_lab(colors)
        apart = delta_e_2000(lab[:, None], lab[None]) + np.diag(np.full(len(colors), 99.0))
        for shade in np.flatnonzero(apart.min(axis=1) < 3):
            close += 1
            kept += (found[inverse.ravel() == shade] == colors[shade]).all(axis=1).mean() > 0.5
    assert np.mean(shares) >= 0.99
    assert min(shares) >= 0.98
    assert close > 50 and kept / close >= 0.9


@needs_real
def test_bilinear_upscales_of_real_art_snap_to_the_exact_cells() -> None:
    """A bilinear upscale (blurred, noisy) leaves no flat middle in a cell: each pixel mixes
    four cells, and reading a cell's middle took a share of its neighbours' colours (36% of
    the samples' cells came back exact at 768 px). Fitted as the cells drawn through the
    filter, each cell is read from all its pixels."""
    shares = [
        exact_share(snap_to_grid(generator_like(art, i, 768, rendering="bilinear")), art)
        for i, art in enumerate(REAL.values())
    ]
    assert np.mean(shares) >= 0.99
    assert min(shares) >= 0.96


def test_jpeg_renderings_come_back_within_sight_of_every_cell() -> None:
    """JPEG (quality 75-85) moves even a flat field of one colour by a unit or two in a
    channel, and most colours do not survive its round trip at all, so exact cells cannot
    be asked of a JPEG; what is asked is that every cell lands on its colour within
    CIEDE2000 2, below what a viewer tells apart (the grid is right and the colours of a
    region settle together)."""
    arts = [*REAL.values(), *GENERATED]
    for i, art in enumerate(arts):
        quality = JPEG_QUALITIES[i % len(JPEG_QUALITIES)]
        rendering = generator_like(art, i, SIDES[i % len(SIDES)], quality)
        assert unseen_share(snap_to_grid(rendering), art) >= 0.99
