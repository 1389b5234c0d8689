import filecmp

from bespoke_pipeline.cli import main
from bespoke_pipeline.paths import RAW_DIR


def test_synth_reproduces_the_shipped_demo_dataset(tmp_path, capsys):
    """data/README.md documents this exact command; the shipped files must match it."""
    main(["synth", "--out", str(tmp_path), "--count", "193", "--seed", "2026"])
    assert "wrote 193 portraits" in capsys.readouterr().out
    shipped = sorted(p.name for p in RAW_DIR.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == shipped
    match, mismatch, errors = filecmp.cmpfiles(RAW_DIR, tmp_path, shipped, shallow=False)
    assert (mismatch, errors) == ([], [])
