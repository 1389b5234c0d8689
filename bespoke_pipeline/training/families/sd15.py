"""Stable Diffusion 1.x, the family of the artist's best LoRA (kohya, SD 1.5): a UNet
prompted by one CLIP text encoder, read in 75-token windows (`clip_windows`), on a DDPM
schedule (epsilon, or v-prediction for SD 2.x-style bases)."""

from __future__ import annotations

import torch
from diffusers import AutoencoderKL, StableDiffusionPipeline

from bespoke_pipeline.training.exports import kohya_unet
from bespoke_pipeline.training.families.base import Batch, vae_scale_factor
from bespoke_pipeline.training.families.clip_windows import encode_windows, window_ids
from bespoke_pipeline.training.families.ddpm import DdpmFamily


class Sd15Family(DdpmFamily):
    pipeline_class = StableDiffusionPipeline
    denoiser_name = "unet"
    lora_layers_argument = "unet_lora_layers"
    sample_settings = (25, 7.0)
    sampler_grid = ((5.0, 7.5), (20, 30))
    #: no safety checker, as kohya's sampler: a false positive turns a sample black, which
    #: would score as a failure of the LoRA
    skipped_components = {
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }

    def __init__(self, max_token_length: int = 225) -> None:
        self.max_token_length = max_token_length

    def model_multiple(self, vae: AutoencoderKL, denoiser: torch.nn.Module) -> int:
        """The VAE's downscale only: diffusers' UNet takes latents of any size, passing
        each up block the size its skip connection has (`forward_upsample_size`), so 256
        px trains at 264 (11 px cells), not at 192."""
        return vae_scale_factor(vae)

    def encode_prompts(
        self, pipe: StableDiffusionPipeline, prompts: list[str]
    ) -> dict[str, torch.Tensor]:
        ids = window_ids(pipe.tokenizer, prompts, self.max_token_length)
        embeds, _ = encode_windows(pipe.text_encoder, ids, "last")
        return {"embeds": embeds}

    text_encoder_names = {"text_encoder": "lora_te"}

    def predict(
        self, denoiser: torch.nn.Module, batch: Batch, noisy: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        return denoiser(noisy.to(denoiser.dtype), timesteps, batch.prompts["embeds"]).sample

    def export(
        self, lora_state: dict[str, torch.Tensor], alpha: float, denoiser: torch.nn.Module
    ) -> dict[str, torch.Tensor]:
        return kohya_unet(lora_state, alpha, stability_layers_per_block=None)
