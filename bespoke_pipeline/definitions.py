"""The one Definitions object for `dagster dev`, `dagster asset materialize -m
bespoke_pipeline` and `dg launch`; tests build the same graph with other resources."""

from collections.abc import Mapping

import dagster as dg

from bespoke_pipeline.defs import checks, dataset, evaluation, foundation, training
from bespoke_pipeline.defs.automation import (
    raw_data_changed,
    scheduled_retrain,
    train_on_new_package,
)
from bespoke_pipeline.defs.jobs import dataset_job, training_job
from bespoke_pipeline.defs.resources import default_resources


def build_definitions(resources: Mapping[str, object]) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([dataset, training, evaluation, foundation]),
        asset_checks=dg.load_asset_checks_from_modules([checks, evaluation]),
        jobs=[dataset_job, training_job],
        schedules=[scheduled_retrain],
        sensors=[raw_data_changed, train_on_new_package],
        resources=resources,
        # One process per run: a process per step would import torch and diffusers again
        # for every asset (seconds each), and training already uses every core.
        executor=dg.in_process_executor,
    )


defs = build_definitions(default_resources())
