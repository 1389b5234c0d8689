"""`bespoke bench real-art`: a LoRA trained on the artist's own art, asked in the artist's
own words, judged the way the artist will look at it.

The artist's real pairs split as the reader's truth set splits them (`held_apart`): two
thirds to train on, and a third whose captions, as the artist wrote them, are validation
prompts. Beside those, the artist's three test prompts and the held-out prompt suite. For
each `train_captions` variant (the artist's text, the corrected text, captions from the
pixels) one LoRA is trained with the given config and its last epoch is judged against
the prompt by the evaluation's own metrics: per-attribute accuracy with a 95% interval,
palette size and grid cleanliness beside the real art's, and which background colour was
drawn for which was asked, so a bias (the artist's teal) shows.
"""

from __future__ import annotations

import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import binomtest

from bespoke_pipeline.bench.reader import held_apart
from bespoke_pipeline.dataset.captions import caption_image, captions_frame, training_captions
from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.dataset.package import CaptionVariant
from bespoke_pipeline.evaluation.metrics import Reference, image_metrics
from bespoke_pipeline.evaluation.prompts import EvalPrompt, held_out_prompts, reference_prompts
from bespoke_pipeline.evaluation.scoring import EvaluationSettings
from bespoke_pipeline.models.pixel.architecture import base_tokenizer
from bespoke_pipeline.models.pixel.tokenizer import reads_every_word
from bespoke_pipeline.pixelart.caption import parse_caption
from bespoke_pipeline.pixelart.color_words import colour_of, vocabulary
from bespoke_pipeline.pixelart.colors import delta_e_2000, hex_to_lab
from bespoke_pipeline.pixelart.regions import read_regions
from bespoke_pipeline.pixelart.snap import snap_to_grid
from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.families import Renderer, family_for, sampling_pipeline
from bespoke_pipeline.training.lora import LoraTrainer

#: What the artist asks of a model, and ours of it: colours named, eyes, facing.
ATTRIBUTES = (
    "background",
    "hair_color",
    "eye_color",
    "skin_color",
    "accessories",
    "eyes_placed",
    "right_facing",
)
#: Coarse colour families the asked and drawn backgrounds are sorted into.
FAMILIES = (
    "red", "orange", "yellow", "green", "teal", "blue", "purple", "pink", "brown",
    "black", "grey", "white",
)  # fmt: skip
SEED = 2024


@dataclass(frozen=True)
class RealArt:
    """The artist's pairs read once: one `captions_frame` row per pair, and its grid."""

    frame: pd.DataFrame
    images: dict[str, np.ndarray]  # file -> uint8 (24, 24, 3)

    def part(self, validation: bool) -> pd.DataFrame:
        return self.frame[self.frame.file.map(held_apart) == validation]


def read_real_art(folders: list[Path], trigger: str) -> RealArt:
    rows, images = [], {}
    for folder in folders:
        for path in sorted(folder.glob("*.png")):
            rows.append(caption_image(folder, path.name, trigger))
            grid = read_pixel_art(path).image.convert("RGB")
            images[path.name] = np.asarray(grid)
    frame = captions_frame(rows)
    frame["words_known"] = reads_every_word(base_tokenizer(), frame.caption.fillna(""))
    return RealArt(frame, images)


def training_data(art: RealArt, variant: CaptionVariant) -> TrainingData:
    part = art.part(validation=False)
    captions = training_captions(part, variant).tolist()
    images = np.stack([art.images[f] for f in part.file])
    digest = hashlib.sha256(images.tobytes() + "\n".join(captions).encode()).hexdigest()
    return TrainingData(images, captions, digest, variant)


def validation_prompts(art: RealArt) -> list[EvalPrompt]:
    """The held-apart pairs' captions as the artist wrote them: what the LoRA is asked."""
    part = art.part(validation=True)
    return [
        EvalPrompt(file, "validation", text, parse_caption(text).attributes)
        for file, text in zip(part.file, part.caption, strict=True)
    ]


def family_of(hex_color: str) -> str:
    """The coarse colour family nearest a colour (CIEDE2000)."""
    known = vocabulary()
    distances = delta_e_2000(hex_to_lab([known[f] for f in FAMILIES]), hex_to_lab([hex_color]))
    return FAMILIES[int(np.argmin(distances))]


def judge(
    render: Renderer,
    prompts: list[EvalPrompt],
    reference: Reference,
    sampler: tuple[int, float],
    samples: int,
) -> pd.DataFrame:
    """One row per image: the evaluation's metrics against its prompt, and the colour
    family of the background asked and of the one drawn."""
    import torch

    steps, guidance = sampler
    texts = [p.text for p in prompts for _ in range(samples)]
    raw = render(texts, steps, guidance, torch.Generator().manual_seed(SEED))
    rows = []
    for index, image in enumerate(raw):
        prompt = prompts[index // samples]
        snapped = snap_to_grid(image, palette=reference.palette)
        asked = prompt.expected.background
        drawn = read_regions(snapped).background_colors
        rows.append(
            {
                "prompt": prompt.name,
                "suite": prompt.suite,
                **image_metrics(image, snapped, prompt.expected, reference),
                "asked": family_of(colour_of(asked)) if asked else None,
                "drawn": family_of(drawn[0]) if drawn else None,
            }
        )
    return pd.DataFrame(rows)


def interval(values: pd.Series) -> str:
    """Share of 1s among the asked (non-NaN) values, with its 95% Wilson interval."""
    asked = values.dropna()
    if asked.empty:
        return "-"
    hits = int(asked.sum())
    low, high = binomtest(hits, len(asked)).proportion_ci(method="wilson")
    return f"{hits / len(asked):.2f} [{low:.2f}-{high:.2f}]"


def accuracy_table(judged: dict[str, pd.DataFrame], real_palettes: list[int]) -> pd.DataFrame:
    """Per model and prompt suite: each attribute's accuracy with its interval, the median
    palette size (the real art's beside it) and grid cleanliness."""
    rows = []
    for model, frame in judged.items():
        for suite, part in frame.groupby("suite", sort=False):
            rows.append(
                {
                    "model": model,
                    "prompts": f"{suite} ({part.prompt.nunique()})",
                    **{a: interval(part[a]) for a in ATTRIBUTES},
                    "palette median": f"{part.palette_size.median():.0f}"
                    f" (real {np.median(real_palettes):.0f})",
                    "grid clean": f"{part.grid_cleanliness.mean():.3f}",
                }
            )
    return pd.DataFrame(rows)


def bias(frame: pd.DataFrame) -> tuple[pd.DataFrame, str]:
    """Asked against drawn background family over the prompts that ask for one, and the
    family most drawn when another was asked, with its share of those prompts."""
    named = frame.dropna(subset=["asked", "drawn"])
    table = pd.crosstab(named.asked, named.drawn)
    wrong = named[named.asked != named.drawn]
    if wrong.empty:
        return table, "no background drawn in another family than asked"
    family = wrong.drawn.value_counts().index[0]
    others = named[named.asked != family]
    share = (others.drawn == family).mean()
    return table, f"{family} drawn for {share:.0%} of the prompts asking for another family"


@dataclass(frozen=True)
class RealArtBench:
    accuracy: pd.DataFrame
    bias: dict[str, tuple[pd.DataFrame, str]]  # per model, on validation and test prompts
    words: dict[str, int]  # per variant, caption words new to the base model


def bench_real_art(
    config: TrainingConfig,
    name: str,
    folders: list[Path],
    variants: tuple[CaptionVariant, ...],
    samples: int = 2,
    held_out: int = 16,
) -> RealArtBench:
    art = read_real_art(folders, config.trigger_word)
    train = art.part(validation=False)
    images = np.stack([art.images[f] for f in train.file])
    reference = Reference.of(images)
    prompts = [
        *validation_prompts(art),
        *reference_prompts(config.trigger_word),
        *held_out_prompts(held_out, train.caption, config.trigger_word),
    ]
    settings = EvaluationSettings().for_family(family_for(config))
    sampler = (settings.steps[0], settings.guidance_scales[0])
    judged: dict[str, pd.DataFrame] = {}
    words: dict[str, int] = {}
    pipe, render = sampling_pipeline(config)
    judged["base"] = judge(render, prompts, reference, sampler, samples)
    with tempfile.TemporaryDirectory() as folder:
        for variant in variants:
            variant_config = config.model_copy(update={"train_captions": variant})
            data = training_data(art, variant)
            trainer = LoraTrainer(variant_config, name, data, Path(folder), log=lambda _: None)
            words[variant] = len(trainer.new_words)
            saved = [r.checkpoint for r in trainer.train() if r.checkpoint is not None]
            load_checkpoint(pipe, saved[-1])
            judged[variant] = judge(render, prompts, reference, sampler, samples)
    real_palettes = [len(np.unique(i.reshape(-1, 3), axis=0)) for i in art.images.values()]
    asked_in_words = {
        model: bias(frame[frame.suite.isin(["validation", "reference"])])
        for model, frame in judged.items()
    }
    return RealArtBench(accuracy_table(judged, real_palettes), asked_in_words, words)
