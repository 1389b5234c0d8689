from pathlib import Path

import pytest

from bespoke_pipeline.pixelart.synth import write_dataset


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """A small raw folder of generated portraits with their captions."""
    folder = tmp_path / "raw"
    write_dataset(folder, count=24, seed=11)
    return folder
