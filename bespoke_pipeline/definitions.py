"""The one Definitions object for `dagster dev`, `dagster asset materialize -m
bespoke_pipeline` and `dg launch`; tests build the same graph with other resources."""

from collections.abc import Mapping

import dagster as dg

from bespoke_pipeline.defs import checks, dataset, foundation, training
from bespoke_pipeline.defs.resources import default_resources

dataset_job = dg.define_asset_job(
    "dataset_job",
    selection=dg.AssetSelection.groups(dataset.GROUP),
    description="raw images -> captions -> training package, with their checks",
)
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups(training.GROUP),
    description="LoRA training and its checkpoints, for one training config",
)


def build_definitions(resources: Mapping[str, object]) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([dataset, training, foundation]),
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        jobs=[dataset_job, training_job],
        resources=resources,
    )


defs = build_definitions(default_resources())
