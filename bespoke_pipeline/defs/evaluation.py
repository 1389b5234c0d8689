"""lora_checkpoints[config] -> checkpoint_scores[config] -> production_model (all configs)."""

from pathlib import Path

import dagster as dg
import pandas as pd

from bespoke_pipeline.defs.io_manager import BY_PARTITION
from bespoke_pipeline.defs.recording import image_metadata, markdown_table
from bespoke_pipeline.defs.resources import (
    ArtifactStore,
    EvaluationResource,
    MlflowResource,
    TrainingResource,
)
from bespoke_pipeline.defs.training import TRAINING_CONFIGS
from bespoke_pipeline.evaluation.checkpoint_scores import score_run
from bespoke_pipeline.evaluation.metrics import palette_of
from bespoke_pipeline.evaluation.promotion import (
    beats,
    best_candidate,
    candidate_record,
    model_card,
    read_production,
    save_record,
    write_production,
)
from bespoke_pipeline.evaluation.scoring import ModelScore, numeric_scores
from bespoke_pipeline.paths import production_dir
from bespoke_pipeline.tracking import production_version, register_version
from bespoke_pipeline.training.checkpoints import read_sidecar
from bespoke_pipeline.training.data import read_package

GROUP = "evaluation"
MODEL_NAME = "bespoke-punk-lora"
ALIAS = "production"
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


@dg.asset(group_name=GROUP, code_version="1", partitions_def=TRAINING_CONFIGS)
def checkpoint_scores(
    context: dg.AssetExecutionContext,
    lora_checkpoints: pd.DataFrame,
    training_package: dict,
    training: TrainingResource,
    evaluation: EvaluationResource,
    mlflow: MlflowResource,
) -> dg.Output[pd.DataFrame]:
    """Every checkpoint of one config, plus the base model as epoch 0, scored on the
    reference and held-out prompts at every sampler setting; one row per checkpoint at its
    best setting, with the composite score and the quality gates."""
    config = training.load(context.partition_key)
    settings = evaluation.settings()
    checkpoints = {
        int(row.epoch): Path(row.diffusers_file).parent for row in lora_checkpoints.itertuples()
    }
    losses = dict(zip(lora_checkpoints["epoch"], lora_checkpoints["mean_loss"], strict=True))
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

        result = score_run(
            checkpoints, config, read_package(Path(training_package["path"])), settings, scored
        )
        run.log_table(result.table, "scores.csv")
        run.log_table(result.per_setting, "scores_per_setting.csv")
        run.log_table(result.per_image, "scores_per_image.csv")
        run.log_image(result.comparison, "comparison.png")
    table = result.table
    best = best_candidate({context.partition_key: table})  # what promotion would pick here
    return dg.Output(
        table,
        metadata={
            "scores": markdown_table(table[SUMMARY].round(3)),
            "comparison": image_metadata(result.comparison, "epochs x prompts"),
            "best_epoch": dg.MetadataValue.int(int(best["epoch"]) if best is not None else -1),
            "best_composite": dg.MetadataValue.float(
                float(best["composite"]) if best is not None else 0.0
            ),
            "prompts": dg.MetadataValue.md(
                "\n".join(f"- **{p.name}** ({p.suite}): {p.text}" for p in result.prompts)
            ),
            "mlflow_run_id": dg.MetadataValue.text(run.run_id),
        },
    )


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
    or when the current production model scores higher."""
    folder = production_dir(Path(store.root))
    current = read_production(folder)
    candidate = best_candidate(checkpoint_scores)
    decision = {
        "configs_scored": sorted(checkpoint_scores),
        "candidate": None if candidate is None else candidate_record(candidate),
        "promoted": False,
        "production": current,
    }
    metadata: dict[str, dg.MetadataValue] = {
        "configs_scored": dg.MetadataValue.text(", ".join(sorted(checkpoint_scores)) or "none")
    }
    if candidate is None:
        metadata["decision"] = dg.MetadataValue.text("no checkpoint passes the quality gates")
        return dg.Output(decision, metadata=metadata)
    if not beats(candidate, current):
        metadata["decision"] = dg.MetadataValue.text(
            f"kept the current production model (composite {current['composite']:.3f} >= "
            f"{candidate['composite']:.3f})"
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
    card = model_card(
        candidate, current and current["scores"], sidecar["config"], sidecar["dataset_sha256"]
    )
    with mlflow.run_for(context) as run:
        client = run.client
        previous = production_version(client, MODEL_NAME, ALIAS)
        run.log_params({k: v for k, v in record.items() if not isinstance(v, dict | list)})
        run.log_metrics(record["scores"])
        run.log_text(card, "MODEL_CARD.md")
        write_production(folder, checkpoint, record, card)
        version = register_version(
            run,
            folder,
            MODEL_NAME,
            ALIAS,
            {
                "config": record["config"],
                "epoch": record["epoch"],
                "composite": f"{record['composite']:.4f}",
                "guidance_scale": record["guidance_scale"],
                "steps": record["steps"],
                "previous_production_version": str(previous.version) if previous else "none",
            },
        )
    record["mlflow_model_version"] = version.version
    save_record(folder, record)
    decision.update(promoted=True, production=record)
    metadata.update(
        {
            "decision": dg.MetadataValue.text(
                f"promoted {record['config']} epoch {record['epoch']} as "
                f"{MODEL_NAME} version {version.version}"
            ),
            "previous_version": dg.MetadataValue.text(
                str(previous.version) if previous else "none"
            ),
            "model_card": dg.MetadataValue.md(card),
            "path": dg.MetadataValue.path(str(folder)),
            "mlflow_run_id": dg.MetadataValue.text(run.run_id),
        }
    )
    return dg.Output(decision, metadata=metadata)


@dg.asset_check(
    asset=production_model,
    blocking=True,
    description="Some checkpoint passed the quality gates; otherwise production stays as it "
    "was and the run fails.",
)
def a_checkpoint_passes_the_gates(production_model: dict) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        passed=production_model["candidate"] is not None,
        metadata={"configs_scored": ", ".join(production_model["configs_scored"]) or "none"},
    )
