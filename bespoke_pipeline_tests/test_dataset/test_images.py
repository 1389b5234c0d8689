import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.dataset.images import BadInputError, pixel_digest, read_pixel_art
from bespoke_pipeline.pixelart.colors import delta_e_2000, rgb_to_lab
from bespoke_pipeline.pixelart.snap import grid_cleanliness
from bespoke_pipeline.pixelart.synth import synth_portraits
from bespoke_pipeline_tests.zoo import (
    EXPECTED,
    add_bad_files,
    png_bytes,
    rich_portrait,
    smeared,
    touched_up,
    upscaled,
)


def write(folder, name, image):
    path = folder / name
    path.write_bytes(png_bytes(image))
    return path


def rgba(image):
    return np.asarray(image.convert("RGBA"))


def distinct_colors(image):
    return len(np.unique(rgba(image).reshape(-1, 4), axis=0))


@pytest.mark.parametrize(
    "name", [n for n, (status, _) in EXPECTED.items() if status == "rejected" and "twin" not in n]
)
def test_each_bad_image_is_refused_with_its_file_and_reason(raw_dir, name):
    add_bad_files(raw_dir)
    with pytest.raises(BadInputError) as caught:
        read_pixel_art(raw_dir / name)
    assert caught.value.file == name
    assert EXPECTED[name][1] in caught.value.reason
    assert str(caught.value).startswith(f"{name}: ")


@pytest.mark.parametrize(
    ("size", "phrase"),
    [
        ((32, 32), "is 32x32 pixels; sides must be 24 or a whole multiple of 24"),
        ((1024, 1024), "is 1024x1024 pixels; sides must be 24 or a whole multiple of 24"),
        ((24, 48), "is 24x48 pixels; pixel art must be square"),
        ((1560, 1560), "is 1560x1560 pixels; the largest accepted is 1536x1536"),
    ],
)
def test_sides_that_are_not_a_24_grid_are_refused(tmp_path, size, phrase):
    path = write(tmp_path, "odd.png", Image.new("RGB", size, (200, 30, 40)))
    with pytest.raises(BadInputError, match=f"^odd.png: {phrase}"):
        read_pixel_art(path)


def test_files_beyond_the_size_limit_are_refused_unread(tmp_path):
    path = tmp_path / "huge.png"
    path.write_bytes(bytes((16 << 20) + 1))
    with pytest.raises(BadInputError, match="^huge.png: file is 16,777,217 bytes; the limit"):
        read_pixel_art(path)


def test_semi_transparent_pixels_are_refused_in_an_upscaled_file(tmp_path):
    pixels = np.array(upscaled(next(synth_portraits(1, 4))[0].convert("RGBA")))
    pixels[5, 7, 3] = 200  # one pixel of 331,776: gone after reduction, refused before
    path = write(tmp_path, "ghost_576.png", Image.fromarray(pixels))
    with pytest.raises(BadInputError, match="1 semi-transparent pixels"):
        read_pixel_art(path)


def test_good_images_load_as_24x24_rgba(raw_dir):
    art = read_pixel_art(raw_dir / "punk_0001.png")
    assert (art.image.mode, art.image.size) == ("RGBA", (24, 24))
    assert (art.source_side, art.recovery, art.agreement, art.warnings) == (24, "native", 1.0, ())
    assert (rgba(art.image) == rgba(Image.open(raw_dir / "punk_0001.png"))).all()


@pytest.mark.parametrize("side", [48, 576, 600, 1536])
def test_an_exact_upscale_is_its_24px_original_pixel_for_pixel(tmp_path, side):
    original = rich_portrait()
    art = read_pixel_art(write(tmp_path, "big.png", upscaled(original, side)))
    assert (art.source_side, art.recovery, art.agreement, art.warnings) == (side, "exact", 1.0, ())
    assert art.image.size == (24, 24)
    assert (rgba(art.image) == rgba(original)).all()


@pytest.mark.parametrize(("export", "recovery"), [(upscaled, "exact"), (touched_up, "snapped")])
def test_transparent_cells_survive_the_reduction(tmp_path, export, recovery):
    original = np.array(next(synth_portraits(1, 4))[0].convert("RGBA"))
    original[:6, :, :] = 0  # a transparent top band
    art = read_pixel_art(write(tmp_path, "cutout.png", export(Image.fromarray(original))))
    assert art.recovery == recovery
    assert (rgba(art.image) == original).all()


def test_a_touched_up_upscale_is_snapped_back_to_its_exact_grid(tmp_path):
    """Snapping merges near-identical colors across the image; the art's own shading
    (gradient steps a few delta E apart) must come back exactly all the same."""
    original = rich_portrait()
    art = read_pixel_art(write(tmp_path, "touched.png", touched_up(original)))
    assert (art.source_side, art.recovery) == (576, "snapped")
    assert 0.99 < art.agreement < 1.0
    assert (rgba(art.image) == rgba(original)).all()
    (warning,) = art.warnings
    assert "576x576 is not an exact 24x upscale (3 of 576 cells are not one color)" in warning
    assert "recovered the grid with snap_to_grid, 99.9% of pixels agree with it" in warning
    assert "unsure" not in warning


def test_a_bilinear_upscale_is_recovered_with_an_unsure_warning(tmp_path):
    for index, (original, _) in enumerate(synth_portraits(5, 1)):
        big = original.resize((576, 576), Image.Resampling.BILINEAR)
        art = read_pixel_art(write(tmp_path, f"smooth_{index}.png", big))
        assert (art.source_side, art.recovery) == (576, "snapped")
        recovered = rgba(art.image)[..., :3]
        distance = delta_e_2000(
            rgb_to_lab(recovered.reshape(-1, 3)), rgb_to_lab(np.asarray(original).reshape(-1, 3))
        )
        # rich palettes hold shades 1-3 apart that a blur can't tell apart (nor a viewer)
        assert (distance <= 3).mean() >= 0.9
        assert distance.max() < 12  # the rest are off by a shade, never another color
        assert art.agreement == pytest.approx(grid_cleanliness(big, art.image, 6.0))
        assert art.agreement < 0.9 and "the recovery is unsure" in art.warnings[0]


def test_rich_palettes_are_accepted_unless_a_cap_is_asked_for(tmp_path):
    image = rich_portrait()
    colors = distinct_colors(image)
    assert colors >= 40
    path = write(tmp_path, "rich.png", image)
    art = read_pixel_art(path)
    assert (art.recovery, art.warnings) == ("native", ())  # dithering and shading are not smears
    with pytest.raises(BadInputError, match=rf"^rich.png: {colors} distinct colors \(limit 16\)"):
        read_pixel_art(path, max_colors=16)
    assert read_pixel_art(path, max_colors=colors).recovery == "native"


SMEARED = "looks resampled: 15% of pixels are blends of their neighbours (smeared edges)"


def test_a_resampled_24px_image_is_refused_naming_its_blend_share(tmp_path):
    path = write(tmp_path, "smeared.png", smeared(next(synth_portraits(1, 2))[0]))
    with pytest.raises(BadInputError) as caught:
        read_pixel_art(path)
    assert str(caught.value) == (
        f"smeared.png: {SMEARED}; set allow_resampled: true on the dataset resource to keep it"
    )


def test_allow_resampled_keeps_a_resampled_image_with_a_warning(tmp_path):
    path = write(tmp_path, "smeared.png", smeared(next(synth_portraits(1, 2))[0]))
    art = read_pixel_art(path, allow_resampled=True)
    assert (art.recovery, art.warnings) == ("native", (SMEARED,))


def test_the_flat_demo_punks_do_not_look_resampled(raw_dir):
    assert all(not read_pixel_art(p).warnings for p in raw_dir.glob("*.png"))


def test_pixel_digest_ignores_encoding_and_scale_but_not_content(raw_dir):
    add_bad_files(raw_dir)
    original = read_pixel_art(raw_dir / "punk_0001.png").image
    for copy in ("twin.png", "twin_576.png"):
        assert pixel_digest(original) == pixel_digest(read_pixel_art(raw_dir / copy).image)
    assert pixel_digest(original) != pixel_digest(read_pixel_art(raw_dir / "punk_0002.png").image)
