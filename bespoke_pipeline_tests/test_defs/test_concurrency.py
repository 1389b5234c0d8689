"""Several pipeline runs at once, as real processes sharing one Dagster instance, runtime
folder and tracking store: two configs training and promoting at the same time, and the
same config twice (two `bespoke run` started together)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from bespoke_pipeline.dataset.package import verify_package
from bespoke_pipeline.evaluation.promotion import PRODUCTION_RECORD
from bespoke_pipeline.paths import PROJECT_DIR, production_dir
from bespoke_pipeline.registry import MODEL_NAME, best_version, production
from bespoke_pipeline_tests.test_defs.test_training_assets import micro_configs  # noqa: F401
from bespoke_pipeline_tests.test_training.conftest import tiny_base  # noqa: F401


def test_concurrent_runs_all_succeed_and_the_best_model_ends_in_production(
    tmp_path,
    raw_dir,
    micro_configs,  # noqa: F811
):
    # The partition names are the shipped configs'; here both are micro pixel configs.
    pixel = yaml.safe_load((micro_configs / "pixel-tiny.yaml").read_text())
    (micro_configs / "sdxl.yaml").write_text(yaml.safe_dump({**pixel, "learning_rate": 1e-2}))
    home = tmp_path / "dagster"
    home.mkdir()
    shutil.copy(PROJECT_DIR / "dagster.yaml", home)  # the pool limit, storage relative to home
    env = {**os.environ, "DAGSTER_HOME": str(home), "OMP_NUM_THREADS": "1"}
    worker = [sys.executable, "-m", "bespoke_pipeline_tests.concurrent_run", str(tmp_path)]
    processes = [
        subprocess.Popen(
            [*worker, str(raw_dir), str(micro_configs), partition],
            env=env,
            cwd=home,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for partition in ("pixel-tiny", "sdxl", "pixel-tiny")
    ]
    errors = [p.communicate(timeout=600)[1] for p in processes]
    failures = [e[-3000:] for p, e in zip(processes, errors, strict=True) if p.returncode]
    assert not failures, "\n\n".join(failures)

    runtime = tmp_path / "runtime"
    package = json.loads((runtime / "assets" / "training_package.json").read_text())
    assert verify_package(Path(package["path"])) == []
    for scores in (runtime / "assets" / "checkpoint_scores").glob("*.parquet"):
        assert list(pd.read_parquet(scores).epoch) == [0, 1, 2]
    assert not list(runtime.rglob("*.tmp"))  # no temp file left behind

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    holder = production(client)
    assert holder.version == best_version(client, package["sha256"]).version
    versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    assert holder.composite == max(float(v.tags["composite"]) for v in versions)
    local = json.loads((production_dir(runtime) / PRODUCTION_RECORD).read_text())
    assert str(local["mlflow_model_version"]) == holder.version
