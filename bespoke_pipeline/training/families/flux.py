"""FLUX.1-dev: a rectified-flow transformer over packed 2x2 latent patches, prompted by T5
(the sequence) and CLIP (the pooled vector), with FLUX-dev's guidance embedding. Training
follows the trainers artists use: noise levels drawn as `timestep_sampling` says (kohya's
names; the default, sigmoid, is ai-toolkit's and so the Replicate trainer's), the velocity
target noise - latents, and the guidance embedding fed a constant 3.5."""

from __future__ import annotations

import math

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline
from torch.nn.attention import SDPBackend

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.exports import comfy_flux
from bespoke_pipeline.training.families.base import (
    Batch,
    ModelFamily,
    to_device,
    vae_scale_factor,
)

#: The guidance value the FLUX-dev guidance embedding sees while training (the example's
#: default); sampling uses the evaluated guidance scale.
TRAINING_GUIDANCE = 3.5
#: T5 tokens per prompt: FLUX-dev's maximum, which the long coordinate captions need.
MAX_SEQUENCE_LENGTH = 512


class FluxFamily(ModelFamily):
    pipeline_class = FluxPipeline
    denoiser_name = "transformer"
    lora_layers_argument = "transformer_lora_layers"
    sample_settings = (24, 3.5)
    sampler_grid = ((3.5,), (20, 28))  # FLUX-dev's embedded guidance, its usual steps

    def model_multiple(self, vae: AutoencoderKL, denoiser: torch.nn.Module) -> int:
        return vae_scale_factor(vae) * 2  # latents are packed in 2x2 patches

    def encode_prompts(self, pipe: FluxPipeline, prompts: list[str]) -> dict[str, torch.Tensor]:
        embeds, pooled, _ = pipe.encode_prompt(
            prompts, prompt_2=None, device=pipe.device, max_sequence_length=_sequence_length(pipe)
        )
        return {"embeds": embeds, "pooled": pooled}

    def training_schedule(self, scheduler_config: dict) -> FlowMatchEulerDiscreteScheduler:
        return FlowMatchEulerDiscreteScheduler.from_config(scheduler_config)

    def loss(
        self,
        denoiser: torch.nn.Module,
        schedule: FlowMatchEulerDiscreteScheduler,
        batch: Batch,
        generator: torch.Generator,
        config: TrainingConfig,
    ) -> torch.Tensor:
        clean = batch.latents
        size, channels, height, width = clean.shape
        device, dtype = clean.device, denoiser.dtype
        noise = to_device(torch.randn(clean.shape, generator=generator), device)
        drawn = to_device(
            noise_levels(config, size, (height // 2) * (width // 2), generator), device
        )
        sigmas = drawn.view(size, 1, 1, 1)
        noisy = (1.0 - sigmas) * clean + sigmas * noise
        embeds = batch.prompts["embeds"]
        predicted = denoiser(
            hidden_states=FluxPipeline._pack_latents(noisy, size, channels, height, width).to(
                dtype
            ),
            timestep=drawn,  # FLUX takes t in [0, 1], which is sigma
            guidance=(
                torch.full((size,), TRAINING_GUIDANCE, device=device)
                if denoiser.config.guidance_embeds
                else None
            ),
            pooled_projections=batch.prompts["pooled"],
            encoder_hidden_states=embeds,
            txt_ids=torch.zeros(embeds.shape[1], 3, device=device, dtype=dtype),
            img_ids=FluxPipeline._prepare_latent_image_ids(
                size, height // 2, width // 2, device, dtype
            ),
            return_dict=False,
        )[0]
        predicted = FluxPipeline._unpack_latents(predicted, height, width, vae_scale_factor=1)
        return (predicted.float() - (noise - clean)).pow(2).mean()

    def negative_prompts(self, pipe: FluxPipeline, count: int) -> None:
        """None: FLUX-dev's guidance is an input of the transformer, not a second pass."""
        return None

    def export(
        self, lora_state: dict[str, torch.Tensor], alpha: float, denoiser: torch.nn.Module
    ) -> dict[str, torch.Tensor]:
        inner = denoiser.config.num_attention_heads * denoiser.config.attention_head_dim
        mlp = denoiser.single_transformer_blocks[0].proj_mlp.out_features
        return comfy_flux(
            lora_state,
            alpha,
            {
                "img_attn.qkv": [inner] * 3,
                "txt_attn.qkv": [inner] * 3,
                "linear1": [inner] * 3 + [mlp],
            },
        )

    def attention(self) -> tuple[str, list[SDPBackend] | None]:
        """cuDNN's attention backward fails on FLUX's 2,816-token joint sequence at 768 px
        ('illegal memory access', torch 2.11 on an H100); flash attention and the memory-
        efficient kernel do not, so training asks for those (math on a CPU)."""
        if not torch.cuda.is_available():
            return "PyTorch's default choice (no GPU)", None
        backends = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION]
        return "flash, else memory-efficient (cuDNN excluded)", backends


def noise_levels(
    config: TrainingConfig, size: int, tokens: int, generator: torch.Generator
) -> torch.Tensor:
    """`size` sigmas in (0, 1) as kohya's `timestep_sampling` draws them (`tokens`: the
    packed image's sequence length, which flux_shift's shift grows with, as FLUX.1-dev's
    sampler does: mu from 0.5 at 256 tokens to 1.15 at 4096)."""
    if config.timestep_sampling in ("uniform", "sigma"):
        t = torch.rand(size, generator=generator)
    else:
        t = torch.sigmoid(config.sigmoid_scale * torch.randn(size, generator=generator))
    if config.timestep_sampling in ("sigma", "shift"):
        shift = config.discrete_flow_shift
        return t * shift / (1 + (shift - 1) * t)
    if config.timestep_sampling == "flux_shift":
        mu = 0.5 + (1.15 - 0.5) * (tokens - 256) / (4096 - 256)
        return math.exp(mu) / (math.exp(mu) + (1 / t - 1))
    return t


def _sequence_length(pipe: FluxPipeline) -> int:
    return min(MAX_SEQUENCE_LENGTH, pipe.tokenizer_2.model_max_length)
