"""lora_checkpoints[config] -> checkpoint_scores[config] -> production_model (all configs)."""

import tempfile
from pathlib import Path

import dagster as dg
import pandas as pd

from bespoke_pipeline.defs.io_manager import BY_PARTITION
from bespoke_pipeline.defs.recording import image_metadata, table_metadata
from bespoke_pipeline.defs.resources import (
    ArtifactStore,
    EvaluationResource,
    MlflowResource,
    TrainingResource,
)
from bespoke_pipeline.defs.training import GPU_STEP, TRAINING_CONFIGS
from bespoke_pipeline.evaluation.checkpoint_scores import score_run
from bespoke_pipeline.evaluation.metrics import palette_of
from bespoke_pipeline.evaluation.promotion import (
    beats,
    best_candidate,
    candidate_record,
    model_card,
    noise,
    not_promoted,
    trained_on,
    write_production,
)
from bespoke_pipeline.evaluation.replicate_rendering import (
    ReplicateRendering,
    checked_prediction_count,
)
from bespoke_pipeline.evaluation.scoring import EvaluationSettings, ModelScore, numeric_scores
from bespoke_pipeline.paths import production_dir
from bespoke_pipeline.registry import (
    MODEL_NAME,
    best_version,
    production,
    register,
    settle,
    sync_folder,
)
from bespoke_pipeline.training.checkpoints import read_sidecar
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData, read_package
from bespoke_pipeline.training.plots import quality_over_epochs
from bespoke_pipeline.training.replicate_trainer import RemoteError, replicate_client

GROUP = "evaluation"
#: Columns of the score table shown in the Dagster UI (all of them are in MLflow).
SUMMARY = [
    "epoch",
    "composite",
    "composite_ci",
    "guidance_scale",
    "steps",
    "background",
    "eyes_placed",
    "right_facing",
    "hair_color",
    "eye_color",
    "skin_color",
    "accessories",
    "grid_cleanliness",
    "memorized",
    "passes_gates",
]
#: The metrics drawn over epochs beside the composite: what the captions ask for.
TRACKED = ["background", "eyes_placed", "hair_color", "eye_color", "accessories"]


@dg.asset(group_name=GROUP, code_version="1", partitions_def=TRAINING_CONFIGS, op_tags=GPU_STEP)
def checkpoint_scores(
    context: dg.AssetExecutionContext,
    lora_checkpoints: pd.DataFrame,
    training_package: dict,
    training: TrainingResource,
    evaluation: EvaluationResource,
    store: ArtifactStore,
    mlflow: MlflowResource,
) -> dg.Output[pd.DataFrame]:
    """Every checkpoint of one config, plus the base model as epoch 0, scored on the
    reference and held-out prompts at every sampler setting; one row per checkpoint at its
    best setting, with the composite score and the quality gates."""
    config = training.load(context.partition_key)
    settings = evaluation.settings()
    data = read_package(Path(training_package["path"]), config.train_captions)
    checkpoints = {
        int(row.epoch): Path(row.diffusers_file).parent for row in lora_checkpoints.itertuples()
    }
    remote = _replicate_rendering(context, config, settings, data, checkpoints, store)
    losses = {  # imported checkpoints come without a training loss
        epoch: loss
        for epoch, loss in zip(
            lora_checkpoints["epoch"], lora_checkpoints["mean_loss"], strict=True
        )
        if pd.notna(loss)
    }
    with mlflow.run_for(context) as run:
        run.log_params({"config_name": context.partition_key, **settings.model_dump(mode="json")})

        def scored(epoch: int, score: ModelScore) -> None:
            numbers = numeric_scores(score.best)
            if epoch in losses:
                numbers["epoch_loss"] = float(losses[epoch])
            run.log_metrics(numbers, step=epoch)
            context.log.info(
                f"epoch {epoch}: composite {score.best['composite']:.3f} at guidance "
                f"{score.best['guidance_scale']}, {int(score.best['steps'])} steps"
            )

        try:
            result = score_run(
                checkpoints, config, data, settings, scored, remote.for_epoch if remote else None
            )
        except RemoteError as error:
            raise dg.Failure(description=f"{context.partition_key}: {error}") from error
        if remote:
            run.log_metrics({"replicate_predictions": remote.made, "cached": remote.reused})
        run.log_table(result.table, "scores.csv")
        run.log_table(result.per_setting, "scores_per_setting.csv")
        run.log_table(result.per_image, "scores_per_image.csv")
        run.log_image(result.comparison, "comparison.png")
        table = result.table
        quality = quality_over_epochs(
            table, losses, TRACKED, f"{context.partition_key}: quality over epochs"
        )
        run.log_image(quality, "quality_over_epochs.png")
    best = best_candidate({context.partition_key: table})  # what promotion would pick here
    return dg.Output(
        table,
        metadata={
            "scores": table_metadata(table[SUMMARY].round(3)),
            "quality_over_epochs": image_metadata(quality, "quality over epochs, and the loss"),
            "comparison": image_metadata(result.comparison, "epochs x prompts"),
            "best_epoch": dg.MetadataValue.int(int(best["epoch"]) if best is not None else -1),
            "best_composite": dg.MetadataValue.float(
                float(best["composite"]) if best is not None else 0.0
            ),
            "prompts": dg.MetadataValue.md(
                "\n".join(f"- **{p.name}** ({p.suite}): {p.text}" for p in result.prompts)
            ),
            "mlflow_run_id": dg.MetadataValue.text(run.run_id),
            **(
                {
                    "replicate_predictions": dg.MetadataValue.int(remote.made),
                    "replicate_predictions_cached": dg.MetadataValue.int(remote.reused),
                }
                if remote
                else {}
            ),
        },
    )


def _replicate_rendering(
    context: dg.AssetExecutionContext,
    config: TrainingConfig,
    settings: EvaluationSettings,
    data: TrainingData,
    checkpoints: dict[int, Path],
    store: ArtifactStore,
) -> ReplicateRendering | None:
    """For `score_with_predictions`: Replicate renders the evaluation, within the config's
    bound on predictions per checkpoint, which is checked before any is paid for."""
    if config.replicate is None or not config.replicate.score_with_predictions:
        return None
    try:
        needed = checked_prediction_count(config, settings, data.captions)
        client = replicate_client()
    except RemoteError as error:
        raise dg.Failure(description=f"{context.partition_key}: {error}") from error
    context.log.info(
        f"rendering on Replicate: {needed} predictions for each of {len(checkpoints) + 1} "
        f"checkpoints (the base model included), {needed * (len(checkpoints) + 1)} at most; "
        "images already rendered for the same inputs are reused, not paid for"
    )
    return ReplicateRendering(config, checkpoints, client, store.cache_dir / "replicate")


@dg.asset(
    group_name=GROUP,
    code_version="1",
    ins={"checkpoint_scores": dg.AssetIn(metadata={BY_PARTITION: True})},
)
def production_model(
    context: dg.AssetExecutionContext,
    checkpoint_scores: dict[str, pd.DataFrame],
    training_package: dict,
    store: ArtifactStore,
    mlflow: MlflowResource,
) -> dg.Output[dict]:
    """The best checkpoint across every config that passes the quality gates, registered
    in MLflow under the alias `production` and copied to a stable folder with a model card.
    Production stays as it is when nothing passes (the blocking check then fails the run)
    or when the current production model scores higher.

    The registry says what is in production, not the local folder, which is only a copy
    (rebuilt from the registry when it holds something else): so `make clean`, or a second
    machine on the same tracking server, never lets a worse model take the alias. Scores
    count only when made on the current dataset version, production's included."""
    folder = production_dir(Path(store.root))
    client = mlflow.client()
    local = sync_folder(client, folder)  # the local copy follows the registry
    dataset = training_package["sha256"]
    scores = {n: t for n, t in checkpoint_scores.items() if trained_on(t) == dataset}
    current = best_version(client, dataset)  # production from other data is not comparable
    candidate = best_candidate(scores)
    decision = {
        "configs_scored": sorted(scores),
        "candidate": None if candidate is None else candidate_record(candidate),
        "promoted": False,
        "production": local,
    }
    metadata: dict[str, dg.MetadataValue] = {
        "configs_scored": dg.MetadataValue.text(", ".join(sorted(scores)) or "none"),
        "ignored_scores_of_other_data": dg.MetadataValue.text(
            ", ".join(sorted(set(checkpoint_scores) - set(scores))) or "none"
        ),
    }
    if candidate is None:
        decision["verdict"] = not_promoted(scores, local)
        context.log.warning(decision["verdict"])
        metadata["decision"] = dg.MetadataValue.text(decision["verdict"])
        return dg.Output(decision, metadata=metadata)
    if current is not None and not beats(candidate, current.composite, current.composite_ci):
        margin = noise(float(candidate["composite_ci"]), current.composite_ci)
        metadata["decision"] = dg.MetadataValue.text(
            f"kept production version {current.version}: {candidate['config']} epoch "
            f"{int(candidate['epoch'])} scores {candidate['composite']:.3f} against "
            f"{current.composite:.3f}, not better beyond the noise of the scores "
            f"(+/- {margin:.3f}, 95%)"
        )
        return dg.Output(decision, metadata=metadata)

    checkpoint = Path(candidate["checkpoint"])
    sidecar = read_sidecar(checkpoint)
    data = read_package(Path(training_package["path"]))
    record = {
        **candidate_record(candidate),
        "base_model": sidecar["base_model"],
        "dataset_sha256": sidecar["dataset_sha256"],
        "palette": palette_of(data.images),  # generate snaps onto these colors
    }
    previous = production(client)
    previous_scores = (decision["production"] or {}).get("scores") if current else None
    card = model_card(candidate, previous_scores, sidecar["config"], sidecar["dataset_sha256"])
    with mlflow.run_for(context) as run, tempfile.TemporaryDirectory() as staging:
        run.log_params({k: v for k, v in record.items() if not isinstance(v, dict | list)})
        run.log_metrics(record["scores"])
        run.log_text(card, "MODEL_CARD.md")
        write_production(Path(staging, "production"), checkpoint, record, card)
        version = register(
            run,
            Path(staging, "production"),
            record,
            {
                "config": record["config"],
                "epoch": str(record["epoch"]),
                "guidance_scale": str(record["guidance_scale"]),
                "steps": str(record["steps"]),
                "previous_production_version": previous.version if previous else "none",
            },
        )
    holder = settle(client, dataset)  # a better model promoted meanwhile keeps the alias
    production_record = sync_folder(client, folder)
    decision.update(promoted=holder.version == version.version, production=production_record)
    won = (
        f"promoted {record['config']} epoch {record['epoch']} as {MODEL_NAME} version "
        f"{version.version}"
    )
    lost = (
        f"registered {record['config']} epoch {record['epoch']} as version {version.version}, "
        f"but version {holder.version}, promoted meanwhile, scores higher and stays production"
    )
    metadata.update(
        {
            "decision": dg.MetadataValue.text(won if decision["promoted"] else lost),
            "production_version": dg.MetadataValue.text(holder.version),
            "previous_version": dg.MetadataValue.text(previous.version if previous else "none"),
            "model_card": dg.MetadataValue.md(card),
            "path": dg.MetadataValue.path(str(folder)),
            "mlflow_run_id": dg.MetadataValue.text(run.run_id),
        }
    )
    return dg.Output(decision, metadata=metadata)


@dg.asset_check(
    asset=production_model,
    description="Some checkpoint passed the quality gates; otherwise production stays as it "
    "was, and the check warns with the verdict (the run itself succeeds: trained and scored "
    "checkpoints are a result, and a retrain that finds nothing better is not a crash).",
)
def a_checkpoint_passes_the_gates(production_model: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=production_model["candidate"] is not None,
        severity=dg.AssetCheckSeverity.WARN,
        description=production_model.get("verdict"),
        metadata={"configs_scored": ", ".join(production_model["configs_scored"]) or "none"},
    )
