"""The embedded 24x24 model: pixel-space diffusion, so images are their own latents and
there is nothing to upscale."""

from __future__ import annotations

import torch
from PIL import Image

from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.models.pixel.tokenizer import unknown_words
from bespoke_pipeline.training.exports import kohya_unet
from bespoke_pipeline.training.families.base import Batch, Conditioning, ModelFamily
from bespoke_pipeline.training.families.ddpm import DdpmFamily


class PixelFamily(DdpmFamily):
    pipeline_class = PixelPunkPipeline
    denoiser_name = "unet"
    lora_layers_argument = "unet_lora_layers"
    sample_settings = (20, 1.0)
    #: measured on base v6 (issue 12): guidance 1.5 ties with 1, 2 and 3 lose accessories and
    #: eye placement, 6 steps loses accessories and 20 or 30 gain nothing over 10
    sampler_grid = ((1.0,), (10,))

    def model_multiple(self, vae: None, denoiser: torch.nn.Module) -> int:
        return 1

    def encode_prompts(
        self, pipe: PixelPunkPipeline, prompts: list[str]
    ) -> dict[str, torch.Tensor]:
        context, mask = pipe.encode_prompts(prompts)
        return {"context": context, "mask": mask}

    #: and its token embeddings: the base model has never seen the trigger word
    text_encoder_modules = (*ModelFamily.text_encoder_modules, "token_embedding")

    text_encoder_names = {"text_encoder": "lora_te"}

    def new_words(self, pipe: PixelPunkPipeline, captions: list[str]) -> tuple[str, ...]:
        """The base's word-level tokenizer reads a word it never saw as [UNK]: each such
        word of the captions gets a token and an embedding row, which the text encoder's
        LoRA trains (`PixelPunkPipeline.use_words`)."""
        words = tuple(sorted(unknown_words(pipe.tokenizer, captions)))
        pipe.use_words(words)
        return words

    def export_text_encoders(
        self, lora_states: dict[str, dict[str, torch.Tensor]], alpha: float
    ) -> dict[str, torch.Tensor]:
        """Nothing: no other tool loads the embedded model, and kohya's layout has no place
        for its token-embedding LoRA; the diffusers file holds the text encoder's LoRA."""
        return {}

    def encode_images(
        self, pipe: PixelPunkPipeline, pixels: torch.Tensor
    ) -> tuple[torch.Tensor, None]:
        return pixels, None

    def predict(
        self, denoiser: torch.nn.Module, batch: Batch, noisy: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        return denoiser(
            noisy.to(denoiser.dtype),
            timesteps,
            batch.prompts["context"],
            encoder_attention_mask=batch.prompts["mask"],
        ).sample

    def draw(
        self,
        pipe: PixelPunkPipeline,
        conditioning: Conditioning,
        steps: int,
        guidance_scale: float,
        generator: torch.Generator,
        side: int,
    ) -> list[Image.Image]:
        """The pipeline returns its images as they are, at its one side."""
        return pipe(
            **self.pipeline_inputs(conditioning, side),
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=generator,
        )

    def pipeline_inputs(self, conditioning: Conditioning, side: int) -> dict[str, object]:
        negative = conditioning.negative
        return {
            "prompt_embeds": (conditioning.prompts["context"], conditioning.prompts["mask"]),
            "negative_prompt_embeds": negative and (negative["context"], negative["mask"]),
        }

    def export(
        self, lora_state: dict[str, torch.Tensor], alpha: float, denoiser: torch.nn.Module
    ) -> dict[str, torch.Tensor]:
        return kohya_unet(lora_state, alpha, stability_layers_per_block=None)
