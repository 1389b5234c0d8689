import pytest
import torch
from diffusers import DDPMScheduler

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families.ddpm import ddpm_loss


def oracle(kind: str, clean: torch.Tensor, schedule: DDPMScheduler, seed: int):
    """A denoiser that knows the clean image and the noise the loss will draw."""
    noise = torch.randn(clean.shape, generator=torch.Generator().manual_seed(seed))

    def predict(noisy: torch.Tensor, timesteps: torch.Tensor) -> torch.Tensor:
        if kind == "noise":
            return noise
        return schedule.get_velocity(clean, noise, timesteps)

    return predict


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
@pytest.mark.parametrize("snr_gamma", [None, 5.0])
def test_the_loss_asks_for_what_the_schedule_predicts(prediction, snr_gamma):
    schedule = DDPMScheduler(num_train_timesteps=1000, prediction_type=prediction)
    clean = torch.rand(4, 3, 8, 8) * 2 - 1
    config = TrainingConfig(family="pixel", base_model="tiny", steps=1, snr_gamma=snr_gamma)
    right = "noise" if prediction == "epsilon" else "velocity"
    wrong = "velocity" if prediction == "epsilon" else "noise"

    def loss(kind: str) -> float:
        generator = torch.Generator().manual_seed(7)
        return float(
            ddpm_loss(oracle(kind, clean, schedule, 7), clean, schedule, generator, config)
        )

    assert loss(right) == pytest.approx(0.0, abs=1e-10)
    assert loss(wrong) > 1e-3
