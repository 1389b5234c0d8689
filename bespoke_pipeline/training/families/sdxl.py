"""Stable Diffusion XL: UNet with two text encoders (the second gives the pooled embedding)
and SDXL's added time ids, on a DDPM schedule (epsilon or v-prediction, as the model's
scheduler says)."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, DDPMScheduler, StableDiffusionXLPipeline

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.exports import kohya_unet
from bespoke_pipeline.training.families.base import (
    Batch,
    ModelFamily,
    vae_scale_factor,
)
from bespoke_pipeline.training.families.ddpm import ddpm_loss


def time_ids(side: int, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """SDXL's size conditioning: original size, crop top-left, target size. Images are
    upscaled whole, never cropped, so the crop is (0, 0) and both sizes are the side."""
    return torch.tensor([[side, side, 0, 0, side, side]], device=device, dtype=dtype).repeat(
        batch, 1
    )


class SdxlFamily(ModelFamily):
    pipeline_class = StableDiffusionXLPipeline
    denoiser_name = "unet"
    lora_layers_argument = "unet_lora_layers"

    def model_multiple(self, vae: AutoencoderKL, denoiser: torch.nn.Module) -> int:
        return vae_scale_factor(vae) * 2 ** (len(denoiser.config.block_out_channels) - 1)

    def encode_prompts(
        self, pipe: StableDiffusionXLPipeline, prompts: list[str]
    ) -> dict[str, torch.Tensor]:
        embeds, _, pooled, _ = pipe.encode_prompt(
            prompts, device=pipe.device, do_classifier_free_guidance=False
        )
        return {"embeds": embeds, "pooled": pooled}

    def training_schedule(self, scheduler_config: dict) -> DDPMScheduler:
        return DDPMScheduler.from_config(scheduler_config)

    def loss(
        self,
        denoiser: torch.nn.Module,
        schedule: DDPMScheduler,
        batch: Batch,
        generator: torch.Generator,
        config: TrainingConfig,
    ) -> torch.Tensor:
        size = time_ids(batch.side, len(batch.latents), batch.latents.device, denoiser.dtype)

        def predict(noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
            return denoiser(
                noisy.to(denoiser.dtype),
                timesteps,
                batch.prompts["embeds"],
                added_cond_kwargs={"text_embeds": batch.prompts["pooled"], "time_ids": size},
            ).sample

        return ddpm_loss(predict, batch.latents, schedule, generator, config)

    def export(
        self, lora_state: dict[str, torch.Tensor], alpha: float, denoiser: torch.nn.Module
    ) -> dict[str, torch.Tensor]:
        return kohya_unet(lora_state, alpha, denoiser.config.layers_per_block)
