"""The text-to-image pipeline of the embedded base model: pixel-space diffusion at native
24x24, so no VAE and no resampling ever touch the pixels."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from diffusers import DiffusionPipeline, SchedulerMixin, UNet2DConditionModel
from diffusers.loaders import StableDiffusionLoraLoaderMixin
from PIL import Image
from transformers import CLIPTextModel, PreTrainedTokenizerFast

from bespoke_pipeline.models.pixel.tokenizer import with_words


class PixelPunkPipeline(DiffusionPipeline, StableDiffusionLoraLoaderMixin):
    """`PixelPunkPipeline.from_pretrained(path)` loads a saved base model (plus any LoRA via
    `load_lora_weights`) and `pipe(prompts)` returns 24x24 RGB images."""

    def __init__(
        self,
        unet: UNet2DConditionModel,
        text_encoder: CLIPTextModel,
        tokenizer: PreTrainedTokenizerFast,
        scheduler: SchedulerMixin,
    ) -> None:
        super().__init__()
        self.register_modules(
            unet=unet, text_encoder=text_encoder, tokenizer=tokenizer, scheduler=scheduler
        )
        self.base_vocabulary_size = len(tokenizer)
        self.added_words: tuple[str, ...] = ()

    def use_words(self, words: Sequence[str]) -> None:
        """The base vocabulary and then `words`, each with a row of its own in the token
        embedding, started at the mean of the base's rows (the words of an earlier call
        dropped). A word the base has no token for would read as [UNK], its meaning lost;
        with a row, a LoRA on the embedding learns what it means, as textual inversion
        does, and a checkpoint lists its words so that loading it makes the same rows."""
        size = self.base_vocabulary_size
        if tuple(words) == self.added_words:  # as loaded: scoring loads each epoch in turn
            return
        self.added_words = tuple(words)
        self.tokenizer = with_words(self.tokenizer, size, words)
        old = self.text_encoder.get_input_embeddings()
        rows = old.weight.data[:size]
        grown = torch.nn.Embedding(size + len(words), rows.shape[1])
        grown.to(device=rows.device, dtype=rows.dtype)
        grown.weight.data[:size] = rows
        grown.weight.data[size:] = rows.mean(dim=0)
        grown.requires_grad_(old.weight.requires_grad)  # frozen as the base: a LoRA trains it
        self.text_encoder.set_input_embeddings(grown)
        self.text_encoder.config.vocab_size = size + len(words)

    def tokenize(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        batch = self.tokenizer(prompts, padding="longest", truncation=True, return_tensors="pt")
        return batch.input_ids.to(self.device), batch.attention_mask.to(self.device)

    def encode(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.text_encoder(input_ids, attention_mask=attention_mask).last_hidden_state

    def encode_prompts(self, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """The text encoder's states, and the mask that says which of them are words."""
        ids, mask = self.tokenize(prompts)
        return self.encode(ids, mask), mask

    @torch.no_grad()
    def __call__(
        self,
        prompts: list[str] | None = None,
        num_inference_steps: int = 20,
        guidance_scale: float = 1.0,
        generator: torch.Generator | None = None,
        prompt_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
        negative_prompt_embeds: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> list[Image.Image]:
        """Guidance 1 by default (no second UNet pass); the evaluation measures which
        guidance and step count suit each checkpoint and `bespoke generate` uses those.
        `prompt_embeds` (context, attention mask) stand in for prompts, as in diffusers."""
        context, mask = prompt_embeds or self.encode_prompts(list(prompts))
        if guidance_scale != 1.0:
            uncond, empty_mask = negative_prompt_embeds or self.encode_prompts([""] * len(mask))
        size = self.unet.config.sample_size
        sample = torch.randn(
            (len(context), self.unet.config.in_channels, size, size),
            generator=generator,
            device="cpu",
        ).to(self.device, self.unet.dtype)
        self.scheduler.set_timesteps(num_inference_steps)
        for t in self.scheduler.timesteps:
            noise = self.unet(sample, t, context, encoder_attention_mask=mask).sample
            if guidance_scale != 1.0:
                free = self.unet(sample, t, uncond, encoder_attention_mask=empty_mask).sample
                noise = free + guidance_scale * (noise - free)
            sample = self.scheduler.step(noise, t, sample).prev_sample
        pixels = ((sample.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)
        return [Image.fromarray(a) for a in pixels.permute(0, 2, 3, 1).cpu().numpy()]


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, H, W, 3) -> float (N, 3, H, W) in [-1, 1], the range the model works in."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
