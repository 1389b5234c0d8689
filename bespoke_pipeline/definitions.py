"""The one Definitions object for `dagster dev`, `dagster asset materialize -m
bespoke_pipeline` and `dg launch`; tests build the same graph with other resources.

BESPOKE_PROFILE=k8s (deploy/k8s/) runs every step in its own Kubernetes pod; the default
runs a whole run in one process."""

import os
from collections.abc import Mapping

import dagster as dg

from bespoke_pipeline.defs import checks, dataset, evaluation, experiments, foundation, training
from bespoke_pipeline.defs.automation import (
    raw_data_changed,
    scheduled_retrain,
    train_on_new_package,
)
from bespoke_pipeline.defs.jobs import dataset_job, training_job
from bespoke_pipeline.defs.resources import default_resources


def executor_for(profile: str) -> dg.ExecutorDefinition:
    """One process per run locally: a process per step would import torch and diffusers
    again for every asset (seconds each), and training already uses every core. On
    Kubernetes a pod per step, so the training and scoring steps get GPU nodes."""
    if profile == "k8s":
        from dagster_k8s import k8s_job_executor

        return k8s_job_executor
    if profile != "local":
        raise ValueError(f"BESPOKE_PROFILE={profile!r}: use 'local' or 'k8s'")
    return dg.in_process_executor


def build_definitions(
    resources: Mapping[str, object], profile: str | None = None
) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules(
            [dataset, training, evaluation, experiments, foundation]
        ),
        asset_checks=dg.load_asset_checks_from_modules([checks, evaluation]),
        jobs=[dataset_job, training_job],
        schedules=[scheduled_retrain],
        sensors=[raw_data_changed, train_on_new_package],
        resources=resources,
        executor=executor_for(profile or os.environ.get("BESPOKE_PROFILE", "local")),
    )


defs = build_definitions(default_resources())
