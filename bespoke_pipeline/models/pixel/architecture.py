"""The embedded base model's architecture and vocabulary: a small UNet2DConditionModel at
native 24x24 with cross-attention, a 2-layer CLIP-style text encoder and a word tokenizer.

Sized for a 2-core CPU: attention runs only at 12x12 and 6x6 (self-attention over all 576
pixels tripled the step time in a probe), and the 1.7M-parameter UNet trains a LoRA epoch
over 193 images in seconds.
"""

from __future__ import annotations

from functools import cache

from diffusers import DDIMScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, PreTrainedTokenizerFast

from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.models.pixel.tokenizer import MAX_LENGTH, fit_tokenizer
from bespoke_pipeline.paths import DATA_DIR
from bespoke_pipeline.pixelart.caption import REFERENCE_PROMPTS, render_caption
from bespoke_pipeline.pixelart.color_words import known_words
from bespoke_pipeline.pixelart.generic import generic_corpus
from bespoke_pipeline.pixelart.synth import synth_portraits

BASE_MODEL_DIR = DATA_DIR / "base" / "pixel-punk-base"
TEXT_DIM = 128


@cache
def base_tokenizer() -> PreTrainedTokenizerFast:
    """The shipped base model's tokenizer: which caption words it has tokens for."""
    return PreTrainedTokenizerFast.from_pretrained(BASE_MODEL_DIR / "tokenizer")


def caption_vocabulary_tokenizer() -> PreTrainedTokenizerFast:
    """Fitted on generic and bespoke captions, the reference prompts and every word the
    colour resolver reads, so any colour phrase a user writes has its tokens, and the
    trigger and coordinate words exist (untrained) for a LoRA to learn."""
    return fit_tokenizer(_vocabulary_texts())


@cache
def _vocabulary_texts() -> tuple[str, ...]:
    """Drawing the 2,500 portraits behind these captions takes seconds; a process that builds
    several models (the tests' tiny bases, new pretraining runs) draws them once."""
    _, generic = generic_corpus(2000, seed=0)
    bespoke = [
        render_caption(p, trigger)
        for _, p in synth_portraits(500, seed=0)
        for trigger in ("TOK", "bespoke")
    ]
    return (*generic, *bespoke, *REFERENCE_PROMPTS.values(), *known_words())


def new_base_model(
    tokenizer: PreTrainedTokenizerFast, prediction_type: str = "v_prediction"
) -> PixelPunkPipeline:
    unet = UNet2DConditionModel(
        sample_size=24,
        in_channels=3,
        out_channels=3,
        layers_per_block=1,
        block_out_channels=(32, 64, 64),
        norm_num_groups=16,
        attention_head_dim=8,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=TEXT_DIM,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer),
            hidden_size=TEXT_DIM,
            intermediate_size=4 * TEXT_DIM,
            num_hidden_layers=2,
            num_attention_heads=4,
            max_position_embeddings=MAX_LENGTH,
            pad_token_id=tokenizer.pad_token_id,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    )
    scheduler = DDIMScheduler(
        num_train_timesteps=1000,
        beta_schedule="squaredcos_cap_v2",
        prediction_type=prediction_type,
        clip_sample=True,
    )
    return PixelPunkPipeline(
        unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler
    )
