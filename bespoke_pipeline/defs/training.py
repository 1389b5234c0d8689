"""lora[config] -> lora_checkpoints[config]: one partition per YAML file in configs/."""

from pathlib import Path

import dagster as dg
import pandas as pd
import torch

from bespoke_pipeline.defs.recording import markdown_table
from bespoke_pipeline.defs.resources import ArtifactStore, MlflowResource, TrainingResource
from bespoke_pipeline.pixelart.contact_sheet import png_data_uri
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    KOHYA_FILE,
    completed_epochs,
    epoch_dir,
    read_sidecar,
)
from bespoke_pipeline.training.config import config_names, unavailable_reason
from bespoke_pipeline.training.data import read_package
from bespoke_pipeline.training.lora import EpochResult, LoraTrainer, Progress, run_key
from bespoke_pipeline.training.plots import labelled_rows, loss_curve

GROUP = "training"
TRAINING_CONFIGS = dg.StaticPartitionsDefinition(config_names())


@dg.asset(group_name=GROUP, code_version="1", partitions_def=TRAINING_CONFIGS)
def lora(
    context: dg.AssetExecutionContext,
    training_package: dict,
    training: TrainingResource,
    store: ArtifactStore,
    mlflow: MlflowResource,
) -> dg.Output[dict]:
    """Trains a LoRA for one training config, one checkpoint per epoch. Resumes from the last
    complete checkpoint if a run was killed; unchanged inputs reuse the finished run."""
    name = context.partition_key
    config = training.load(name)
    reason = unavailable_reason(config, torch.cuda.is_available())
    if reason:
        raise dg.Failure(description=f"{name}: {reason}")
    data = read_package(Path(training_package["path"]))
    trainer = LoraTrainer(config, name, data, store.path_for(context, run_key(config, data)))
    already = completed_epochs(trainer.run_dir)
    curve: list[tuple[int, float]] = []
    rows: list[tuple[str, object]] = []
    with mlflow.run_for(context) as run:
        run.log_params(
            {
                "config_name": name,
                **config.model_dump(mode="json"),
                "epochs": trainer.epochs,
                "dataset_sha256": data.sha256,
                "base_model_sha256": trainer.base_sha256,
            }
        )

        def progress(p: Progress) -> None:
            curve.append((p.step, p.loss))
            run.log_metrics({"loss": p.loss, "learning_rate": p.learning_rate}, step=p.step)
            if p.step % max(1, p.total_steps // 20) == 0 or p.step == p.total_steps:
                context.log.info(
                    f"epoch {p.epoch}/{p.epochs} step {p.step}/{p.total_steps} "
                    f"loss {p.loss:.4f} about {p.seconds_left:.0f}s left"
                )

        def epoch_done(result: EpochResult) -> None:
            run.log_metrics({"epoch_loss": result.mean_loss}, step=result.epoch)
            if result.samples is not None:
                rows.append((f"epoch {result.epoch}", result.samples))
                run.log_image(result.samples, f"samples/epoch_{result.epoch:04d}.png")
            for file in (DIFFUSERS_FILE, KOHYA_FILE):
                run.log_artifact(result.checkpoint / file, f"checkpoints/{result.checkpoint.name}")

        results = trainer.train(progress, epoch_done)
        metadata: dict[str, dg.MetadataValue] = {
            "epochs_trained_now": dg.MetadataValue.int(len(results)),
            "resumed_from_epoch": dg.MetadataValue.int(already[-1] if already else 0),
        }
        if curve:
            plot = loss_curve(*zip(*curve, strict=True), title=f"{name} training loss")
            run.log_image(plot, "loss_curve.png")
            metadata["loss_curve"] = dg.MetadataValue.md(f"![loss]({png_data_uri(plot)})")
        if rows:
            grid = labelled_rows(rows)
            run.log_image(grid, "samples/epochs.png")
            metadata["samples"] = dg.MetadataValue.md(f"![samples]({png_data_uri(grid)})")
        metadata["mlflow_run_id"] = dg.MetadataValue.text(run.run_id)
    final = read_sidecar(epoch_dir(trainer.run_dir, trainer.epochs))
    value = {
        "run_dir": str(trainer.run_dir),
        "config_name": name,
        "epochs": trainer.epochs,
        "final_loss": final["mean_loss"],
        "config_digest": config.digest(),
    }
    metadata["final_loss"] = dg.MetadataValue.float(final["mean_loss"])
    return dg.Output(value, metadata=metadata)


@dg.asset(group_name=GROUP, code_version="1", partitions_def=TRAINING_CONFIGS)
def lora_checkpoints(lora: dict) -> dg.Output[pd.DataFrame]:
    """Every saved epoch of a training run, with the files users load elsewhere."""
    run_dir = Path(lora["run_dir"])
    rows = []
    for epoch in completed_epochs(run_dir):
        folder = epoch_dir(run_dir, epoch)
        sidecar = read_sidecar(folder)
        rows.append(
            {
                "epoch": epoch,
                "step": sidecar["step"],
                "mean_loss": sidecar["mean_loss"],
                "diffusers_file": str(folder / DIFFUSERS_FILE),
                "kohya_file": str(folder / KOHYA_FILE),
                "dataset_sha256": sidecar["dataset_sha256"],
            }
        )
    frame = pd.DataFrame(rows)
    return dg.Output(
        frame,
        metadata={
            "checkpoints": len(frame),
            "table": markdown_table(frame[["epoch", "step", "mean_loss"]]),
        },
    )
