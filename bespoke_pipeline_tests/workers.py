"""Pipeline runs as real processes (`concurrent_run`), for the tests that need processes of
their own: runs at once on one instance, a killed run, a sweep's partitions."""

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import yaml

from bespoke_pipeline.paths import PROJECT_DIR
from bespoke_pipeline_tests.stores import Stores


class Workers:
    """Pipeline runs as separate processes on one Dagster home, runtime and MLflow store."""

    def __init__(self, root: Path, raw_dir: Path, config_dir: Path, stores: Stores) -> None:
        self.root = root
        self.home = root / "dagster"
        self.home.mkdir()
        settings = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())  # the pool limit
        settings["storage"] = stores.dagster_storage
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(settings))
        self.tracking_uri = stores.tracking_uri
        self.command = [
            *(sys.executable, "-m", "bespoke_pipeline_tests.concurrent_run"),
            *(str(root), str(raw_dir), str(config_dir), stores.tracking_uri),
        ]

    def start(self, *partitions: str, env: dict[str, str] | None = None) -> subprocess.Popen:
        return subprocess.Popen(
            [*self.command, *partitions],
            env={
                **os.environ,
                "DAGSTER_HOME": str(self.home),
                "OMP_NUM_THREADS": "1",
                **(env or {}),
            },
            cwd=self.home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))
