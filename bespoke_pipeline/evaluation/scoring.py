"""Scoring a model: render every evaluation prompt at every sampler setting, snap, measure,
and reduce to one row per checkpoint with a composite score, the best sampler settings and
the quality gates it passes or fails.

Weights, reference targets and gates live here and nowhere else; the README quotes them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from PIL import Image
from pydantic import BaseModel, Field

from bespoke_pipeline.evaluation.metrics import Reference, diversity, image_metrics
from bespoke_pipeline.evaluation.prompts import EvalPrompt
from bespoke_pipeline.pixelart.snap import snap_to_grid

if TYPE_CHECKING:  # the score table is read where nothing renders: status, promotion
    from bespoke_pipeline.training.families import Renderer
    from bespoke_pipeline.training.families.base import ModelFamily

#: Composite score = sum of weight x accuracy (weights sum to 1; a metric no prompt asks
#: about drops out and the rest are rescaled). Layout and the colors the user names most
#: carry the most weight.
WEIGHTS: dict[str, float] = {
    "background": 0.15,
    "eyes_placed": 0.15,
    "right_facing": 0.10,
    "hair_color": 0.10,
    "eye_color": 0.10,
    "skin_color": 0.10,
    "accessories": 0.10,
    "grid_cleanliness": 0.10,
    "lip_color": 0.05,
    "collar_color": 0.05,
}

#: The user's quality targets, reported per checkpoint as `meets_targets`. The reference
#: notes give hair, eye and skin colour and accessories in numbers; "exact eye placement" and
#: "consistent right-facing" are asked as 95%, background colour as 90% (issue 12).
TARGETS: dict[str, float] = {
    "hair_color": 0.90,
    "eye_color": 0.90,
    "skin_color": 0.90,
    "accessories": 0.85,
    "background": 0.90,
    "eyes_placed": 0.95,
    "right_facing": 0.95,
}


class QualityGates(BaseModel):
    """What a checkpoint must reach before it may become the production model. Looser than
    the reference targets on purpose: the gates stop regressions and broken models, the
    targets say how far a model still is from what the user wants."""

    beat_base_by: float = Field(0.02, description="composite above the base model (epoch 0)")
    min_right_facing: float = 0.75
    min_eyes_placed: float = 0.25
    min_grid_cleanliness: float = 0.6
    max_memorized: float = Field(0.2, description="share of samples copying a training image")

    def failures(self, row: pd.Series, base_composite: float) -> list[str]:
        found = []
        if row["composite"] < base_composite + self.beat_base_by:
            found.append(
                f"composite {row['composite']:.3f} < base {base_composite:.3f}"
                f" + {self.beat_base_by}"
            )
        for metric in ("right_facing", "eyes_placed", "grid_cleanliness"):
            limit = getattr(self, f"min_{metric}")
            if row[metric] < limit:
                found.append(f"{metric} {row[metric]:.2f} < {limit}")
        if row["memorized"] > self.max_memorized:
            found.append(f"memorized {row['memorized']:.2f} > {self.max_memorized}")
        return found


class EvaluationSettings(BaseModel):
    """How much to render per checkpoint. The default scores all 11 checkpoints of
    pixel-tiny in under a minute on 2 CPU cores (`bespoke bench eval`)."""

    held_out_prompts: int = Field(16, ge=0)
    samples_per_prompt: int = Field(2, ge=1)
    guidance_scales: list[float] | None = Field(
        None, min_length=1, description="None: the model family's usual range"
    )
    steps: list[int] | None = Field(
        None, min_length=1, description="None: the model family's usual range"
    )
    seed: int = 2024
    gates: QualityGates = Field(default_factory=QualityGates)

    def for_family(self, family: ModelFamily) -> EvaluationSettings:
        """These settings with the family's sampler grid where none is given: SDXL wants
        classifier-free guidance and 20-30 steps, FLUX-dev 20-28 at guidance 3.5, the 24x24
        model far fewer; one grid for all would judge some families under-sampled."""
        guidance_scales, steps = family.sampler_grid
        return self.model_copy(
            update={
                "guidance_scales": self.guidance_scales or list(guidance_scales),
                "steps": self.steps or list(steps),
            }
        )


def images_per_checkpoint(settings: EvaluationSettings, prompts: list[EvalPrompt]) -> int:
    """What scoring one checkpoint renders: every prompt, sample and sampler setting."""
    grid = len(settings.guidance_scales) * len(settings.steps)
    return len(prompts) * settings.samples_per_prompt * grid


@dataclass(frozen=True)
class ModelScore:
    per_image: pd.DataFrame  # one row per prompt x sample x sampler setting
    per_setting: pd.DataFrame  # accuracies and composite per sampler setting
    best: pd.Series  # the per_setting row with the highest composite
    previews: list[Image.Image]  # first sample of each prompt at the best setting, snapped


def score_model(
    render: Renderer,
    prompts: list[EvalPrompt],
    reference: Reference,
    settings: EvaluationSettings,
) -> ModelScore:
    import torch  # here, not above: only rendering needs it

    texts = [p.text for p in prompts for _ in range(settings.samples_per_prompt)]
    rows: list[dict] = []
    snapped_by_setting: dict[tuple[float, int], list[Image.Image]] = {}
    for guidance in settings.guidance_scales:
        for steps in settings.steps:
            generator = torch.Generator().manual_seed(settings.seed)
            raw = render(texts, steps, guidance, generator)
            snapped = [snap_to_grid(image, palette=reference.palette) for image in raw]
            snapped_by_setting[(guidance, steps)] = snapped
            n = settings.samples_per_prompt
            for index, prompt in enumerate(prompts):
                group = slice(index * n, (index + 1) * n)
                spread = diversity(snapped[group])
                for sample, (image, cells) in enumerate(
                    zip(raw[group], snapped[group], strict=True)
                ):
                    rows.append(
                        {
                            "guidance_scale": guidance,
                            "steps": steps,
                            "prompt": prompt.name,
                            "suite": prompt.suite,
                            "sample": sample,
                            **image_metrics(image, cells, prompt.expected, reference),
                            "diversity": spread,
                        }
                    )
    per_image = pd.DataFrame(rows)
    per_setting = summarize(per_image)
    best = per_setting.loc[per_setting["composite"].idxmax()]
    chosen = snapped_by_setting[(best["guidance_scale"], int(best["steps"]))]
    previews = chosen[:: settings.samples_per_prompt]
    return ModelScore(per_image, per_setting, best, previews)


def summarize(per_image: pd.DataFrame) -> pd.DataFrame:
    """Mean of every metric per sampler setting (NaN = not asked, left out), plus the
    composite score and whether the reference targets are met."""
    metrics = per_image.drop(columns=["prompt", "suite", "sample"])
    table = metrics.groupby(["guidance_scale", "steps"], as_index=False).mean()
    held_out = per_image[per_image["suite"] == "held_out"]
    if not held_out.empty:
        colors = ["hair_color", "eye_color", "skin_color", "background"]
        generalization = held_out.groupby(["guidance_scale", "steps"])[colors].mean().mean(axis=1)
        table["held_out_color_accuracy"] = generalization.to_numpy()
    table["composite"] = table.apply(composite, axis=1)
    table["composite_ci"] = _composite_ci(per_image).to_numpy()
    table["meets_targets"] = table.apply(
        lambda row: all(math.isnan(row[m]) or row[m] >= target for m, target in TARGETS.items()),
        axis=1,
    )
    return table


def numeric_scores(row: pd.Series) -> dict[str, float]:
    """The numbers of a score row (flags, names and not-asked NaNs left out), as MLflow
    metrics and the production record take them."""
    return {
        str(k): float(v)
        for k, v in row.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and not pd.isna(v)
    }


def _composite_ci(per_image: pd.DataFrame) -> pd.Series:
    """Half-width of the 95% interval of the composite per sampler setting, from the spread
    of per-image composites: differences smaller than this are noise."""
    scored = per_image.assign(image_composite=per_image.apply(composite, axis=1))
    grouped = scored.groupby(["guidance_scale", "steps"])["image_composite"]
    return 1.96 * grouped.std(ddof=1).fillna(0.0) / np.sqrt(grouped.count())


def composite(row: pd.Series) -> float:
    present = {m: w for m, w in WEIGHTS.items() if not math.isnan(row[m])}
    return sum(w * row[m] for m, w in present.items()) / sum(present.values())
