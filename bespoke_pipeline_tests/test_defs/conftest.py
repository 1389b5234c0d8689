from pathlib import Path

import dagster as dg
import pytest
from mlflow.tracking import MlflowClient

from bespoke_pipeline.definitions import build_definitions
from bespoke_pipeline.defs.resources import (
    DatasetResource,
    EvaluationResource,
    TrainingResource,
    default_resources,
)

#: Enough evaluation to exercise every step in seconds; gates that any model passes, so
#: tests about other things are not decided by how good a random tiny model is.
QUICK_EVALUATION = EvaluationResource(
    held_out_prompts=1,
    samples_per_prompt=2,
    guidance_scales=[1.0, 2.0],
    steps=[2],
    gates={
        "beat_base_by": -1.0,
        "min_right_facing": 0.0,
        "min_eyes_placed": 0.0,
        "min_grid_cleanliness": 0.0,
        "max_memorized": 1.0,
    },
)


class Pipeline:
    """The production graph pointed at temp folders and a temp MLflow store."""

    def __init__(self, root: Path, raw_dir: Path, tracking_uri: str | None = None) -> None:
        self.root = root
        self.raw_dir = raw_dir
        self.tracking_uri = tracking_uri or f"sqlite:///{root / 'mlflow.db'}"
        self.resources = default_resources(root / "runtime", raw_dir, self.tracking_uri)
        self.instance = dg.DagsterInstance.ephemeral()

    def materialize(
        self, run_config: dict | None = None, strict: bool = False, raise_on_error: bool = True
    ) -> dg.ExecuteInProcessResult:
        resources = dict(self.resources)
        if strict:
            resources["dataset"] = DatasetResource(raw_dir=str(self.raw_dir), strict=True)
        job = build_definitions(resources).resolve_job_def("dataset_job")
        return job.execute_in_process(
            run_config=run_config, instance=self.instance, raise_on_error=raise_on_error
        )

    def train(
        self,
        config_dir: Path,
        partition: str = "pixel-tiny",
        evaluation: EvaluationResource = QUICK_EVALUATION,
        raise_on_error: bool = True,
    ) -> dg.ExecuteInProcessResult:
        """The training job: training, checkpoints, scores and promotion for one config."""
        resources = {
            **self.resources,
            "training": TrainingResource(config_dir=str(config_dir)),
            "evaluation": evaluation,
        }
        job = build_definitions(resources).resolve_job_def("training_job")
        return job.execute_in_process(
            instance=self.instance, partition_key=partition, raise_on_error=raise_on_error
        )

    def mlflow_runs(self) -> list:
        client = MlflowClient(self.tracking_uri)
        experiment = client.get_experiment_by_name("bespoke-punks")
        return client.search_runs([experiment.experiment_id])


@pytest.fixture
def pipeline(tmp_path: Path, raw_dir: Path) -> Pipeline:
    return Pipeline(tmp_path, raw_dir)
