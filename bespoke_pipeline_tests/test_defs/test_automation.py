import os
import shutil
from pathlib import Path

import dagster as dg
import pytest
import yaml

from bespoke_pipeline.definitions import defs
from bespoke_pipeline.defs.automation import (
    raw_data_changed,
    scheduled_retrain,
    train_on_new_package,
)
from bespoke_pipeline.defs.resources import DatasetResource, TrainingResource
from bespoke_pipeline.defs.training import TRAINING_POOL
from bespoke_pipeline.paths import PROJECT_DIR
from bespoke_pipeline.training.config import CONFIG_DIR


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    """pixel-tiny (trainable here) and sdxl (needs a GPU)."""
    folder = tmp_path / "configs"
    folder.mkdir()
    for name in ("pixel-tiny", "sdxl"):
        shutil.copy(CONFIG_DIR / f"{name}.yaml", folder)
    return folder


def package_made(instance: dg.DagsterInstance, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """A run that records a training_package materialization, with the given run tags."""

    @dg.asset(name="training_package")
    def package() -> None:
        return None

    return dg.materialize([package], instance=instance, tags=tags)


def sensor_context(instance: dg.DagsterInstance, resources: dict) -> dg.SensorEvaluationContext:
    return dg.build_sensor_context(instance=instance, resources=resources, definitions=defs)


class Sensor:
    """Ticks the sensor against a real folder, carrying the cursor like the daemon does."""

    def __init__(self, raw_dir: Path, config_dir: Path) -> None:
        self.resources = {
            "dataset": DatasetResource(raw_dir=str(raw_dir)),
            "training": TrainingResource(config_dir=str(config_dir)),
        }
        self.cursor: str | None = None

    def tick(self) -> list[dg.RunRequest]:
        context = dg.build_sensor_context(cursor=self.cursor, resources=self.resources)
        result = raw_data_changed(context)
        if isinstance(result, dg.SensorResult):
            self.cursor = result.cursor or self.cursor
            return list(result.run_requests or [])
        return []


def test_sensor_retrains_on_added_changed_and_removed_files_only(raw_dir, config_dir):
    sensor = Sensor(raw_dir, config_dir)
    assert sensor.tick() == []  # the first tick records the folder as it is
    png = sorted(raw_dir.glob("*.png"))[0]
    os.utime(png, (1, 1))  # touched, same bytes
    assert sensor.tick() == []

    shutil.copy(png, raw_dir / "punk_new.png")
    assert sensor.tick() == []  # changed since the last tick: wait until it is quiet
    requests = sensor.tick()
    assert len(requests) == 1  # one dataset run; its package starts the trainings
    assert "1 added (punk_new.png)" in requests[0].tags["bespoke/change"]
    assert sensor.tick() == []  # nothing new since that run

    (raw_dir / "punk_new.png").unlink()
    sensor.tick()
    removed = sensor.tick()
    assert len(removed) == 1 and "1 removed" in removed[0].tags["bespoke/change"]
    assert removed[0].run_key != requests[0].run_key


def test_a_burst_of_copies_gives_one_run(raw_dir, config_dir):
    sensor = Sensor(raw_dir, config_dir)
    sensor.tick()
    source = sorted(raw_dir.glob("*.png"))[:3]
    runs = []
    for index, png in enumerate(source):  # a copy lands between every two ticks
        shutil.copy(png, raw_dir / f"copy_{index}.png")
        runs += sensor.tick()
    runs += sensor.tick() + sensor.tick()
    assert len(runs) == 1
    assert runs[0].tags["bespoke/change"].startswith("3 added")


def test_a_retrain_makes_the_package_once_and_trains_every_trainable_config_on_it(
    config_dir, tmp_path
):
    context = dg.build_schedule_context(
        resources={"training": TrainingResource(config_dir=str(config_dir))}
    )
    request = scheduled_retrain(context)
    assert request.tags["bespoke/trigger"] == "schedule" and request.partition_key is None

    instance = dg.DagsterInstance.ephemeral()
    trainings = {"training": TrainingResource(config_dir=str(config_dir))}
    package_made(instance, tags={})  # as by `bespoke run`: it trains on its own
    tick = train_on_new_package.evaluate_tick(sensor_context(instance, trainings))
    assert tick.run_requests == [] and "trains on its own" in tick.skip_message
    made = package_made(instance, tags=request.tags)  # the schedule's dataset run
    requests = train_on_new_package.evaluate_tick(sensor_context(instance, trainings)).run_requests
    assert [r.partition_key for r in requests] == ["pixel-tiny"]  # sdxl can't train here
    assert requests[0].tags["bespoke/trigger"] == "schedule"
    assert requests[0].run_key.startswith(made.run_id)

    (config_dir / "pixel-tiny.yaml").unlink()
    nothing = scheduled_retrain(
        dg.build_schedule_context(
            resources={"training": TrainingResource(config_dir=str(config_dir))}
        )
    )
    assert isinstance(nothing, dg.SkipReason)


def test_training_runs_one_at_a_time_in_the_gpu_pool():
    lora = defs.resolve_assets_def("lora")
    assert {lora.get_op_def_for_asset_key(k).pool for k in lora.keys} == {TRAINING_POOL}
    instance = yaml.safe_load((PROJECT_DIR / "dagster.yaml").read_text())
    assert instance["concurrency"]["pools"]["default_limit"] == 1
    assert instance["run_monitoring"]["enabled"] is True
