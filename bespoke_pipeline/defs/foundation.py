"""base_model: pretraining the embedded base model. Not part of `make run`: the shipped
weights in data/base/ are its output, and a re-run (ideally on a GPU) replaces them."""

from pathlib import Path

import dagster as dg
from PIL import Image
from pydantic import Field

from bespoke_pipeline.defs.recording import record
from bespoke_pipeline.defs.resources import MlflowResource
from bespoke_pipeline.evaluation.base_model_card import SAMPLES_FILE, export_base_model
from bespoke_pipeline.models.pixel.architecture import BASE_MODEL_DIR
from bespoke_pipeline.models.pixel.pretrain import TARGET_STEPS, Pretrainer, PretrainProgress
from bespoke_pipeline.paths import PRETRAIN_STATE_DIR


class PretrainConfig(dg.Config):
    minutes: float = Field(
        default=30.0,
        description="Training time budget for this run; "
        "the next materialization resumes where this one stopped.",
    )
    max_steps: int = Field(default=TARGET_STEPS, description="Stop for good at this total step.")
    out_dir: str = Field(default=str(BASE_MODEL_DIR), description="Where to export.")


@dg.asset(group_name="foundation", code_version="1")
def base_model(
    context: dg.AssetExecutionContext,
    config: PretrainConfig,
    mlflow: MlflowResource,
) -> dg.Output[dict]:
    """Pretrains (or continues pretraining) the 24x24 base model on generic punks and
    exports the EMA weights with a model card."""
    trainer = Pretrainer(PRETRAIN_STATE_DIR)
    start = trainer.progress.step

    def progress(p: PretrainProgress) -> None:
        if p.step % 500 == 0:
            context.log.info(f"step {p.step} loss {p.loss:.4f} ({p.seconds / 60:.1f} min total)")

    context.log.info(trainer.opening(config.max_steps))
    trainer.run(config.max_steps, config.minutes * 60, progress)
    out_dir = Path(config.out_dir)
    quality = export_base_model(trainer, out_dir)
    metadata = record(
        context,
        mlflow,
        params={
            "minutes": config.minutes,
            "max_steps": config.max_steps,
            "resumed_from_step": start,
            **vars(trainer.settings),
        },
        metrics={
            "steps": trainer.progress.step,
            "loss": trainer.progress.loss,
            "train_minutes": trainer.progress.seconds / 60,
            **quality,
        },
        images={"samples.png": Image.open(out_dir / SAMPLES_FILE)},
        texts={"model_card.md": (out_dir / "README.md").read_text()},
    )
    return dg.Output(
        {"path": str(out_dir), "steps": trainer.progress.step, **quality}, metadata=metadata
    )
