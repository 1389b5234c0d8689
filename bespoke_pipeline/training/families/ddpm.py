"""The DDPM loss that UNet families share (the embedded pixel model, SD 1.x, SDXL): uniform
timesteps, the target the base model's scheduler names (noise, or velocity as in SD 2.x and
the embedded model), optional noise offset, multires noise and min-SNR weighting."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from functools import partial

import torch
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from bespoke_pipeline.models.targets import denoising_target
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families.base import Batch, ModelFamily, to_device


def multires_noise(
    noise: torch.Tensor, iterations: int, discount: float, generator: torch.Generator
) -> torch.Tensor:
    """Pyramid noise as kohya's `pyramid_noise_like` makes it (`multires_noise_iterations`):
    level i adds noise drawn at 1 / r^i of the side (r between 2 and 4, drawn per level),
    upsampled bilinearly and weighted discount^i, from level 0 (a second full-resolution
    draw) until a side reaches one pixel; then the sum is rescaled to unit variance. Plain
    noise leaves an image's coarse structure (a background's colour, a head's shape)
    almost intact at most timesteps, so a model learns it slowly; coarse noise destroys it."""
    batch, channels, height, width = noise.shape
    for level in range(iterations):
        shrink = (2 + 2 * torch.rand((), generator=generator).item()) ** level
        size = (max(1, int(height / shrink)), max(1, int(width / shrink)))
        coarse = torch.randn((batch, channels, *size), generator=generator)
        upsampled = torch.nn.functional.interpolate(
            coarse, size=(height, width), mode="bilinear", align_corners=False
        )
        noise = noise + upsampled * discount**level
        if min(size) == 1:
            break
    return noise / noise.std()


def training_noise(
    shape: torch.Size, config: TrainingConfig, generator: torch.Generator
) -> torch.Tensor:
    """The noise a training step adds, in kohya's order: the per-channel offset first, then
    the pyramid, whose rescaling to unit variance covers the offset too."""
    noise = torch.randn(shape, generator=generator)
    if config.noise_offset:
        offset = torch.randn((*shape[:2], 1, 1), generator=generator)
        noise = noise + config.noise_offset * offset
    if config.multires_noise_iterations:
        noise = multires_noise(
            noise, config.multires_noise_iterations, config.multires_noise_discount, generator
        )
    return noise


def ddpm_loss(
    predict: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    clean: torch.Tensor,
    schedule: DDPMScheduler,
    generator: torch.Generator,
    config: TrainingConfig,
) -> torch.Tensor:
    """`predict(noisy, timesteps)` is the denoiser's output, read as the schedule's
    prediction type.

    Noise offset shifts each channel's noise by one constant, which lets the model learn
    flat regions (solid backgrounds); min-SNR caps the weight of low-noise timesteps
    (Hang et al. 2023), which otherwise dominate the loss.
    """
    device = clean.device
    noise = to_device(training_noise(clean.shape, config, generator), device)
    timesteps = to_device(
        torch.randint(
            0, schedule.config.num_train_timesteps, (clean.shape[0],), generator=generator
        ),
        device,
    )
    predicted = predict(schedule.add_noise(clean, noise, timesteps), timesteps)
    target = denoising_target(schedule, clean, noise, timesteps)
    per_sample = (predicted.float() - target).pow(2).flatten(1).mean(1)
    if config.snr_gamma is not None:
        snr = compute_snr(schedule, timesteps)
        # an error in the clean image weighs snr in the epsilon loss and snr + 1 in the v-loss
        velocity = schedule.config.prediction_type == "v_prediction"
        per_sample = per_sample * snr.clamp(max=config.snr_gamma) / (snr + 1 if velocity else snr)
    return per_sample.mean()


class DdpmFamily(ModelFamily):
    """A family trained with `ddpm_loss`: it says only how its denoiser is called."""

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
        predict = partial(self.predict, denoiser, batch)
        return ddpm_loss(predict, batch.latents, schedule, generator, config)

    @abstractmethod
    def predict(
        self, denoiser: torch.nn.Module, batch: Batch, noisy: torch.Tensor, timesteps: torch.Tensor
    ) -> torch.Tensor:
        """The denoiser's output for noisy latents, conditioned on the batch's prompts."""
