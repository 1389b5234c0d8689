"""What may be committed: every version of a committed file stays in every clone, so
weights and run outputs must not slip in (the base model's resumable state, committed 17
times, grew the clone to 357 MB)."""

import subprocess
from pathlib import Path

import pytest

from bespoke_pipeline.paths import PROJECT_DIR

#: The shipped weights, committed once per release, and the state the history rewrite of
#: issue 39 is to take out (listed here so that nothing else joins it).
SHIPPED = (
    "data/base/pixel-punk-base/",
    "data/base/pixel-punk-base-state/",
    "bespoke_pipeline/pixelart/reader_net.safetensors",
)
WEIGHTS = (".safetensors", ".pt", ".pth", ".ckpt", ".bin", ".zip", ".tar", ".parquet")
LARGEST = 1024 * 1024


def tracked() -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "-z"], cwd=PROJECT_DIR, capture_output=True, text=True
    )
    if done.returncode:
        pytest.skip("not a git checkout")
    return [name for name in done.stdout.split("\0") if name]


def test_no_weights_run_outputs_or_large_files_are_committed_beside_the_shipped_model():
    files = [name for name in tracked() if not name.startswith(SHIPPED)]
    weights = [name for name in files if name.endswith(WEIGHTS)]
    large = [
        name
        for name in files
        if (PROJECT_DIR / name).is_file() and (PROJECT_DIR / name).stat().st_size > LARGEST
    ]
    outputs = [name for name in files if Path(name).parts[0] in (".bespoke", "mlruns")]
    assert not weights and not large and not outputs, (weights, large, outputs)
