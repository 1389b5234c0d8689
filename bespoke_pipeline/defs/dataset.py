"""raw_images -> captions -> training_package."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field

from bespoke_pipeline.dataset.captions import caption_image, captions_frame
from bespoke_pipeline.dataset.images import file_digest, read_pixel_art
from bespoke_pipeline.dataset.package import PackageEntry, build_package
from bespoke_pipeline.dataset.scan import records_frame, scan_raw_dir
from bespoke_pipeline.defs.recording import record
from bespoke_pipeline.defs.resources import ArtifactStore, DatasetResource, MlflowResource
from bespoke_pipeline.pixelart.contact_sheet import contact_sheet

GROUP = "dataset"


def _fail_if_strict(dataset: DatasetResource, problems: pd.DataFrame, what: str) -> None:
    if dataset.strict and not problems.empty:
        lines = [f"{row.file}: {row.reason}" for row in problems.itertuples()]
        raise dg.Failure(description=f"strict mode: {len(lines)} {what}:\n" + "\n".join(lines))


def _sheet(dataset: DatasetResource, files: pd.Series):
    return contact_sheet([read_pixel_art(dataset.raw_path / f, dataset.max_colors) for f in files])


@dg.asset(group_name=GROUP, code_version="1")
def raw_images(
    context: dg.AssetExecutionContext, dataset: DatasetResource, mlflow: MlflowResource
) -> dg.Output[pd.DataFrame]:
    """Every file in the raw folder, validated: `ok` images go on; `rejected` ones (corrupt,
    wrong size, anti-aliased, duplicate, ...) are listed with the reason; other files are
    `ignored`. The folder itself is only read."""
    frame = records_frame(scan_raw_dir(dataset.raw_path, dataset.max_colors))
    rejected = frame[frame.status == "rejected"]
    _fail_if_strict(dataset, rejected, "rejected images")
    accepted = frame[frame.status == "ok"]
    metadata = record(
        context,
        mlflow,
        params={
            "raw_dir": dataset.raw_dir,
            "max_colors": dataset.max_colors,
            "strict": dataset.strict,
        },
        metrics={
            "files": len(frame),
            "accepted": len(accepted),
            "rejected": len(rejected),
            "ignored": int((frame.status == "ignored").sum()),
        },
        images={"contact_sheet.png": _sheet(dataset, accepted.file)},
        tables={"problems.csv": frame[frame.status != "ok"][["file", "status", "reason"]]},
    )
    return dg.Output(frame, metadata=metadata)


@dg.asset(group_name=GROUP, code_version="1")
def captions(
    context: dg.AssetExecutionContext,
    raw_images: pd.DataFrame,
    dataset: DatasetResource,
    mlflow: MlflowResource,
) -> dg.Output[pd.DataFrame]:
    """One caption per accepted image: the user's .txt verbatim (checked against the pixels)
    or a generated one in the reference template."""
    files = raw_images[raw_images.status == "ok"].file
    frame = captions_frame(
        [
            caption_image(dataset.raw_path, f, dataset.trigger_word, dataset.max_colors)
            for f in files
        ]
    )
    excluded = frame[~frame.included].rename(columns={"problems": "reason"})
    _fail_if_strict(dataset, excluded, "unusable captions")
    metadata = record(
        context,
        mlflow,
        params={"trigger_word": dataset.trigger_word},
        metrics={
            "images": len(frame),
            "user_captions": int((frame.source == "user").sum()),
            "generated_captions": int((frame.source == "generated").sum()),
            "with_problems": int((frame.problems != "").sum()),
            "excluded": len(excluded),
        },
        images={"contact_sheet.png": _sheet(dataset, frame[frame.included].file)},
        tables={"captions.csv": frame[["file", "source", "included", "caption", "problems"]]},
    )
    return dg.Output(frame, metadata=metadata)


class PackageConfig(dg.Config):
    upscale_to: int | None = Field(
        default=None,
        description="Store images nearest-neighbour upscaled to this side, a multiple of 24 "
        "(768 = 24 x 32), for remote trainers that would otherwise resize with smearing.",
    )


@dg.asset(group_name=GROUP, code_version="1")
def training_package(
    context: dg.AssetExecutionContext,
    config: PackageConfig,
    captions: pd.DataFrame,
    dataset: DatasetResource,
    store: ArtifactStore,
    mlflow: MlflowResource,
) -> dg.Output[dict]:
    """A deterministic zip of image + caption pairs with a SHA-256 manifest, ready to upload
    to Replicate or CivitAI or to feed our own trainer. Its hash is the data version."""
    usable = captions[captions.included]
    entries = [PackageEntry(f, c) for f, c in zip(usable.file, usable.caption, strict=True)]
    path = store.path_for(context, "bespoke_punk_training.zip")
    manifest = build_package(dataset.raw_path, entries, path, config.upscale_to)
    sha256 = file_digest(path)
    value = {
        "path": str(path),
        "sha256": sha256,
        "pairs": len(entries),
        "image_side": manifest["image_side"],
    }
    metadata = record(
        context,
        mlflow,
        params={"upscale_to": config.upscale_to, "pairs": len(entries)},
        metrics={"pairs": len(entries), "zip_bytes": Path(path).stat().st_size},
        images={"contact_sheet.png": _sheet(dataset, usable.file)},
        texts={"manifest.json": json.dumps(manifest, indent=2, sort_keys=True)},
    )
    metadata |= {"path": dg.MetadataValue.path(str(path)), "sha256": dg.MetadataValue.text(sha256)}
    return dg.Output(value, metadata=metadata, data_version=dg.DataVersion(sha256))
