import pytest

from bespoke_pipeline.dataset.images import BadInputError, pixel_digest, read_pixel_art
from bespoke_pipeline_tests.zoo import EXPECTED, add_bad_files


@pytest.mark.parametrize(
    "name", [n for n, (status, _) in EXPECTED.items() if status == "rejected" and n != "twin.png"]
)
def test_each_bad_image_is_refused_with_its_file_and_reason(raw_dir, name):
    add_bad_files(raw_dir)
    with pytest.raises(BadInputError) as caught:
        read_pixel_art(raw_dir / name)
    assert caught.value.file == name
    assert EXPECTED[name][1] in caught.value.reason
    assert str(caught.value).startswith(f"{name}: ")


def test_good_images_load_as_24x24_rgba(raw_dir):
    image = read_pixel_art(raw_dir / "punk_0001.png")
    assert (image.mode, image.size) == ("RGBA", (24, 24))


def test_pixel_digest_ignores_encoding_but_not_content(raw_dir):
    add_bad_files(raw_dir)
    original = read_pixel_art(raw_dir / "punk_0001.png")
    assert pixel_digest(original) == pixel_digest(read_pixel_art(raw_dir / "twin.png"))
    assert pixel_digest(original) != pixel_digest(read_pixel_art(raw_dir / "punk_0002.png"))


def test_the_color_limit_is_configurable(raw_dir):
    with pytest.raises(BadInputError, match=r"distinct colors \(limit 3\)"):
        read_pixel_art(raw_dir / "punk_0001.png", max_colors=3)
