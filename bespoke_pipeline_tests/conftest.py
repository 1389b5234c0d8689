import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bespoke_pipeline.pixelart.synth import write_dataset


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """A small raw folder of generated portraits with their captions."""
    folder = tmp_path / "raw"
    write_dataset(folder, count=24, seed=11)
    return folder


@dataclass(frozen=True)
class FinishedRun:
    """`bespoke run` (what `make run` does) done once, in its own Dagster and MLflow homes."""

    env: dict[str, str]
    runtime: Path
    stdout: str

    def bespoke(self, *args: str) -> subprocess.CompletedProcess:
        script = str(Path(sys.executable).with_name("bespoke"))  # the console script
        done = subprocess.run(
            [script, *args], env=self.env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """The whole chain on the shipped data and base model: about 1.5 min on 2 cores, shared
    by the tests that need a materialized pipeline."""
    root = tmp_path_factory.mktemp("finished_run")
    (root / "dagster").mkdir()
    env = {
        **os.environ,
        "BESPOKE_HOME": str(root / "runtime"),
        "DAGSTER_HOME": str(root / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }
    run = FinishedRun(env, root / "runtime", "")
    return FinishedRun(env, root / "runtime", run.bespoke("run").stdout)
