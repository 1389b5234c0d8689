"""One call that records a materialization in both places people look: an MLflow run
(params, metrics, images, tables) and the Dagster asset metadata."""

from collections.abc import Mapping

import dagster as dg
import pandas as pd
from PIL import Image

from bespoke_pipeline.defs.resources import MlflowResource
from bespoke_pipeline.pixelart.contact_sheet import png_data_uri
from bespoke_pipeline.redaction import redact


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
        metadata[name.rsplit(".", 1)[0]] = dg.MetadataValue.md(f"![{name}]({png_data_uri(image)})")
    for name, frame in tables.items():
        metadata[name.rsplit(".", 1)[0]] = markdown_table(frame)
    metadata["mlflow_run_id"] = dg.MetadataValue.text(run.run_id)
    return metadata


def markdown_table(frame: pd.DataFrame, max_chars: int = 90) -> dg.MetadataValue:
    """Long cells (captions) are shortened: the full text is in the asset and MLflow."""
    if frame.empty:
        return dg.MetadataValue.md("_(none)_")

    def cell(value: object) -> str:
        text = "" if pd.isna(value) else str(value)
        return text if len(text) <= max_chars else text[: max_chars - 1] + "…"

    short = frame.map(cell)
    return dg.MetadataValue.md(str(redact(short.to_markdown(index=False))))
