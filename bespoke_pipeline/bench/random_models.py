"""SD 1.5, SDXL and FLUX.1 models with random weights, built from architecture configs alone.

Two uses, neither of which may download anything: `bespoke bench gpu` times full-size
denoisers (the published architectures, random weights), and the tests train tiny models
of the same diffusers/transformers classes on a CPU. Tiny models get a word tokenizer
fitted to the caption vocabulary in place of CLIP's BPE and T5's sentencepiece files; for
CLIP it reads 77 tokens, as CLIP does, so long captions take several windows there too.
"""

from __future__ import annotations

from typing import Literal

from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    FlowMatchEulerDiscreteScheduler,
    FluxPipeline,
    FluxTransformer2DModel,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    T5Config,
    T5EncoderModel,
)

from bespoke_pipeline.models.pixel.architecture import caption_vocabulary_tokenizer

Size = Literal["full", "tiny"]

#: stabilityai/stable-diffusion-xl-base-1.0 unet/config.json, the fields that differ from
#: UNet2DConditionModel's defaults.
SDXL_UNET = {
    "sample_size": 128,
    "block_out_channels": (320, 640, 1280),
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    "transformer_layers_per_block": (1, 2, 10),
    "attention_head_dim": (5, 10, 20),
    "cross_attention_dim": 2048,
    "addition_embed_type": "text_time",
    "addition_time_embed_dim": 256,
    "projection_class_embeddings_input_dim": 2816,
    "use_linear_projection": True,
}
SDXL_TINY_UNET = {
    **SDXL_UNET,
    "sample_size": 24,
    "block_out_channels": (16, 32, 32),
    "layers_per_block": 1,
    "transformer_layers_per_block": (1, 1, 1),
    "attention_head_dim": (2, 4, 4),
    "norm_num_groups": 8,
    "cross_attention_dim": 64,  # two text encoders of 32
    "addition_time_embed_dim": 8,
    "projection_class_embeddings_input_dim": 6 * 8 + 32,  # time ids + pooled text
}
#: black-forest-labs/FLUX.1-dev transformer/config.json.
FLUX_TRANSFORMER = {
    "patch_size": 1,
    "in_channels": 64,
    "num_layers": 19,
    "num_single_layers": 38,
    "attention_head_dim": 128,
    "num_attention_heads": 24,
    "joint_attention_dim": 4096,
    "pooled_projection_dim": 768,
    "guidance_embeds": True,
    "axes_dims_rope": (16, 56, 56),
}
FLUX_TINY_TRANSFORMER = {
    **FLUX_TRANSFORMER,
    "in_channels": 16,  # 4 latent channels packed 2x2
    "num_layers": 1,
    "num_single_layers": 1,
    "attention_head_dim": 8,
    "num_attention_heads": 2,
    "joint_attention_dim": 32,
    "pooled_projection_dim": 32,
    "axes_dims_rope": (2, 2, 4),
}
#: The VAEs' published configs; tiny ones halve the side once.
SDXL_VAE = {
    "block_out_channels": (128, 256, 512, 512),
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "latent_channels": 4,
    "layers_per_block": 2,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
}
FLUX_VAE = {
    **SDXL_VAE,
    "latent_channels": 16,
    "scaling_factor": 0.3611,
    "shift_factor": 0.1159,
    "use_quant_conv": False,
    "use_post_quant_conv": False,
}
TINY_VAE = {
    "block_out_channels": (8, 16),
    "down_block_types": ("DownEncoderBlock2D",) * 2,
    "up_block_types": ("UpDecoderBlock2D",) * 2,
    "latent_channels": 4,
    "layers_per_block": 1,
    "norm_num_groups": 8,
    "sample_size": 48,
}
TINY_TEXT = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2}


def sdxl_unet(size: Size) -> UNet2DConditionModel:
    return UNet2DConditionModel(**(SDXL_UNET if size == "full" else SDXL_TINY_UNET))


def flux_transformer(size: Size) -> FluxTransformer2DModel:
    return FluxTransformer2DModel(**(FLUX_TRANSFORMER if size == "full" else FLUX_TINY_TRANSFORMER))


def vae(family: Literal["sdxl", "flux"], size: Size) -> AutoencoderKL:
    published = SDXL_VAE if family == "sdxl" else FLUX_VAE
    if size == "full":
        return AutoencoderKL(**published)
    scaling = {k: published[k] for k in ("scaling_factor", "shift_factor") if k in published}
    return AutoencoderKL(**TINY_VAE, **scaling)


#: CLIP's context: a begin token, 75 tokens, an end token.
CLIP_LENGTH = 77
SD15_TINY_UNET = {
    "sample_size": 24,
    "block_out_channels": (16, 32),
    "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
    "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    "layers_per_block": 1,
    "attention_head_dim": 4,
    "norm_num_groups": 8,
    "cross_attention_dim": 32,
}


def _clip_tokenizer():
    tokenizer = caption_vocabulary_tokenizer()
    tokenizer.model_max_length = CLIP_LENGTH
    return tokenizer


def _tiny_clip(tokenizer, projection: bool = False) -> CLIPTextModel:
    return _clip(tokenizer, {**TINY_TEXT, "num_attention_heads": 4}, 32 if projection else None)


def tiny_sd15_pipeline() -> StableDiffusionPipeline:
    """Every component of the SD 1.5 pipeline at toy size: one CLIP text encoder, a VAE,
    a UNet with cross-attention, an epsilon-prediction scheduler; no safety checker."""
    tokenizer = _clip_tokenizer()
    return _sd15(vae("sdxl", "tiny"), _tiny_clip(tokenizer), tokenizer, SD15_TINY_UNET)


def _sd15(
    autoencoder: AutoencoderKL, text_encoder, tokenizer, unet: dict
) -> StableDiffusionPipeline:
    return StableDiffusionPipeline(
        vae=autoencoder,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        unet=UNet2DConditionModel(**unet),
        scheduler=_sd_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )


def _sd_scheduler() -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear")


def tiny_sdxl_pipeline() -> StableDiffusionXLPipeline:
    """Every component of the SDXL pipeline at toy size: two text encoders (the second with
    a projection, as in SDXL), added time ids, a VAE, an epsilon-prediction scheduler."""
    tokenizer = _clip_tokenizer()
    encoders = (_tiny_clip(tokenizer), _tiny_clip(tokenizer, projection=True))
    return _sdxl(vae("sdxl", "tiny"), encoders, tokenizer, sdxl_unet("tiny"))


def _sdxl(autoencoder: AutoencoderKL, encoders, tokenizer, unet) -> StableDiffusionXLPipeline:
    return StableDiffusionXLPipeline(
        vae=autoencoder,
        text_encoder=encoders[0],
        text_encoder_2=encoders[1],
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=unet,
        scheduler=_sd_scheduler(),
    )


def tiny_flux_pipeline() -> FluxPipeline:
    """Every component of the FLUX.1-dev pipeline at toy size: CLIP for the pooled
    embedding, T5 for the sequence, guidance embedding, a flow-matching scheduler."""
    tokenizer = caption_vocabulary_tokenizer()
    clip_tokenizer = _clip_tokenizer()
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=len(tokenizer),
            d_model=32,
            d_kv=8,
            d_ff=64,
            num_layers=2,
            num_heads=4,
            pad_token_id=tokenizer.pad_token_id,
        )
    )
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae("flux", "tiny"),
        text_encoder=_tiny_clip(clip_tokenizer),
        tokenizer=clip_tokenizer,
        text_encoder_2=t5,
        tokenizer_2=tokenizer,
        transformer=flux_transformer("tiny"),
    )


#: runwayml/stable-diffusion-v1-5 unet/config.json, where it differs from the defaults.
SD15_UNET = {"sample_size": 64, "cross_attention_dim": 768}
#: Full-width text encoders of one layer each: the denoiser sees prompts of the published
#: widths, while building and storing the full encoders (T5-XXL alone is 4.7B parameters)
#: would cost the GPU check minutes it has no use for.
CLIP_L = {"hidden_size": 768, "intermediate_size": 3072, "num_attention_heads": 12}
CLIP_BIG_G = {"hidden_size": 1280, "intermediate_size": 5120, "num_attention_heads": 20}
T5_XXL = {"d_model": 4096, "d_ff": 10240, "d_kv": 64, "num_heads": 64}


def _one_layer_clip(tokenizer, width: dict, projection: int | None = None) -> CLIPTextModel:
    return _clip(tokenizer, {**width, "num_hidden_layers": 1}, projection)


def _clip(tokenizer, shape: dict, projection: int | None) -> CLIPTextModel:
    """A CLIP text encoder of `shape` reading `tokenizer`'s ids; with a projection (as
    SDXL's second encoder) when `projection` gives its width."""
    config = CLIPTextConfig(
        vocab_size=len(tokenizer),
        max_position_embeddings=tokenizer.model_max_length,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        projection_dim=projection or shape["hidden_size"],
        **shape,
    )
    return CLIPTextModelWithProjection(config) if projection else CLIPTextModel(config)


def random_pipeline(family: Literal["sd15", "sdxl", "flux"], size: Size):
    """The family's pipeline with random weights: tiny, or the published denoiser and VAE
    with full-width one-layer text encoders (see `CLIP_L`)."""
    if size == "tiny":
        return {"sd15": tiny_sd15_pipeline, "sdxl": tiny_sdxl_pipeline, "flux": tiny_flux_pipeline}[
            family
        ]()
    tokenizer = _clip_tokenizer()
    if family == "sd15":
        full_vae = AutoencoderKL(**{**SDXL_VAE, "scaling_factor": 0.18215})
        return _sd15(full_vae, _one_layer_clip(tokenizer, CLIP_L), tokenizer, SD15_UNET)
    if family == "sdxl":
        encoders = (
            _one_layer_clip(tokenizer, CLIP_L),
            _one_layer_clip(tokenizer, CLIP_BIG_G, projection=1280),
        )
        return _sdxl(vae("sdxl", "full"), encoders, tokenizer, sdxl_unet("full"))
    t5_tokenizer = caption_vocabulary_tokenizer()
    t5 = T5EncoderModel(
        T5Config(
            vocab_size=len(t5_tokenizer),
            num_layers=1,
            pad_token_id=t5_tokenizer.pad_token_id,
            **T5_XXL,
        )
    )
    return FluxPipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0),
        vae=vae("flux", "full"),
        text_encoder=_one_layer_clip(tokenizer, CLIP_L),
        tokenizer=tokenizer,
        text_encoder_2=t5,
        tokenizer_2=t5_tokenizer,
        transformer=flux_transformer("full"),
    )
