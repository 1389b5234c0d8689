"""Several pipeline runs at once, as real processes sharing one Dagster instance, runtime
folder and tracking store: two configs training and promoting at the same time, and the
same config twice (two `bespoke run` started together)."""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from bespoke_pipeline.dataset.package import verify_package
from bespoke_pipeline.evaluation.promotion import PRODUCTION_RECORD
from bespoke_pipeline.paths import production_dir
from bespoke_pipeline.registry import MODEL_NAME, best_version, production
from bespoke_pipeline_tests.test_defs.test_training_assets import micro_configs  # noqa: F401
from bespoke_pipeline_tests.test_training.conftest import tiny_base  # noqa: F401
from bespoke_pipeline_tests.workers import Workers


def test_concurrent_runs_all_succeed_and_the_best_model_ends_in_production(
    tmp_path,
    raw_dir,
    micro_configs,  # noqa: F811
    stores,
):
    # The partition names are the shipped configs'; here both are micro pixel configs.
    pixel = yaml.safe_load((micro_configs / "pixel-tiny.yaml").read_text())
    (micro_configs / "sdxl.yaml").write_text(yaml.safe_dump({**pixel, "learning_rate": 1e-2}))
    workers = Workers(tmp_path, raw_dir, micro_configs, stores)
    processes = [workers.start(p) for p in ("pixel-tiny", "sdxl", "pixel-tiny")]
    errors = [p.communicate(timeout=600)[1] for p in processes]
    failures = [e[-3000:] for p, e in zip(processes, errors, strict=True) if p.returncode]
    assert not failures, "\n\n".join(failures)

    runtime = tmp_path / "runtime"
    package = json.loads((runtime / "assets" / "training_package.json").read_text())
    assert verify_package(Path(package["path"])) == []
    for scores in (runtime / "assets" / "checkpoint_scores").glob("*.parquet"):
        assert list(pd.read_parquet(scores).epoch) == [0, 1, 2]
    assert not list(runtime.rglob("*.tmp"))  # no temp file left behind

    client = MlflowClient(stores.tracking_uri)
    holder = production(client)
    assert holder.version == best_version(client, package["sha256"]).version
    versions = client.search_model_versions(f"name='{MODEL_NAME}'")
    assert holder.composite == max(float(v.tags["composite"]) for v in versions)
    local = json.loads((production_dir(runtime) / PRODUCTION_RECORD).read_text())
    assert str(local["mlflow_model_version"]) == holder.version


def test_a_run_killed_mid_training_never_blocks_the_next(
    tmp_path,
    raw_dir,
    micro_configs,  # noqa: F811
    stores,
):
    """kill -9 while training holds the gpu pool slot, then a plain re-run: it clears the
    dead run (failed, slot freed, MLflow run ended) and trains instead of waiting for ever."""
    pixel = yaml.safe_load((micro_configs / "pixel-tiny.yaml").read_text())
    (micro_configs / "pixel-tiny.yaml").write_text(
        yaml.safe_dump({**pixel, "num_train_epochs": 5, "batch_size": 2})  # time to kill it
    )
    workers = Workers(tmp_path, raw_dir, micro_configs, stores)
    victim = workers.start("pixel-tiny")
    instance = workers.instance()
    lora_runs = tmp_path / "runtime" / "artifacts" / "lora" / "pixel-tiny"
    deadline = time.monotonic() + 300
    while not list(lora_runs.glob("*/epoch-0002")):  # mid-training, two epochs saved
        assert victim.poll() is None and time.monotonic() < deadline
        time.sleep(0.2)
    [killed] = instance.event_log_storage.get_concurrency_run_ids()  # it holds the slot
    victim.kill()
    victim.wait()
    assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.STARTED  # wedged
    doctor = subprocess.run(
        [str(Path(sys.executable).with_name("bespoke")), "doctor"],
        env={**os.environ, "DAGSTER_HOME": str(workers.home)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"{killed[:8]} training_job [pixel-tiny]" in doctor
    assert "process gone, holds a pool slot" in doctor and "1 stale" in doctor

    rerun = workers.start("pixel-tiny")
    _, error = rerun.communicate(timeout=600)
    assert rerun.returncode == 0, error[-3000:]
    assert f"cleared stale run {killed[:8]}" in error
    assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
    assert not instance.event_log_storage.get_concurrency_run_ids()
    trained = instance.get_latest_materialization_event(dg.AssetKey("lora"))
    assert trained.asset_materialization.metadata["resumed_from_epoch"].value >= 2
    client = MlflowClient(stores.tracking_uri)
    experiment = client.get_experiment_by_name("bespoke-punks").experiment_id
    left = client.search_runs([experiment], f"tags.`dagster.run_id` = '{killed}'")
    assert left and {r.info.status for r in left} == {"FAILED"}
