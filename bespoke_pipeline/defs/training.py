"""lora[config] -> lora_checkpoints[config]: one partition per YAML file in configs/."""

from pathlib import Path
from typing import NamedTuple

import dagster as dg
import pandas as pd
import torch

from bespoke_pipeline.dataset.package import with_captions
from bespoke_pipeline.defs.recording import TrainingRecorder, table_metadata
from bespoke_pipeline.defs.resources import ArtifactStore, MlflowResource, TrainingResource
from bespoke_pipeline.training.checkpoint_weights import non_finite_tensors
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    KOHYA_FILE,
    checkpoint_files,
    completed_epochs,
    epoch_dir,
    read_sidecar,
)
from bespoke_pipeline.training.config import (
    TrainingConfig,
    config_names,
    config_notes,
    config_path,
    unavailable_reason,
)
from bespoke_pipeline.training.data import TrainingData, read_package
from bespoke_pipeline.training.imports import CheckpointImportError, import_checkpoints
from bespoke_pipeline.training.lora import LoraTrainer
from bespoke_pipeline.training.replicate_trainer import (
    RemoteError,
    remote_run_dir,
    replicate_client,
    train_on_replicate,
    upload_side_warning,
)

GROUP = "training"
TRAINING_CONFIGS = dg.StaticPartitionsDefinition(config_names())


#: Trainings run in this concurrency pool; dagster.yaml limits it to one at a time, so two
#: runs never fight over one GPU (or over the CPU cores on a machine without one).
TRAINING_POOL = "gpu"


#: On Kubernetes (the k8s profile) each step is a pod: the steps that run a diffusion model
#: ask for a GPU node. Other executors ignore the tag.
GPU_STEP = {
    "dagster-k8s/config": {
        "container_config": {
            "resources": {"requests": {"nvidia.com/gpu": "1"}, "limits": {"nvidia.com/gpu": "1"}}
        }
    }
}


@dg.asset(
    group_name=GROUP,
    code_version="2",
    partitions_def=TRAINING_CONFIGS,
    pool=TRAINING_POOL,
    op_tags=GPU_STEP,
)
def lora(
    context: dg.AssetExecutionContext,
    training_package: dict,
    training: TrainingResource,
    store: ArtifactStore,
    mlflow: MlflowResource,
) -> dg.Output[dict]:
    """Trains a LoRA for one training config, one checkpoint per epoch. Resumes from the last
    sound checkpoint if a run was killed or a checkpoint damaged; unchanged inputs reuse the
    finished run."""
    name = context.partition_key
    config = training.load(name)
    notes = config_notes(config_path(name, Path(training.config_dir)))
    for note in notes:
        context.log.info(f"{name}: {note}")
    reason = unavailable_reason(config, torch.cuda.is_available())
    if reason:
        raise dg.Failure(description=f"{name}: {reason}")
    data = read_package(Path(training_package["path"]), config.train_captions)
    if config.import_from is not None:
        made = _imported(context, name, config, data, store)
        return _record_elsewhere(context, mlflow, name, config, data, made)
    if config.backend == "replicate":
        made = _on_replicate(context, name, config, data, training_package, store)
        return _record_elsewhere(context, mlflow, name, config, data, made)
    trainer = LoraTrainer(
        config, name, data, store.folder_for(context), store.cache_dir, log=context.log.info
    )
    with mlflow.run_for(context) as run:
        run.log_params(
            {
                "config_name": name,
                **config.model_dump(mode="json"),
                # a kohya file's keys not used here, and why: one param each
                **{f"config_note_{i:02d}": note[:500] for i, note in enumerate(notes)},
                "epochs": trainer.epochs,
                "dataset_sha256": data.sha256,
                "base_model_sha256": trainer.base_sha256,
                "training_sides": ",".join(str(s.side) for s in trainer.sides),
                "attention": trainer.step.attention_name,
                "encoded_data": trainer.cache_source,
            }
        )
        recorder = TrainingRecorder(context, run, title=f"{name} training loss")
        results = trainer.train(recorder.progress, recorder.epoch_done)
        metadata = {
            "epochs_trained_now": dg.MetadataValue.int(len(results)),
            "resumed_from_epoch": dg.MetadataValue.int(
                results[0].epoch - 1 if results else trainer.epochs
            ),
            **recorder.summary(),
        }
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


class _MadeElsewhere(NamedTuple):
    """Checkpoints that were not trained here, and what to record about where they came from."""

    run_dir: Path
    params: dict
    metadata: dict
    table: pd.DataFrame | None = None


def _imported(
    context: dg.AssetExecutionContext,
    name: str,
    config: TrainingConfig,
    data: TrainingData,
    store: ArtifactStore,
) -> _MadeElsewhere:
    """A config with `import_from`: the epochs trained elsewhere, made checkpoints."""
    try:
        run_dir, epochs = import_checkpoints(
            config, name, data, store.folder_for(context), log=context.log.info
        )
    except CheckpointImportError as error:
        raise dg.Failure(description=f"{name}: {error}") from error
    sources = pd.DataFrame([{"epoch": e.epoch, "file": e.source.name} for e in epochs])
    metadata = {
        "imported_epochs": dg.MetadataValue.int(len(epochs)),
        "imported_files": table_metadata(sources),
    }
    return _MadeElsewhere(run_dir, {"epochs": len(epochs)}, metadata, sources)


def _on_replicate(
    context: dg.AssetExecutionContext,
    name: str,
    config: TrainingConfig,
    data: TrainingData,
    package: dict,
    store: ArtifactStore,
) -> _MadeElsewhere:
    """A config with `backend: replicate`: the package trained there, its weights here."""
    warning = upload_side_warning(config, package["image_side"])
    if warning:
        context.log.warning(f"{name}: {warning}")
    try:
        client = replicate_client()
        run_dir = remote_run_dir(config, data, store.folder_for(context))
        upload = Path(package["path"])
        if config.train_captions != "as_written":  # the trainer reads only NAME.txt
            run_dir.mkdir(parents=True, exist_ok=True)
            upload = with_captions(upload, config.train_captions, run_dir / upload.name)
        remote = train_on_replicate(config, name, upload, data, run_dir, client, context.log.info)
    except RemoteError as error:
        raise dg.Failure(description=f"{name}: {error}") from error
    params = {"replicate_training_id": remote.training_id, "replicate_version": remote.version}
    metadata = {
        "replicate_training_id": dg.MetadataValue.text(remote.training_id),
        "replicate_version": dg.MetadataValue.text(remote.version or "none"),
        "new_training": dg.MetadataValue.bool(remote.created_now),
        "checkpoints": dg.MetadataValue.text(
            "the final weights only: Replicate keeps a FLUX training's intermediate "
            "checkpoints only in its W&B run, which is not fetched"
        ),
    }
    return _MadeElsewhere(run_dir, params, metadata)


def _record_elsewhere(
    context: dg.AssetExecutionContext,
    mlflow: MlflowResource,
    name: str,
    config: TrainingConfig,
    data: TrainingData,
    made: _MadeElsewhere,
) -> dg.Output[dict]:
    """The `lora` output and MLflow run of checkpoints that were not trained here."""
    with mlflow.run_for(context) as run:
        run.log_params(
            {
                "config_name": name,
                **config.model_dump(mode="json"),
                "dataset_sha256": data.sha256,
                **made.params,
            }
        )
        if made.table is not None:
            run.log_table(made.table, "imported_files.csv")
    value = {
        "run_dir": str(made.run_dir),
        "config_name": name,
        "epochs": completed_epochs(made.run_dir)[-1],
        "final_loss": None,
        "config_digest": config.digest(),
    }
    metadata = {**made.metadata, "mlflow_run_id": dg.MetadataValue.text(run.run_id)}
    return dg.Output(value, metadata=metadata)


FINITE = dg.AssetCheckSpec(
    "checkpoint_weights_finite",
    asset="lora_checkpoints",
    blocking=True,
    description="Every checkpoint's weights are finite numbers (a diverged run is not scored).",
)


@dg.asset(group_name=GROUP, code_version="1", partitions_def=TRAINING_CONFIGS, check_specs=[FINITE])
def lora_checkpoints(lora: dict):
    """Every saved epoch of a training run, with the files users load elsewhere; checked
    for non-finite weights before anything scores them."""
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
                "kohya_file": (
                    str(folder / KOHYA_FILE) if KOHYA_FILE in checkpoint_files(folder) else None
                ),
                "dataset_sha256": sidecar["dataset_sha256"],
            }
        )
    frame = pd.DataFrame(rows)
    yield dg.Output(
        frame,
        metadata={
            "checkpoints": len(frame),
            "table": table_metadata(frame[["epoch", "step", "mean_loss"]]),
        },
    )
    bad = [t for epoch in frame.epoch for t in non_finite_tensors(epoch_dir(run_dir, epoch))]
    yield dg.AssetCheckResult(
        check_name=FINITE.name,
        passed=not bad,
        metadata={
            "non_finite": dg.MetadataValue.md("\n".join(f"- {b}" for b in bad[:50]) or "none")
        },
    )
