import io
import json
import zipfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from bespoke_pipeline.dataset.package import (
    MANIFEST_NAME,
    PackageEntry,
    build_package,
    safe_stem,
    upscale_factor,
    verify_package,
    with_captions,
)
from bespoke_pipeline.training.data import read_package
from bespoke_pipeline_tests.zoo import rich_portrait, touched_up, upscaled


def entries_for(raw_dir):
    return [
        PackageEntry(p.name, p.with_suffix(".txt").read_text().strip())
        for p in sorted(raw_dir.glob("*.png"))
    ]


def test_same_inputs_give_the_same_bytes_in_any_order(raw_dir, tmp_path):
    entries = entries_for(raw_dir)
    build_package(raw_dir, entries, tmp_path / "a.zip")
    build_package(raw_dir, list(reversed(entries)), tmp_path / "b.zip")
    assert (tmp_path / "a.zip").read_bytes() == (tmp_path / "b.zip").read_bytes()


def test_pairs_and_manifest_are_what_trainers_expect(raw_dir, tmp_path):
    manifest = build_package(raw_dir, entries_for(raw_dir), tmp_path / "p.zip")
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        names = archive.namelist()
        assert names[-1] == MANIFEST_NAME
        assert sorted(n for n in names if n.endswith(".png")) == [
            f"punk_{i:04d}.png" for i in range(1, 25)
        ]
        stored = Image.open(io.BytesIO(archive.read("punk_0002.png")))
        assert (stored.mode, stored.size) == ("RGB", (24, 24))
        assert (np.asarray(stored) == np.asarray(Image.open(raw_dir / "punk_0002.png"))).all()
        assert archive.read("punk_0002.txt").decode().startswith("TOK bespoke, 24x24")
        assert json.loads(archive.read(MANIFEST_NAME)) == manifest
    assert manifest["pairs"] == 24 and len(manifest["members"]) == 48
    assert verify_package(tmp_path / "p.zip") == []


def test_each_caption_variant_trains_from_one_package_and_the_users_text_stays_at_the_root(
    raw_dir, tmp_path
):
    entries = [
        PackageEntry(e.source_file, e.caption, {"from_pixels": f"drawn {i}", "corrected": "fixed"})
        for i, e in enumerate(entries_for(raw_dir))
    ]
    build_package(raw_dir, entries, tmp_path / "p.zip")
    assert verify_package(tmp_path / "p.zip") == []
    written, drawn = (read_package(tmp_path / "p.zip", v) for v in ("as_written", "from_pixels"))
    assert written.captions == [e.caption for e in entries]  # what any other trainer reads
    assert drawn.captions == [f"drawn {i}" for i in range(len(entries))]
    assert (drawn.images == written.images).all() and drawn.sha256 == written.sha256
    # a remote trainer reads only NAME.txt: it gets a copy holding the variant there
    copy = with_captions(tmp_path / "p.zip", "corrected", tmp_path / "c.zip")
    assert verify_package(copy) == []
    assert set(read_package(copy).captions) == {"fixed"}
    # a package made before the variants existed says so, naming itself
    build_package(raw_dir, entries_for(raw_dir), tmp_path / "old.zip")
    with pytest.raises(ValueError, match=r"old\.zip.*no corrected captions"):
        read_package(tmp_path / "old.zip", "corrected")


def test_upscaled_copies_are_exact_nearest_neighbour(raw_dir, tmp_path):
    manifest = build_package(raw_dir, entries_for(raw_dir)[:2], tmp_path / "p.zip", upscale_to=768)
    assert manifest["image_side"] == 768
    with zipfile.ZipFile(tmp_path / "p.zip") as archive:
        big = np.asarray(Image.open(io.BytesIO(archive.read("punk_0001.png"))).convert("RGBA"))
    small = np.asarray(Image.open(raw_dir / "punk_0001.png").convert("RGBA"))
    assert big.shape == (768, 768, 4)
    assert (big[16::32, 16::32] == small).all()
    assert (big == np.repeat(np.repeat(small, 32, axis=0), 32, axis=1)).all()


@pytest.mark.parametrize("side", [512, 1024, 20])
def test_sides_that_smear_cells_are_refused(side):
    with pytest.raises(ValueError, match=f"upscale side {side} is not a multiple of 24"):
        upscale_factor(side)


def test_odd_names_become_safe_unique_members(raw_dir, tmp_path):
    (raw_dir / "punk_0001.png").rename(raw_dir / "my punk é.png")
    (raw_dir / "punk_0002.png").rename(raw_dir / "my_punk_e.png")
    entries = [PackageEntry("my punk é.png", "TOK a"), PackageEntry("my_punk_e.png", "TOK b")]
    manifest = build_package(raw_dir, entries, tmp_path / "p.zip")
    assert [m["name"] for m in manifest["members"]] == [
        "my_punk_e.png",
        "my_punk_e.txt",
        "my_punk_e_2.png",
        "my_punk_e_2.txt",
    ]
    assert manifest["members"][0]["source"] == "my punk é.png"
    assert safe_stem("../../etc/passwd") == "etc_passwd"


def test_verify_names_tampered_and_missing_members(raw_dir, tmp_path):
    build_package(raw_dir, entries_for(raw_dir)[:3], tmp_path / "p.zip")
    with (
        zipfile.ZipFile(tmp_path / "p.zip") as source,
        zipfile.ZipFile(tmp_path / "bad.zip", "w") as bad,
    ):
        for name in source.namelist():
            if name == "punk_0003.txt":
                continue
            data = source.read(name)
            bad.writestr(name, b"tampered" if name == "punk_0001.txt" else data)
    assert verify_package(tmp_path / "bad.zip") == [
        "punk_0003.txt listed in the manifest but missing",
        "punk_0001.txt does not match its manifest SHA-256",
        "punk_0003.png has no caption",
    ]


def member(path, name):
    with zipfile.ZipFile(path) as archive:
        return Image.open(io.BytesIO(archive.read(name)))


def test_exports_are_packed_as_their_recovered_24px_grid(raw_dir, tmp_path):
    original = rich_portrait()
    upscaled(original).save(raw_dir / "rich.png")
    touched_up(original).save(raw_dir / "touched.png")
    entries = [PackageEntry("rich.png", "TOK a"), PackageEntry("touched.png", "TOK b")]
    for name, upscale_to, side in (("small", None, 24), ("big", 768, 768)):
        out = tmp_path / f"{name}.zip"
        build_package(raw_dir, entries, out, upscale_to)
        expected = upscaled(original, side)
        for stem in ("rich", "touched"):
            image = member(out, f"{stem}.png")
            assert (image.mode, image.size) == ("RGB", (side, side))
            assert (np.asarray(image) == np.asarray(expected)).all()
        build_package(raw_dir, entries, tmp_path / "again.zip", upscale_to)
        assert (tmp_path / "again.zip").read_bytes() == out.read_bytes()


def test_transparent_art_is_packed_as_rgba(raw_dir, tmp_path):
    pixels = np.array(Image.open(raw_dir / "punk_0001.png").convert("RGBA"))
    pixels[:4] = 0
    upscaled(Image.fromarray(pixels)).save(raw_dir / "cutout.png")
    build_package(raw_dir, [PackageEntry("cutout.png", "TOK a")], tmp_path / "p.zip")
    image = member(tmp_path / "p.zip", "cutout.png")
    assert (image.mode, image.size) == ("RGBA", (24, 24))
    assert (np.asarray(image) == pixels).all()


def test_concurrent_builds_of_one_package_never_collide(raw_dir, tmp_path):
    entries = entries_for(raw_dir)
    out = tmp_path / "p.zip"
    with ThreadPoolExecutor(4) as pool:
        manifests = list(pool.map(lambda _: build_package(raw_dir, entries, out), range(8)))
    assert all(m == manifests[0] for m in manifests)
    assert verify_package(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p.zip", "raw"]  # no temp left
