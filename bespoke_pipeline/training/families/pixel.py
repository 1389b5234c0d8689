"""The embedded 24x24 model: pixel-space diffusion, so images are their own latents and
there is nothing to upscale."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler
from PIL import Image

from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.exports import kohya_unet
from bespoke_pipeline.training.families.base import Batch, ModelFamily
from bespoke_pipeline.training.families.ddpm import ddpm_loss


class PixelFamily(ModelFamily):
    pipeline_class = PixelPunkPipeline
    denoiser_name = "unet"
    lora_layers_argument = "unet_lora_layers"

    def model_multiple(self, vae: None, denoiser: torch.nn.Module) -> int:
        return 1

    def encode_prompts(
        self, pipe: PixelPunkPipeline, prompts: list[str]
    ) -> dict[str, torch.Tensor]:
        ids, mask = pipe.tokenize(prompts)
        return {"context": pipe.encode(ids, mask), "mask": mask}

    def text_encoder(self, pipe: PixelPunkPipeline) -> torch.nn.Module:
        return pipe.text_encoder

    def tokenize_prompts(
        self, pipe: PixelPunkPipeline, prompts: list[str]
    ) -> dict[str, torch.Tensor]:
        ids, mask = pipe.tokenize(prompts)
        return {"ids": ids, "mask": mask}

    def encode_tokens(
        self, pipe: PixelPunkPipeline, tokens: dict[str, torch.Tensor]
    ) -> dict[str, torch.Tensor]:
        return {"context": pipe.encode(tokens["ids"], tokens["mask"]), "mask": tokens["mask"]}

    def encode_images(
        self, pipe: PixelPunkPipeline, pixels: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        return pixels, None

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
        def predict(noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
            return denoiser(
                noisy.to(denoiser.dtype),
                timesteps,
                batch.prompts["context"],
                encoder_attention_mask=batch.prompts["mask"],
            ).sample

        return ddpm_loss(predict, batch.latents, schedule, generator, config)

    def render(
        self,
        pipe: PixelPunkPipeline,
        prompts: list[str],
        steps: int,
        guidance_scale: float,
        generator: torch.Generator,
        side: int,
    ) -> list[Image.Image]:
        return pipe(
            prompts, num_inference_steps=steps, guidance_scale=guidance_scale, generator=generator
        )

    def export(
        self, lora_state: dict[str, torch.Tensor], alpha: float, denoiser: torch.nn.Module
    ) -> dict[str, torch.Tensor]:
        return kohya_unet(lora_state, alpha, stability_layers_per_block=None)
