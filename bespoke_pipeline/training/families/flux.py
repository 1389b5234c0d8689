"""FLUX.1-dev: a rectified-flow transformer over packed 2x2 latent patches, prompted by T5
(the sequence) and CLIP (the pooled vector), with FLUX-dev's guidance embedding. Training
follows the diffusers FLUX LoRA example: sigmas drawn uniformly from the shifted schedule,
the velocity target noise - latents, and the guidance embedding fed a constant 3.5."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, FlowMatchEulerDiscreteScheduler, FluxPipeline
from diffusers.training_utils import compute_density_for_timestep_sampling
from torch.nn.attention import SDPBackend

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.exports import comfy_flux
from bespoke_pipeline.training.families.base import (
    Batch,
    ModelFamily,
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
        noise = torch.randn(clean.shape, generator=generator).to(device)
        u = compute_density_for_timestep_sampling("none", size, generator=generator)
        index = (u * schedule.config.num_train_timesteps).long()
        sigmas = schedule.sigmas[index].to(device).view(size, 1, 1, 1)
        noisy = (1.0 - sigmas) * clean + sigmas * noise
        embeds = batch.prompts["embeds"]
        predicted = denoiser(
            hidden_states=FluxPipeline._pack_latents(noisy, size, channels, height, width).to(
                dtype
            ),
            timestep=schedule.timesteps[index].to(device) / schedule.config.num_train_timesteps,
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


def _sequence_length(pipe: FluxPipeline) -> int:
    return min(MAX_SEQUENCE_LENGTH, pipe.tokenizer_2.model_max_length)
