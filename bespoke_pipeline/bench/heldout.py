"""`bespoke bench heldout`: how well a config's LoRA follows captions it was never trained
on, per attribute, against the user's targets; with a sampler grid (`--guidance`, `--steps`)
also which setting the LoRA follows its captions best at.

Trains the config on the demo set in a temporary folder, then scores the base model and the
last epoch (or a chosen saved one, such as the epoch a run promoted: `--epoch`) on held-out
prompts only (attribute combinations in no training caption, any common colour word; judged
by region analysis against the prompt) at every sampler setting, and reports each
attribute's accuracy at the best one.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bespoke_pipeline.bench.train import demo_data
from bespoke_pipeline.evaluation.metrics import FOLLOWS_WORDS, Reference
from bespoke_pipeline.evaluation.prompts import held_out_prompts
from bespoke_pipeline.evaluation.scoring import TARGETS, EvaluationSettings, score_model
from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families import family_for, sampling_pipeline
from bespoke_pipeline.training.lora import LoraTrainer

ATTRIBUTES = (*FOLLOWS_WORDS, "eyes_placed", "right_facing")


@dataclass(frozen=True)
class HeldOut:
    accuracy: pd.DataFrame  # one row per attribute: base, LoRA at its best setting, target
    lora_settings: pd.DataFrame  # the LoRA's composite and accuracies per sampler setting


def held_out_accuracy(
    config: TrainingConfig,
    name: str,
    prompts: int = 32,
    guidance_scales: list[float] | None = None,
    steps: list[int] | None = None,
    epoch: int | None = None,
) -> HeldOut:
    """Base model and trained LoRA on the same held-out prompts; no grid given: the family's.
    `epoch` scores a saved epoch other than the last, such as the one `make run` promotes."""
    data = demo_data()
    settings = EvaluationSettings(
        held_out_prompts=prompts, guidance_scales=guidance_scales, steps=steps
    ).for_family(family_for(config))
    suite = held_out_prompts(prompts, data.captions, config.trigger_word)
    reference = Reference.of(data.images)
    scores = {}
    with tempfile.TemporaryDirectory() as folder:
        trainer = LoraTrainer(config, name, data, Path(folder))
        saved = {r.epoch: r.checkpoint for r in trainer.train() if r.checkpoint is not None}
        chosen = max(saved) if epoch is None else epoch
        if chosen not in saved:
            raise ValueError(f"{name}: epoch {chosen} is not saved (saved: {sorted(saved)})")
        pipe, render = sampling_pipeline(config)
        for label in ("base", "lora"):
            if label == "lora":
                load_checkpoint(pipe, saved[chosen])
            scores[label] = score_model(render, suite, reference, settings)
    table = pd.DataFrame(
        {label: score.best[list(ATTRIBUTES)].astype(float) for label, score in scores.items()}
    )
    table["target"] = [TARGETS.get(a, float("nan")) for a in ATTRIBUTES]
    per_setting = scores["lora"].per_setting
    return HeldOut(
        table.rename_axis("attribute").reset_index(),
        per_setting[["guidance_scale", "steps", "composite", "composite_ci", *ATTRIBUTES]],
    )
