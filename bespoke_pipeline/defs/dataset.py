"""raw_images -> captions -> training_package, and dataset_profile beside the package."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
from pydantic import Field
from transformers import PreTrainedTokenizerFast

from bespoke_pipeline.dataset.captions import (
    agreement_table,
    caption_image,
    captions_frame,
    disagreements,
    package_entries,
    vocabulary_report,
    write_suggestions,
)
from bespoke_pipeline.dataset.images import file_digest, read_pixel_art
from bespoke_pipeline.dataset.package import build_package
from bespoke_pipeline.dataset.profile import layout_profile, profile_frame
from bespoke_pipeline.dataset.scan import records_frame, scan_raw_dir
from bespoke_pipeline.defs.recording import record
from bespoke_pipeline.defs.resources import ArtifactStore, DatasetResource, MlflowResource
from bespoke_pipeline.models.pixel.architecture import base_tokenizer
from bespoke_pipeline.models.pixel.tokenizer import reads_every_word, unknown_words
from bespoke_pipeline.pixelart.contact_sheet import annotated_sheet, contact_sheet

GROUP = "dataset"


def _fail_if_strict(dataset: DatasetResource, problems: pd.DataFrame, what: str) -> None:
    if dataset.strict and not problems.empty:
        lines = [f"{row.file}: {row.reason}" for row in problems.itertuples()]
        raise dg.Failure(description=f"strict mode: {len(lines)} {what}:\n" + "\n".join(lines))


def _grid(dataset: DatasetResource, file: str):
    return read_pixel_art(
        dataset.raw_path / file, dataset.max_colors, dataset.allow_resampled
    ).image


def _sheet(dataset: DatasetResource, files: pd.Series):
    return contact_sheet([_grid(dataset, f) for f in files])


def _flagged_sheet(dataset: DatasetResource, wrong: pd.DataFrame):
    """The flagged images with each disagreement's said/seen colours as swatches."""
    rows = [
        (
            _grid(dataset, file),
            file,
            list(zip(group.attribute, group.said_hex, group.seen_hex, strict=True)),
        )
        for file, group in wrong.groupby("file", sort=True)
    ]
    return annotated_sheet(rows)


def _unknown_to_base_model(frame: pd.DataFrame, tokenizer: PreTrainedTokenizerFast) -> pd.DataFrame:
    """Caption words the embedded base model has no token for: a LoRA gives each a row of
    its own to learn (`PixelPunkPipeline.use_words`), the base knows none of them."""
    counts = unknown_words(tokenizer, frame[frame.included].caption.dropna())
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return pd.DataFrame(rows, columns=["word", "captions"])


def _no_usable_images(dataset: DatasetResource, raw_images: pd.DataFrame) -> dg.Failure:
    rejected = raw_images[raw_images.status == "rejected"]
    reasons = [f"{row.file}: {row.reason}" for row in rejected.head(20).itertuples()]
    more = f"\n... and {len(rejected) - 20} more" if len(rejected) > 20 else ""
    return dg.Failure(
        description=f"no usable image in {dataset.raw_dir}: {len(raw_images)} files, "
        f"{len(rejected)} rejected" + (":\n" + "\n".join(reasons) + more if reasons else "")
    )


@dg.asset(group_name=GROUP, code_version="2")
def raw_images(
    context: dg.AssetExecutionContext, dataset: DatasetResource, mlflow: MlflowResource
) -> dg.Output[pd.DataFrame]:
    """Every file in the raw folder, validated: `ok` images go on; `rejected` ones (corrupt,
    wrong size, anti-aliased, resampled, duplicate, ...) are listed with the reason; other
    files are `ignored`. The folder itself is only read."""
    frame = records_frame(
        scan_raw_dir(dataset.raw_path, dataset.max_colors, dataset.allow_resampled)
    )
    rejected = frame[frame.status == "rejected"]
    _fail_if_strict(dataset, rejected, "rejected images")
    accepted = frame[frame.status == "ok"]
    metadata = record(
        context,
        mlflow,
        params={
            "raw_dir": dataset.raw_dir,
            "max_colors": dataset.max_colors,
            "allow_resampled": dataset.allow_resampled,
            "strict": dataset.strict,
        },
        metrics={
            "files": len(frame),
            "accepted": len(accepted),
            "rejected": len(rejected),
            "ignored": int((frame.status == "ignored").sum()),
            "with_warnings": int(accepted.warning.notna().sum()),
        },
        images={"contact_sheet.png": _sheet(dataset, accepted.file)},
        tables={
            "problems.csv": frame[frame.status != "ok"][["file", "status", "reason"]],
            "warnings.csv": accepted[accepted.warning.notna()][["file", "source_side", "warning"]],
        },
    )
    return dg.Output(frame, metadata=metadata)


@dg.asset(group_name=GROUP, code_version="2")
def captions(
    context: dg.AssetExecutionContext,
    raw_images: pd.DataFrame,
    dataset: DatasetResource,
    mlflow: MlflowResource,
    store: ArtifactStore,
) -> dg.Output[pd.DataFrame]:
    """One caption per accepted image: the user's .txt verbatim, checked against the pixels
    attribute by attribute, or a generated one in the reference template. Each flagged
    caption gets a suggested fix, written to this run's own folder for the user to copy."""
    files = raw_images[raw_images.status == "ok"].file
    if files.empty:
        raise _no_usable_images(dataset, raw_images)
    frame = captions_frame(
        [
            caption_image(
                dataset.raw_path,
                f,
                dataset.trigger_word,
                dataset.max_colors,
                dataset.allow_resampled,
            )
            for f in files
        ]
    )
    tokenizer = base_tokenizer()
    frame["words_known"] = reads_every_word(tokenizer, frame.caption.fillna(""))
    excluded = frame[~frame.included].rename(columns={"problems": "reason"})
    _fail_if_strict(dataset, excluded, "unusable captions")
    user = frame[frame.source == "user"]
    wrong = disagreements(user)
    suggestions = store.folder_for(context) / context.run_id / "suggested"
    write_suggestions(user, suggestions)
    metadata = record(
        context,
        mlflow,
        params={"trigger_word": dataset.trigger_word},
        metrics={
            "images": len(frame),
            "user_captions": len(user),
            "generated_captions": int((frame.source == "generated").sum()),
            "flagged": int(user.flagged.sum()),
            "with_problems": int((frame.problems != "").sum()),
            "excluded": len(excluded),
            # what train_captions: auto keeps as written; the rest trains from the pixels
            "auto_as_written": int((frame.pixels_agree & frame.words_known).sum()),
        },
        images={
            "contact_sheet.png": _sheet(dataset, frame[frame.included].file),
            **({"flagged.png": _flagged_sheet(dataset, wrong)} if not wrong.empty else {}),
        },
        tables={
            "captions.csv": frame[["file", "source", "included", "caption", "problems"]],
            "suggested.csv": user[user.suggested.notna()][["file", "caption", "suggested"]],
            "agreement.csv": agreement_table(user),
            "disagreements.csv": wrong,
            "vocabulary.csv": vocabulary_report(user),
            "unknown_to_base_model.csv": _unknown_to_base_model(frame, tokenizer),
        },
    )
    metadata["suggested_captions"] = dg.MetadataValue.path(str(suggestions))
    return dg.Output(frame, metadata=metadata)


@dg.asset(group_name=GROUP, code_version="1")
def dataset_profile(
    context: dg.AssetExecutionContext, captions: pd.DataFrame, mlflow: MlflowResource
) -> dg.Output[pd.DataFrame]:
    """Where the set's features really are (pupils, irises, nose, mouth, collar) and where
    its captions say they are: one finding per feature for the whole set."""
    profile = layout_profile(captions)
    findings = [f for p in profile if (f := p.finding())]
    for finding in findings:
        context.log.warning(finding)
    frame = profile_frame(profile)
    metadata = record(
        context,
        mlflow,
        metrics={"findings": len(findings)},
        tables={"layout_profile.csv": frame},
        texts={"findings.txt": "\n".join(findings) or "captions agree with the pixels' layout"},
    )
    metadata["findings"] = dg.MetadataValue.md("\n".join(f"- {f}" for f in findings) or "none")
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
    entries = package_entries(usable)
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
