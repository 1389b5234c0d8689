"""Scored checkpoints read back from MLflow, for `bespoke compare`, `setting_effects` and
`bespoke suggest`: a config's latest `checkpoint_scores` run holds its score tables and
comparison grid, and the `lora` run of the same config before it holds the training
settings."""

from __future__ import annotations

import json
import re
import tempfile

import mlflow
import pandas as pd
from mlflow.tracking import MlflowClient
from PIL import Image

from bespoke_pipeline.evaluation.checkpoint_scores import BASE_EPOCH
from bespoke_pipeline.evaluation.comparison import NOT_SETTINGS, ScoredCheckpoint
from bespoke_pipeline.evaluation.promotion import best_candidate

_RUN_ID = re.compile(r"^[0-9a-f]{32}$")


class NoScoredRun(LookupError):
    """A name that matches no scored run; the message says what was looked for."""


def scored_checkpoint(
    tracking_uri: str, experiment: str, spec: str
) -> tuple[ScoredCheckpoint, Image.Image]:
    """The checkpoint `spec` names, and its run's comparison grid. `spec` is a config (its
    latest scored run, at the best epoch that passes the gates, else the best), a
    `checkpoint_scores` run id, either followed by `:epoch` to pick the epoch."""
    head, _, tail = spec.rpartition(":") if re.search(r":\d+$", spec) else (spec, "", "")
    client = MlflowClient(tracking_uri)
    run = _scores_run(client, experiment, head)
    side = _read(client, run, int(tail) if tail else None, spec)
    grid = mlflow.artifacts.download_artifacts(
        run_id=run.info.run_id, artifact_path="comparison.png", tracking_uri=tracking_uri
    )
    return side, Image.open(grid).convert("RGB")


def scored_runs(tracking_uri: str, experiment: str) -> list[ScoredCheckpoint]:
    """Every scored run at the checkpoint promotion would pick, for reading runs together
    (`setting_effects`, `bespoke suggest`). A run scored again with the same settings and
    data counts once, as its latest scoring: its checkpoints are the same ones."""
    client = MlflowClient(tracking_uri)
    latest: dict[str, ScoredCheckpoint] = {}
    for run in _finished(client, experiment):
        config = _training_settings(client, run, run.data.tags.get("dagster.partition", ""))
        chosen = {k: v for k, v in config.items() if k not in NOT_SETTINGS}
        same = json.dumps(chosen, sort_keys=True)
        if config and same not in latest:  # a re-scoring's tables are never downloaded
            latest[same] = _read(client, run, None, run.info.run_id, config)
    return list(latest.values())


def recent_scored_runs(tracking_uri: str, experiment: str, count: int = 2) -> list[str]:
    """The ids of the latest scored runs, newest first: what a retrain changed."""
    return [run.info.run_id for run in _finished(MlflowClient(tracking_uri), experiment, count)]


def _finished(client: MlflowClient, experiment: str, count: int = 5000) -> list:
    found = client.get_experiment_by_name(experiment)
    if found is None:
        return []
    return client.search_runs(
        [found.experiment_id],
        "tags.`dagster.asset_key` = 'checkpoint_scores' and attributes.status = 'FINISHED'",
        order_by=["attributes.start_time DESC"],
        max_results=count,
    )


def _read(
    client: MlflowClient, run, epoch: int | None, spec: str, config: dict[str, str] | None = None
) -> ScoredCheckpoint:
    """`config`: the run's training settings, when the caller has looked them up already."""
    partition = run.data.tags.get("dagster.partition", "")
    with tempfile.TemporaryDirectory() as folder:
        files = {
            name: mlflow.artifacts.download_artifacts(
                run_id=run.info.run_id,
                artifact_path=name,
                dst_path=folder,
                tracking_uri=client.tracking_uri,
            )
            for name in ("scores.csv", "scores_per_image.csv")
        }
        scores = pd.read_csv(files["scores.csv"])
        per_image = pd.read_csv(files["scores_per_image.csv"])
    row = _chosen(scores, epoch, spec)
    images = per_image[
        (per_image["epoch"] == row["epoch"])
        & (per_image["guidance_scale"] == row["guidance_scale"])
        & (per_image["steps"] == row["steps"])
    ]
    if config is None:
        config = _training_settings(client, run, partition)
    label = f"{partition} epoch {int(row['epoch'])}"
    composite, interval = float(row["composite"]), float(row["composite_ci"])
    return ScoredCheckpoint(label, config, images, composite, interval)


def _scores_run(client: MlflowClient, experiment: str, name: str):
    if _RUN_ID.match(name):
        return client.get_run(name)
    found = client.get_experiment_by_name(experiment)
    runs = (
        client.search_runs(
            [found.experiment_id],
            "tags.`dagster.asset_key` = 'checkpoint_scores' and "
            f"tags.`dagster.partition` = '{name}' and attributes.status = 'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if found
        else []
    )
    if not runs:
        raise NoScoredRun(
            f"no scored run of '{name}' in experiment '{experiment}': materialize "
            f"checkpoint_scores[{name}] (make run does) or give a checkpoint_scores run id"
        )
    return runs[0]


def _chosen(scores: pd.DataFrame, epoch: int | None, spec: str) -> pd.Series:
    """The epoch asked for, else the one promotion would pick, else the best trained one."""
    if epoch is not None:
        rows = scores[scores["epoch"] == epoch]
        if rows.empty:
            raise NoScoredRun(f"{spec}: epochs scored are {', '.join(map(str, scores.epoch))}")
        return rows.iloc[0]
    best = best_candidate({spec: scores})
    if best is not None:
        return best
    trained = scores[scores["epoch"] != BASE_EPOCH]
    return trained.loc[trained["composite"].idxmax()]


def _training_settings(client: MlflowClient, scores_run, partition: str) -> dict[str, str]:
    """The params of the config's last `lora` run that started before the scores run."""
    lora = client.search_runs(
        [scores_run.info.experiment_id],
        "tags.`dagster.asset_key` = 'lora' and "
        f"tags.`dagster.partition` = '{partition}' and "
        f"attributes.start_time <= {scores_run.info.start_time}",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    return dict(lora[0].data.params) if lora else {}
