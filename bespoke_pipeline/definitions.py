"""The one Definitions object for `dagster dev`, `dagster asset materialize -m
bespoke_pipeline` and `dg launch`; tests build the same graph with other resources."""

from collections.abc import Mapping

import dagster as dg

from bespoke_pipeline.defs import checks, dataset, evaluation, foundation, training
from bespoke_pipeline.defs.automation import raw_data_changed, retrain_job, scheduled_retrain
from bespoke_pipeline.defs.resources import default_resources

dataset_job = dg.define_asset_job(
    "dataset_job",
    selection=dg.AssetSelection.groups(dataset.GROUP),
    description="raw images -> captions -> training package, with their checks",
)
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups(training.GROUP, evaluation.GROUP),
    description="LoRA training, its checkpoints and their scores for one training config, "
    "then promotion of the best checkpoint of all configs",
)


def build_definitions(resources: Mapping[str, object]) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([dataset, training, evaluation, foundation]),
        asset_checks=dg.load_asset_checks_from_modules([checks, evaluation]),
        jobs=[dataset_job, training_job, retrain_job],
        schedules=[scheduled_retrain],
        sensors=[raw_data_changed],
        resources=resources,
        # One process per run: a process per step would import torch and diffusers again
        # for every asset (seconds each), and training already uses every core.
        executor=dg.in_process_executor,
    )


defs = build_definitions(default_resources())
