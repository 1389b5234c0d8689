import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.dataset.scan import records_frame, scan_raw_dir
from bespoke_pipeline_tests.zoo import (
    EXPECTED,
    add_bad_files,
    rich_portrait,
    smeared,
    touched_up,
    upscaled,
)


def snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    return {
        p.name: (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
        for p in folder.iterdir()
    }


def test_bad_files_are_named_with_reasons_and_good_ones_kept(raw_dir):
    add_bad_files(raw_dir)
    before = snapshot(raw_dir)
    records = {r.file: r for r in scan_raw_dir(raw_dir)}
    for name, (status, phrase) in EXPECTED.items():
        assert records[name].status == status, name
        assert phrase in records[name].reason, name
    good = [r for r in records.values() if r.status == "ok"]
    assert len(good) == 24
    assert all(r.caption_file == Path(r.file).with_suffix(".txt").name for r in good)
    assert {(r.source_side, r.warning) for r in good} == {(24, None), (576, None)}
    assert all(r.source_side is None for r in records.values() if r.status != "ok")
    assert snapshot(raw_dir) == before  # read only


def test_exports_at_any_scale_are_kept_with_what_reading_them_found(raw_dir):
    original = Image.open(raw_dir / "punk_0001.png")
    upscaled(rich_portrait()).save(raw_dir / "rich_576.png")
    touched_up(rich_portrait(3)).save(raw_dir / "touched_576.png")
    smeared(original).save(raw_dir / "smeared.png")
    found = {
        r.file: (r.status, r.source_side, r.warning)
        for r in scan_raw_dir(raw_dir, allow_resampled=True)
    }
    assert found["rich_576.png"] == ("ok", 576, None)
    assert found["touched_576.png"][:2] == ("ok", 576)
    assert "recovered the grid with snap_to_grid" in found["touched_576.png"][2]
    assert found["smeared.png"][:2] == ("ok", 24)
    assert found["smeared.png"][2].startswith("looks resampled: ")


def test_a_resampled_image_is_rejected_unless_allowed_and_good_ones_kept(raw_dir):
    smeared(Image.open(raw_dir / "punk_0001.png")).save(raw_dir / "smeared.png")
    before = snapshot(raw_dir)
    records = {r.file: r for r in scan_raw_dir(raw_dir)}
    assert records["smeared.png"].status == "rejected"
    assert records["smeared.png"].reason.startswith("looks resampled: ")
    assert "% of pixels are blends" in records["smeared.png"].reason
    assert "set allow_resampled: true" in records["smeared.png"].reason
    good = [r for r in records.values() if r.status == "ok"]
    assert len(good) == 24 and all(r.warning is None for r in good)
    allowed = {r.file: r for r in scan_raw_dir(raw_dir, allow_resampled=True)}
    assert allowed["smeared.png"].status == "ok"
    assert allowed["smeared.png"].warning.startswith("looks resampled: ")
    assert snapshot(raw_dir) == before  # read only


def test_a_color_cap_rejects_rich_art_only_when_asked_for(raw_dir):
    upscaled(rich_portrait()).save(raw_dir / "rich_576.png")
    assert all(r.status == "ok" for r in scan_raw_dir(raw_dir) if r.file.endswith(".png"))
    capped = {r.file: r for r in scan_raw_dir(raw_dir, max_colors=16)}
    assert capped["rich_576.png"].status == "rejected"
    assert "distinct colors (limit 16)" in capped["rich_576.png"].reason
    for name, record in capped.items():
        if name.startswith("punk_") and name.endswith(".png"):
            colours = len(
                np.unique(np.asarray(read_pixel_art(raw_dir / name).image).reshape(-1, 4), axis=0)
            )
            assert (record.status == "ok") == (colours <= 16), name


def test_odd_file_names_are_accepted(raw_dir):
    (raw_dir / "punk_0001.png").rename(raw_dir / "my punk é.png")
    (raw_dir / "punk_0001.txt").rename(raw_dir / "my punk é.txt")
    record = next(r for r in scan_raw_dir(raw_dir) if r.file == "my punk é.png")
    assert (record.status, record.caption_file) == ("ok", "my punk é.txt")


def test_records_are_sorted_and_tabulated(raw_dir):
    add_bad_files(raw_dir)
    frame = records_frame(scan_raw_dir(raw_dir))
    assert list(frame.file) == sorted(frame.file)
    assert list(frame.columns) == [
        "file",
        "status",
        "reason",
        "sha256",
        "caption_file",
        "source_side",
        "warning",
    ]
    assert frame.set_index("file").source_side.to_dict()["punk_0001.png"] == 24
    assert frame.source_side.dtype == "Int64"
