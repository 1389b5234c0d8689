"""Every checkpoint of one training run scored the same way, with the base model without
LoRA as epoch 0, so "did training help, and which epoch is best" is a table, not a guess."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from PIL import Image

from bespoke_pipeline.evaluation.metrics import Reference
from bespoke_pipeline.evaluation.prompts import EvalPrompt, held_out_prompts, reference_prompts
from bespoke_pipeline.evaluation.scoring import EvaluationSettings, ModelScore, score_model
from bespoke_pipeline.pixelart.contact_sheet import contact_sheet
from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.families import Renderer, family_for, sampling_pipeline
from bespoke_pipeline.training.plots import labelled_rows

BASE_EPOCH = 0


@dataclass(frozen=True)
class RunScores:
    table: pd.DataFrame  # one row per checkpoint (epoch 0 = base model), best settings
    per_setting: pd.DataFrame  # every checkpoint x sampler setting
    per_image: pd.DataFrame  # every checkpoint x sampler setting x prompt x sample
    comparison: Image.Image  # epochs x prompts, nearest-neighbour upscaled
    prompts: list[EvalPrompt]


def evaluation_prompts(
    settings: EvaluationSettings, captions: list[str], trigger: str
) -> list[EvalPrompt]:
    return [
        *reference_prompts(trigger),
        *held_out_prompts(settings.held_out_prompts, captions, trigger),
    ]


def local_renderers(
    config: TrainingConfig, checkpoints: Mapping[int, Path]
) -> Callable[[int], Renderer]:
    """Each epoch rendered by one pipeline on this machine, the epoch's LoRA swapped in."""
    pipe, render = sampling_pipeline(config)

    def for_epoch(epoch: int) -> Renderer:
        if epoch != BASE_EPOCH:
            load_checkpoint(pipe, checkpoints[epoch])
        return render

    return for_epoch


def score_run(
    checkpoints: Mapping[int, Path],
    config: TrainingConfig,
    data: TrainingData,
    settings: EvaluationSettings,
    on_scored: Callable[[int, ModelScore], None] = lambda epoch, score: None,
    renderers: Callable[[int], Renderer] | None = None,
) -> RunScores:
    """Samples are drawn at the config's training side and snapped to the 24x24 grid, so
    every model family is scored the same way. `renderers` gives each epoch's Renderer
    (default: the base model here, with the epoch's LoRA loaded)."""
    settings = settings.for_family(family_for(config))
    prompts = evaluation_prompts(settings, data.captions, config.trigger_word)
    reference = Reference.of(data.images)
    renderers = renderers or local_renderers(config, checkpoints)
    scores: dict[int, ModelScore] = {}
    for epoch in [BASE_EPOCH, *sorted(checkpoints)]:
        scores[epoch] = score_model(renderers(epoch), prompts, reference, settings)
        on_scored(epoch, scores[epoch])
    base_composite = scores[BASE_EPOCH].best["composite"]
    rows = []
    for epoch, score in scores.items():
        failures = (
            ["the base model without LoRA is the baseline, not a candidate"]
            if epoch == BASE_EPOCH
            else settings.gates.failures(score.best, base_composite)
        )
        rows.append(
            {
                "epoch": epoch,
                **score.best.to_dict(),
                "passes_gates": not failures,
                "gate_failures": "; ".join(failures),
                "checkpoint": str(checkpoints.get(epoch, "")),
            }
        )
    per_setting, per_image = (
        pd.concat([getattr(s, part).assign(epoch=e) for e, s in scores.items()], ignore_index=True)
        for part in ("per_setting", "per_image")
    )
    comparison = labelled_rows(
        [
            (f"epoch {e}" if e else "base", contact_sheet(s.previews, columns=len(s.previews)))
            for e, s in scores.items()
        ]
    )
    return RunScores(pd.DataFrame(rows), per_setting, per_image, comparison, prompts)
