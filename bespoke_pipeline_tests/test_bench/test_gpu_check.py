"""The GPU check, at tiny size on a CPU: the script a borrowed GPU runs cannot rot."""

import json

from bespoke_pipeline.bench.gpu_check import gpu_check


def test_every_gpu_family_trains_saves_and_loads_back_through_the_asset_code(tmp_path):
    out = tmp_path / "check.jsonl"
    rows = gpu_check(("sd15", "sdxl", "flux"), "tiny", out, log=lambda line: None)
    assert [r.family for r in rows] == ["sd15", "sdxl", "flux"]
    for row in rows:
        assert row.error is None and row.output_change > 0 and row.ms_per_step > 0
    # our file and the kohya file draw the same (tiny FLUX: diffusers' converter can't read)
    assert [r.kohya_mismatch for r in rows][:2] == [0.0, 0.0] and rows[2].kohya_mismatch is None
    written = [json.loads(line) for line in out.read_text().splitlines()]
    assert [w["family"] for w in written] == ["sd15", "sdxl", "flux"]
