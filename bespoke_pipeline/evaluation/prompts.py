"""The prompts every checkpoint is scored on: the user's three reference test prompts, and
a held-out suite of attribute combinations that no training caption contains, so
"does it generalize" is measured rather than guessed."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np

from bespoke_pipeline.pixelart.caption import (
    REFERENCE_PROMPTS,
    CaptionAttributes,
    parse_caption,
    render_caption,
)
from bespoke_pipeline.pixelart.color_words import DESCRIPTIVE_NAMES
from bespoke_pipeline.pixelart.synth import BACKGROUND_WORDS, BESPOKE, SHIRT_WORDS, random_portrait

HELD_OUT_SEED = 4_242  # fixed: the same suite for every checkpoint and every run
#: Held-out prompts may name any common colour, not only the demo set's words.
HELD_OUT_PALETTE = replace(
    BESPOKE,
    background=(*BACKGROUND_WORDS, *DESCRIPTIVE_NAMES),
    shirt=(*SHIRT_WORDS, *DESCRIPTIVE_NAMES),
)


@dataclass(frozen=True)
class EvalPrompt:
    name: str
    suite: str  # "reference" or "held_out"
    text: str
    expected: CaptionAttributes


def reference_prompts(trigger: str) -> list[EvalPrompt]:
    return [
        EvalPrompt(
            name, "reference", text.replace("TOK", trigger, 1), parse_caption(text).attributes
        )
        for name, text in REFERENCE_PROMPTS.items()
    ]


def held_out_prompts(
    count: int, training_captions: Iterable[str], trigger: str
) -> list[EvalPrompt]:
    """`count` full-template prompts whose combination of attributes appears in no training
    caption (drawn from the shared attribute vocabulary with a fixed seed)."""
    seen = {parse_caption(caption).attributes for caption in training_captions}
    rng = np.random.default_rng(HELD_OUT_SEED)
    prompts: list[EvalPrompt] = []
    while len(prompts) < count:
        portrait = random_portrait(rng, HELD_OUT_PALETTE)
        expected = CaptionAttributes.of(portrait)
        if expected in seen or any(p.expected == expected for p in prompts):
            continue
        name = f"held_out_{len(prompts) + 1:02d}"
        prompts.append(EvalPrompt(name, "held_out", render_caption(portrait, trigger), expected))
    return prompts
