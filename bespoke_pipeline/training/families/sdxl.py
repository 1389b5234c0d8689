"""Stable Diffusion XL: UNet with two text encoders (the second gives the pooled embedding),
both read in 75-token windows (`clip_windows`), and SDXL's added time ids, on a DDPM
schedule (epsilon or v-prediction, as the model's scheduler says)."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, StableDiffusionXLPipeline

from bespoke_pipeline.training.exports import kohya_unet
from bespoke_pipeline.training.families.base import (
    Batch,
    vae_scale_factor,
)
from bespoke_pipeline.training.families.clip_windows import encode_windows, window_ids
from bespoke_pipeline.training.families.ddpm import DdpmFamily


def time_ids(side: int, batch: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """SDXL's size conditioning: original size, crop top-left, target size. Images are
    upscaled whole, never cropped, so the crop is (0, 0) and both sizes are the side."""
    return torch.tensor([[side, side, 0, 0, side, side]], device=device, dtype=dtype).repeat(
        batch, 1
    )


class SdxlFamily(DdpmFamily):
    pipeline_class = StableDiffusionXLPipeline
    denoiser_name = "unet"
    lora_layers_argument = "unet_lora_layers"
    text_encoder_names = {"text_encoder": "lora_te1", "text_encoder_2": "lora_te2"}
    sample_settings = (25, 6.0)
    sampler_grid = ((5.0, 7.5), (20, 30))

    def model_multiple(self, vae: AutoencoderKL, denoiser: torch.nn.Module) -> int:
        """The VAE's downscale only: diffusers' UNet takes latents of any size, passing
        each up block the size its skip connection has (`forward_upsample_size`), so 256
        px trains at 264 (11 px cells), not at 192."""
        return vae_scale_factor(vae)

    def __init__(self, max_token_length: int = 225) -> None:
        self.max_token_length = max_token_length

    def encode_prompts(
        self, pipe: StableDiffusionXLPipeline, prompts: list[str]
    ) -> dict[str, torch.Tensor]:
        """Both encoders' penultimate states side by side, as SDXL was trained."""
        first, _ = encode_windows(
            pipe.text_encoder,
            window_ids(pipe.tokenizer, prompts, self.max_token_length),
            "penultimate",
        )
        second, pooled = encode_windows(
            pipe.text_encoder_2,
            window_ids(pipe.tokenizer_2, prompts, self.max_token_length),
            "penultimate",
        )
        return {"embeds": torch.cat([first, second], dim=-1), "pooled": pooled}

    def negative_prompts(
        self, pipe: StableDiffusionXLPipeline, count: int
    ) -> dict[str, torch.Tensor]:
        """SDXL base guides against zeros, not the encoded empty prompt
        (`force_zeros_for_empty_prompt`), as its own pipeline does."""
        empty = self.encode_prompts(pipe, [""] * count)
        if pipe.config.force_zeros_for_empty_prompt:
            return {name: torch.zeros_like(tensor) for name, tensor in empty.items()}
        return empty

    def predict(
        self, denoiser: torch.nn.Module, batch: Batch, noisy: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        size = time_ids(batch.side, len(batch.latents), batch.latents.device, denoiser.dtype)
        return denoiser(
            noisy.to(denoiser.dtype),
            timesteps,
            batch.prompts["embeds"],
            added_cond_kwargs={"text_embeds": batch.prompts["pooled"], "time_ids": size},
        ).sample

    def export(
        self, lora_state: dict[str, torch.Tensor], alpha: float, denoiser: torch.nn.Module
    ) -> dict[str, torch.Tensor]:
        return kohya_unet(lora_state, alpha, denoiser.config.layers_per_block)
