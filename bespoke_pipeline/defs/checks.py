"""Dataset health checks. Non-blocking ones report and let the good files go on; the
package integrity check blocks, since a broken zip must never reach a trainer."""

from pathlib import Path

import dagster as dg
import pandas as pd

from bespoke_pipeline.dataset.captions import agreement_table
from bespoke_pipeline.dataset.package import verify_package
from bespoke_pipeline.defs.dataset import captions, raw_images, training_package
from bespoke_pipeline.defs.recording import table_metadata

#: Fewer images than this rarely teach a LoRA a style (the reference run used 193).
MIN_TRAINING_IMAGES = 20


@dg.asset_check(asset=raw_images, description="Every PNG in the raw folder can be used.")
def all_images_usable(raw_images: pd.DataFrame) -> dg.AssetCheckResult:
    rejected = raw_images[raw_images.status == "rejected"]
    return dg.AssetCheckResult(
        passed=rejected.empty,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={"rejected": len(rejected), "files": table_metadata(rejected[["file", "reason"]])},
    )


@dg.asset_check(asset=raw_images, description=f"At least {MIN_TRAINING_IMAGES} usable images.")
def enough_images(raw_images: pd.DataFrame) -> dg.AssetCheckResult:
    accepted = int((raw_images.status == "ok").sum())
    return dg.AssetCheckResult(
        passed=accepted >= MIN_TRAINING_IMAGES,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"accepted": accepted, "minimum": MIN_TRAINING_IMAGES},
    )


@dg.asset_check(asset=captions, description="User captions are readable and agree with the pixels.")
def captions_agree_with_pixels(captions: pd.DataFrame) -> dg.AssetCheckResult:
    flagged = captions[captions.problems != ""]
    excluded = int((~captions.included).sum())
    user = captions[captions.source == "user"]
    agreeing = int((~user.flagged).sum())
    return dg.AssetCheckResult(
        passed=flagged.empty,
        severity=dg.AssetCheckSeverity.ERROR if excluded else dg.AssetCheckSeverity.WARN,
        metadata={
            "agreeing_share": dg.MetadataValue.float(
                round(agreeing / len(user), 4) if len(user) else 1.0
            ),
            "agreeing": agreeing,
            "flagged": len(flagged),
            "excluded": excluded,
            "per_attribute": table_metadata(agreement_table(user)),
            "files": table_metadata(flagged[["file", "included", "problems"]], 200),
        },
    )


@dg.asset_check(
    asset=training_package,
    blocking=True,
    description="Every member matches the manifest and every image has a caption.",
)
def package_intact(training_package: dict) -> dg.AssetCheckResult:
    problems = verify_package(Path(training_package["path"]))
    return dg.AssetCheckResult(
        passed=not problems,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )
