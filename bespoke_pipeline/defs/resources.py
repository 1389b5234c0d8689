"""The resources every environment configures; `default_resources` is the one place that
chooses them (local folders and SQLite by default, a tracking server via
$MLFLOW_TRACKING_URI)."""

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from mlflow.tracking import MlflowClient
from pydantic import Field

from bespoke_pipeline import __version__
from bespoke_pipeline.dataset.images import RESAMPLED_SHARE
from bespoke_pipeline.defs.io_manager import TableIOManager
from bespoke_pipeline.defs.stale_runs import clear_stale_runs
from bespoke_pipeline.evaluation.scoring import EvaluationSettings, QualityGates
from bespoke_pipeline.paths import (
    RAW_DIR,
    default_tracking_uri,
    mlflow_artifact_location,
    runtime_dir,
)
from bespoke_pipeline.pixelart.caption import DEFAULT_TRIGGER
from bespoke_pipeline.tracking import EXPERIMENT, TrackedRun, open_tracking_store, tracked_run
from bespoke_pipeline.training.config import (
    CONFIG_DIR,
    TrainingConfig,
    load_named,
)


class DatasetResource(dg.ConfigurableResource):
    """Where the user's images are and how strictly they are checked."""

    raw_dir: str = Field(
        default=str(RAW_DIR),
        description="Folder of PNG + .txt pairs: 24x24 grids, or exports upscaled by a whole "
        "factor (576 = 24 x 24).",
    )
    max_colors: int | None = Field(
        default=None,
        description="Refuse images with more distinct colors than this. Off by default: "
        "shaded hair and gradient backgrounds are legitimate pixel art.",
    )
    allow_resampled: bool = Field(
        default=False,
        description=f"Keep images that look resampled (over {RESAMPLED_SHARE:.0%} of pixels "
        "are blends of their neighbours: smeared edges), with a warning. Off by default: "
        "training on them teaches a LoRA to smear.",
    )
    trigger_word: str = Field(default=DEFAULT_TRIGGER, description="Leads generated captions.")
    strict: bool = Field(
        default=False,
        description="Fail the materialization on any bad "
        "file instead of leaving it out and reporting it.",
    )

    @property
    def raw_path(self) -> Path:
        return Path(self.raw_dir)


class TrainingResource(dg.ConfigurableResource):
    """Where the training configs live (a YAML or kohya TOML file per partition, or a sweep
    file per group of them)."""

    config_dir: str = str(CONFIG_DIR)

    def load(self, name: str) -> TrainingConfig:
        return load_named(name, Path(self.config_dir))


class EvaluationResource(dg.ConfigurableResource):
    """How checkpoints are scored and which gates promotion requires; the defaults and
    their meaning are in `evaluation.scoring`."""

    held_out_prompts: int = EvaluationSettings().held_out_prompts
    samples_per_prompt: int = EvaluationSettings().samples_per_prompt
    guidance_scales: list[float] | None = Field(
        default=None, description="None: the model family's usual range"
    )
    steps: list[int] | None = Field(default=None, description="None: the family's usual range")
    gates: dict[str, float] = Field(
        default_factory=dict, description="Overrides of QualityGates, e.g. min_eyes_placed."
    )

    def settings(self) -> EvaluationSettings:
        return EvaluationSettings(
            held_out_prompts=self.held_out_prompts,
            samples_per_prompt=self.samples_per_prompt,
            guidance_scales=self.guidance_scales,
            steps=self.steps,
            gates=QualityGates(**self.gates),
        )


class ArtifactStore(dg.ConfigurableResource):
    """Files that runs produce (zips, checkpoints), under the runtime folder."""

    root: str

    def folder_for(self, context: dg.AssetExecutionContext) -> Path:
        parts = [*context.asset_key.path]
        if context.has_partition_key:
            parts.append(context.partition_key)
        folder = Path(self.root, "artifacts", *parts)
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    def path_for(self, context: dg.AssetExecutionContext, filename: str) -> Path:
        return self.folder_for(context) / filename

    @property
    def cache_dir(self) -> Path:
        """Encoded training data shared by configs (`cache_latents_to_disk`)."""
        return Path(self.root, "cache")


class MlflowResource(dg.ConfigurableResource):
    """Every materialization is one MLflow run, tagged so it can be found from Dagster."""

    tracking_uri: str
    experiment: str = EXPERIMENT
    #: Where a new experiment keeps its artifacts (a path or URI); None: the server decides.
    artifact_location: str | None = None

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        """Once per run, before any step: a server that is down fails the run in seconds,
        a first local store is created by one run at a time, and runs whose process is
        gone are cleared, so a training step never waits on a dead run's pool slot."""
        open_tracking_store(self.tracking_uri)
        if context.instance is not None:
            clear_stale_runs(context.instance, self.tracking_uri, context.log.warning)

    def client(self) -> MlflowClient:
        return MlflowClient(tracking_uri=self.tracking_uri)

    @contextmanager
    def run_for(self, context: dg.AssetExecutionContext) -> Iterator[TrackedRun]:
        key = context.asset_key
        tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset_key": key.to_user_string(),
            "dagster.partition": context.partition_key if context.has_partition_key else "",
            "dagster.code_version": context.assets_def.code_versions_by_key.get(key) or "",
            "bespoke.version": __version__,
        }
        with tracked_run(
            self.tracking_uri,
            self.experiment,
            key.to_user_string(),
            tags,
            self.artifact_location,
        ) as run:
            yield run


def default_resources(
    runtime: Path | None = None, raw_dir: Path | None = None, tracking_uri: str | None = None
) -> dict[str, object]:
    runtime = runtime or runtime_dir()
    uri = tracking_uri or default_tracking_uri()
    artifacts = mlflow_artifact_location(uri, runtime)
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    return {
        "dataset": DatasetResource(raw_dir=str(raw_dir or RAW_DIR)),
        "training": TrainingResource(),
        "evaluation": EvaluationResource(),
        "store": ArtifactStore(root=str(runtime)),
        "mlflow": MlflowResource(tracking_uri=uri, artifact_location=artifacts),
        "io_manager": TableIOManager(base_dir=str(runtime / "assets")),
    }
