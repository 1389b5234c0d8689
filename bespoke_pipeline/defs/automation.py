"""The pipeline running itself: a scheduled retrain and a sensor that retrains when the
images in the raw folder change. Both request the whole chain for every config this
machine can train; promotion still goes through the quality gates."""

import json
from pathlib import Path

import dagster as dg
import torch
import yaml
from pydantic import BaseModel

from bespoke_pipeline.dataset.fingerprint import describe_change, digest, fingerprint
from bespoke_pipeline.defs.dataset import GROUP as DATASET
from bespoke_pipeline.defs.evaluation import GROUP as EVALUATION
from bespoke_pipeline.defs.resources import DatasetResource, TrainingResource
from bespoke_pipeline.defs.training import GROUP as TRAINING
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

retrain_job = dg.define_asset_job(
    "retrain_job",
    selection=dg.AssetSelection.groups(DATASET, TRAINING, EVALUATION),
    description="The whole chain for one training config: dataset, LoRA, checkpoints, "
    "scores, and promotion through the quality gates",
)


def _chain_requests(
    training_resource: TrainingResource, run_key: str | None, tags: dict[str, str]
) -> list[dg.RunRequest]:
    configs = trainability(torch.cuda.is_available(), Path(training_resource.config_dir))
    return [
        dg.RunRequest(
            partition_key=name,
            run_key=f"{run_key}-{name}" if run_key else None,
            tags=tags,
        )
        for name in configs.trainable
    ]


@dg.schedule(
    job=retrain_job,
    cron_schedule=SETTINGS.cron,
    execution_timezone=SETTINGS.timezone,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Retrain every trainable config on a cadence ({SETTINGS.cron}, "
    f"{SETTINGS.timezone}; set in configs/automation/retrain.yaml)",
)
def scheduled_retrain(
    context: dg.ScheduleEvaluationContext, training: TrainingResource
) -> dg.SkipReason | list[dg.RunRequest]:
    requests = _chain_requests(training, None, {"bespoke/trigger": "schedule"})
    return requests or dg.SkipReason("no training config can train on this machine")


@dg.sensor(
    job=retrain_job,
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
    requests = _chain_requests(
        training, now[:16], {"bespoke/trigger": "raw data changed", "bespoke/change": change[:200]}
    )
    return dg.SensorResult(
        run_requests=requests,
        skip_reason=None if requests else "no training config can train on this machine",
        cursor=json.dumps({"seen": current, "pending": now}),
    )
