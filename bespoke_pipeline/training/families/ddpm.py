"""The DDPM loss that UNet families share (the embedded pixel model and SDXL): uniform
timesteps, the target the base model's scheduler names (noise, or velocity as in SD 2.x and
the embedded model), optional noise offset and min-SNR weighting."""

from __future__ import annotations

from collections.abc import Callable

import torch
from diffusers import DDPMScheduler
from diffusers.training_utils import compute_snr

from bespoke_pipeline.models.targets import denoising_target
from bespoke_pipeline.training.config import TrainingConfig


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
    batch, channels = clean.shape[:2]
    device = clean.device
    noise = torch.randn(clean.shape, generator=generator).to(device)
    if config.noise_offset:
        offset = torch.randn((batch, channels, 1, 1), generator=generator).to(device)
        noise = noise + config.noise_offset * offset
    timesteps = torch.randint(
        0, schedule.config.num_train_timesteps, (batch,), generator=generator
    ).to(device)
    predicted = predict(schedule.add_noise(clean, noise, timesteps), timesteps)
    target = denoising_target(schedule, clean, noise, timesteps)
    per_sample = (predicted.float() - target).pow(2).flatten(1).mean(1)
    if config.snr_gamma is not None:
        snr = compute_snr(schedule, timesteps)
        # an error in the clean image weighs snr in the epsilon loss and snr + 1 in the v-loss
        velocity = schedule.config.prediction_type == "v_prediction"
        per_sample = per_sample * snr.clamp(max=config.snr_gamma) / (snr + 1 if velocity else snr)
    return per_sample.mean()
