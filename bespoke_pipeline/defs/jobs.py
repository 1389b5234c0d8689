"""The two jobs: the dataset once, then training, scoring and promotion per config."""

import dagster as dg

from bespoke_pipeline.defs import dataset, evaluation, training
from bespoke_pipeline.defs.experiments import setting_effects

dataset_job = dg.define_asset_job(
    "dataset_job",
    selection=dg.AssetSelection.groups(dataset.GROUP),
    description="raw images -> captions -> training package, with their checks",
)
training_job = dg.define_asset_job(
    "training_job",
    selection=dg.AssetSelection.groups(training.GROUP, evaluation.GROUP)
    | dg.AssetSelection.assets(setting_effects),
    description="LoRA training, its checkpoints and their scores for one training config, "
    "then promotion of the best checkpoint of all configs and the effects of settings "
    "over every scored run",
)
