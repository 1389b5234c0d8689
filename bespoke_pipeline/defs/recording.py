"""One call that records a materialization in both places people look: an MLflow run
(params, metrics, images, tables) and the Dagster asset metadata."""

import math
from collections.abc import Mapping

import dagster as dg
import numpy as np
import pandas as pd
from PIL import Image

from bespoke_pipeline.defs.resources import MlflowResource
from bespoke_pipeline.pixelart.contact_sheet import png_data_uri
from bespoke_pipeline.redaction import redact
from bespoke_pipeline.tracking import TrackedRun
from bespoke_pipeline.training.checkpoints import DIFFUSERS_FILE, KOHYA_FILE
from bespoke_pipeline.training.lora import EpochResult, Progress
from bespoke_pipeline.training.plots import labelled_rows, loss_curve


def record(
    context: dg.AssetExecutionContext,
    mlflow: MlflowResource,
    *,
    params: Mapping[str, object] | None = None,
    metrics: Mapping[str, float] | None = None,
    images: Mapping[str, Image.Image] | None = None,
    tables: Mapping[str, pd.DataFrame] | None = None,
    texts: Mapping[str, str] | None = None,
) -> dict[str, dg.MetadataValue]:
    """Log to MLflow and return the matching Dagster metadata. Image and table names are
    artifact file names (`contact_sheet.png`, `captions.csv`)."""
    params, metrics = params or {}, metrics or {}
    images, tables, texts = images or {}, tables or {}, texts or {}
    with mlflow.run_for(context) as run:
        run.log_params(params)
        run.log_metrics(metrics)
        for name, image in images.items():
            run.log_image(image, name)
        for name, frame in tables.items():
            run.log_table(frame, name)
        for name, text in texts.items():
            run.log_text(text, name)
    metadata: dict[str, dg.MetadataValue] = {
        k: dg.MetadataValue.int(int(v)) if float(v).is_integer() else dg.MetadataValue.float(v)
        for k, v in metrics.items()
    }
    for name, image in images.items():
        metadata[name.rsplit(".", 1)[0]] = image_metadata(image, name)
    for name, frame in tables.items():
        metadata[name.rsplit(".", 1)[0]] = table_metadata(frame)
    metadata["mlflow_run_id"] = dg.MetadataValue.text(run.run_id)
    return metadata


def image_metadata(image: Image.Image, alt: str) -> dg.MetadataValue:
    """An image the Dagster UI shows inline (markdown with a PNG data URI)."""
    return dg.MetadataValue.md(f"![{alt}]({png_data_uri(image)})")


class TrainingRecorder:
    """Training progress into an open MLflow run and the Dagster log as it happens, and the
    loss curve and sample grid into both at the end."""

    def __init__(self, context: dg.AssetExecutionContext, run: TrackedRun, title: str) -> None:
        self.context, self.run, self.title = context, run, title
        self.curve: list[tuple[int, float]] = []
        self.sample_rows: list[tuple[str, Image.Image]] = []

    def progress(self, p: Progress) -> None:
        self.curve.append((p.step, p.loss))
        self.run.log_metrics(
            {"loss": p.loss, "learning_rate": p.learning_rate}, step=p.step, synchronous=False
        )
        if p.step % max(1, p.total_steps // 20) == 0 or p.step == p.total_steps:
            self.context.log.info(
                f"epoch {p.epoch}/{p.epochs} step {p.step}/{p.total_steps} "
                f"loss {p.loss:.4f} about {p.seconds_left:.0f}s left"
            )

    def epoch_done(self, result: EpochResult) -> None:
        self.run.log_metrics({"epoch_loss": result.mean_loss}, step=result.epoch)
        if result.samples is not None:
            self.sample_rows.append((f"epoch {result.epoch}", result.samples))
            self.run.log_image(result.samples, f"samples/epoch_{result.epoch:04d}.png")
        if result.checkpoint is None:
            return  # an epoch between saves
        for file in (DIFFUSERS_FILE, KOHYA_FILE):
            self.run.log_artifact(result.checkpoint / file, f"checkpoints/{result.checkpoint.name}")

    def summary(self) -> dict[str, dg.MetadataValue]:
        metadata = {"mlflow_run_id": dg.MetadataValue.text(self.run.run_id)}
        if self.curve:
            plot = loss_curve(*zip(*self.curve, strict=True), title=self.title)
            self.run.log_image(plot, "loss_curve.png")
            metadata["loss_curve"] = image_metadata(plot, "loss curve")
        if self.sample_rows:
            grid = labelled_rows(self.sample_rows)
            self.run.log_image(grid, "samples/epochs.png")
            metadata["samples"] = image_metadata(grid, "samples per epoch")
        return metadata


def table_metadata(frame: pd.DataFrame, max_chars: int = 90) -> dg.MetadataValue:
    """A typed table the Dagster UI shows sortable, numbers as numbers. Long text cells
    (captions) are shortened: the full text is in the asset and MLflow."""
    columns = [dg.TableColumn(str(name), _column_type(frame[name])) for name in frame.columns]

    def cell(value: object) -> str | int | float | bool | None:
        if isinstance(value, np.generic):
            value = value.item()
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return None
        if isinstance(value, bool | int | float):
            return value
        text = str(redact(str(value)))
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

    records = [
        dg.TableRecord({str(k): cell(v) for k, v in row.items()})
        for row in frame.to_dict("records")
    ]
    return dg.MetadataValue.table(records, dg.TableSchema(columns=columns))


def _column_type(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column):
        return "bool"
    if pd.api.types.is_integer_dtype(column):
        return "int"
    if pd.api.types.is_float_dtype(column):
        return "float"
    return "string"
