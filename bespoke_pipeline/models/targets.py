"""What a DDPM-scheduled denoiser learns to output, as its scheduler says: shared by the
embedded model's pretraining and the UNet LoRA trainers."""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler


def denoising_target(
    schedule: DDPMScheduler, clean: torch.Tensor, noise: torch.Tensor, timesteps: torch.Tensor
) -> torch.Tensor:
    """The noise (epsilon), or the velocity for v-prediction models (SD 2.x, the embedded
    base), whose high-noise target is the clean image itself."""
    if schedule.config.prediction_type == "v_prediction":
        return schedule.get_velocity(clean, noise, timesteps)
    return noise
