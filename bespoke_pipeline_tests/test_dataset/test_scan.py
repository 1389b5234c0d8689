import hashlib
from pathlib import Path

from bespoke_pipeline.dataset.scan import records_frame, scan_raw_dir
from bespoke_pipeline_tests.zoo import EXPECTED, add_bad_files


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
    assert snapshot(raw_dir) == before  # read only


def test_odd_file_names_are_accepted(raw_dir):
    (raw_dir / "punk_0001.png").rename(raw_dir / "my punk é.png")
    (raw_dir / "punk_0001.txt").rename(raw_dir / "my punk é.txt")
    record = next(r for r in scan_raw_dir(raw_dir) if r.file == "my punk é.png")
    assert (record.status, record.caption_file) == ("ok", "my punk é.txt")


def test_records_are_sorted_and_tabulated(raw_dir):
    add_bad_files(raw_dir)
    frame = records_frame(scan_raw_dir(raw_dir))
    assert list(frame.file) == sorted(frame.file)
    assert list(frame.columns) == ["file", "status", "reason", "sha256", "caption_file"]
