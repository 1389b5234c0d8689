"""The pipeline running itself: a scheduled retrain and a sensor that retrains when the
images in the raw folder change. Both request one dataset run; when its package is made, a
third sensor requests training for every config this machine can train, so all configs
train on the one package instead of each run making its own. Promotion still goes through
the quality gates."""

import json
from pathlib import Path

import dagster as dg
import torch
import yaml
from pydantic import BaseModel

from bespoke_pipeline.dataset.fingerprint import describe_change, digest, fingerprint
from bespoke_pipeline.defs.jobs import dataset_job, training_job
from bespoke_pipeline.defs.resources import DatasetResource, TrainingResource
from bespoke_pipeline.training.config import CONFIG_DIR, trainability

AUTOMATION_FILE = CONFIG_DIR / "automation" / "retrain.yaml"


class AutomationSettings(BaseModel):
    cron: str = "0 3 * * 1"
    timezone: str = "UTC"
    sensor_interval_seconds: int = 30

    @classmethod
    def load(cls, path: Path = AUTOMATION_FILE) -> "AutomationSettings":
        return cls.model_validate(yaml.safe_load(path.read_text()) if path.exists() else {})


SETTINGS = AutomationSettings.load()

#: Marks the dataset runs that the schedule and the raw-folder sensor request: their
#: package starts the trainings. Packages made by `bespoke run` or the CLI do not, as
#: those runs train on their own.
RETRAIN_TAG = "bespoke/retrain"


def _trainable(training_resource: TrainingResource) -> list[str]:
    return trainability(torch.cuda.is_available(), Path(training_resource.config_dir)).trainable


def _dataset_request(run_key: str | None, tags: dict[str, str]) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=run_key, job_name=dataset_job.name, tags={**tags, RETRAIN_TAG: "1"}
    )


@dg.schedule(
    job=dataset_job,
    cron_schedule=SETTINGS.cron,
    execution_timezone=SETTINGS.timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Retrain every trainable config on a cadence ({SETTINGS.cron}, "
    f"{SETTINGS.timezone}; set in configs/automation/retrain.yaml)",
)
def scheduled_retrain(
    context: dg.ScheduleEvaluationContext, training: TrainingResource
) -> dg.SkipReason | dg.RunRequest:
    if not _trainable(training):
        return dg.SkipReason("no training config can train on this machine")
    return _dataset_request(None, {"bespoke/trigger": "schedule"})


@dg.sensor(
    job=dataset_job,
    minimum_interval_seconds=SETTINGS.sensor_interval_seconds,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Retrain when files in the raw folder are added, changed or removed "
    "(compared by content hash; a burst of copies waits until the folder is quiet)",
)
def raw_data_changed(
    context: dg.SensorEvaluationContext, dataset: DatasetResource, training: TrainingResource
) -> dg.SensorResult | dg.SkipReason:
    """The cursor holds the hashes of the contents last trained on ("seen") and the digest
    seen on the previous tick ("pending"). A change triggers only once the folder has
    looked the same on two ticks in a row, so copying 50 files gives one run, not 50."""
    current = fingerprint(dataset.raw_path)
    now = digest(current)
    state = json.loads(context.cursor) if context.cursor else None
    if state is None:
        return dg.SensorResult(
            skip_reason="recorded the raw folder as it is now; changes from here on retrain",
            cursor=json.dumps({"seen": current, "pending": now}),
        )
    if now == digest(state["seen"]):
        return dg.SkipReason("no file in the raw folder changed")
    if now != state["pending"]:
        return dg.SensorResult(
            skip_reason="the raw folder is still changing; waiting until it is quiet",
            cursor=json.dumps({**state, "pending": now}),
        )
    change = describe_change(state["seen"], current)
    context.log.info(f"raw folder changed: {change}")
    trigger = {"bespoke/trigger": "raw data changed", "bespoke/change": change[:200]}
    trainable = bool(_trainable(training))
    return dg.SensorResult(
        run_requests=[_dataset_request(now[:16], trigger)] if trainable else [],
        skip_reason=None if trainable else "no training config can train on this machine",
        cursor=json.dumps({"seen": current, "pending": now}),
    )


@dg.asset_sensor(
    asset_key=dg.AssetKey("training_package"),
    job=training_job,
    default_status=dg.DefaultSensorStatus.RUNNING,
    required_resource_keys={"training"},  # asset sensors take no resource parameters
    description="When a retrain's dataset run has made the training package, train, score "
    "and promote every config this machine can train on it",
)
def train_on_new_package(
    context: dg.SensorEvaluationContext, asset_event: dg.EventLogEntry
) -> dg.SkipReason | list[dg.RunRequest]:
    made_by = context.instance.get_run_by_id(asset_event.run_id)
    if made_by is None or RETRAIN_TAG not in made_by.tags:
        return dg.SkipReason("the package was made by a run that trains on its own")
    tags = {k: v for k, v in made_by.tags.items() if k.startswith("bespoke/")}
    requests = [
        dg.RunRequest(partition_key=name, run_key=f"{asset_event.run_id}-{name}", tags=tags)
        for name in _trainable(context.resources.training)
    ]
    return requests or dg.SkipReason("no training config can train on this machine")
