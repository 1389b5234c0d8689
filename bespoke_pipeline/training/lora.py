"""The LoRA training loop for UNet-based models (the embedded pixel model today; SD-family
UNets share it): epsilon-prediction loss on a DDPM noise schedule, peft adapters on the
config's target modules, caption dropout, warmup schedules, gradient clipping, seeded
determinism, per-epoch checkpoints and exact resume.

No augmentation at all: a horizontal flip would teach left-facing portraits, and the
bespoke style is right-facing.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.optimization import get_scheduler
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from PIL import Image
from safetensors.torch import load_file
from tqdm import tqdm

from bespoke_pipeline import __version__
from bespoke_pipeline.pixelart.contact_sheet import contact_sheet
from bespoke_pipeline.training.base_model import REFERENCE_PROMPTS
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    STATE_FILE,
    completed_epochs,
    epoch_dir,
    save_checkpoint,
)
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.pipeline import PixelPunkPipeline, to_tensor

SAMPLE_SEED = 1234
SAMPLE_STEPS = 20


@dataclass(frozen=True)
class Progress:
    epoch: int
    epochs: int
    step: int
    total_steps: int
    loss: float
    learning_rate: float
    seconds_left: float


@dataclass(frozen=True)
class EpochResult:
    epoch: int
    step: int
    mean_loss: float
    checkpoint: Path
    samples: Image.Image | None


def sample_prompts(trigger_word: str) -> dict[str, str]:
    """The user's three reference test prompts, with the config's trigger word."""
    return {
        name: prompt.replace("TOK", trigger_word, 1) for name, prompt in REFERENCE_PROMPTS.items()
    }


def render_samples(pipe: PixelPunkPipeline, prompts: dict[str, str]) -> Image.Image:
    """One row: each reference prompt at a fixed seed, so epochs compare like for like."""
    generator = torch.Generator().manual_seed(SAMPLE_SEED)
    images = pipe(list(prompts.values()), num_inference_steps=SAMPLE_STEPS, generator=generator)
    return contact_sheet(images, columns=len(images), scale=4)


def base_model_sha256(config: TrainingConfig) -> str:
    """Identity of the base weights a LoRA was trained against."""
    base = config.base_model_path()
    if base is None:
        raise FileNotFoundError(f"base model folder '{config.base_model}' does not exist")
    return hashlib.sha256(
        (base / "unet" / "diffusion_pytorch_model.safetensors").read_bytes()
    ).hexdigest()


def run_key(config: TrainingConfig, data: TrainingData) -> str:
    """Same config, data and base weights: same run folder, so nothing is retrained."""
    return f"{config.digest()}-{data.sha256[:12]}-{base_model_sha256(config)[:12]}"


class LoraTrainer:
    def __init__(
        self, config: TrainingConfig, config_name: str, data: TrainingData, run_dir: Path
    ) -> None:
        self.config = config
        self.config_name = config_name
        self.data = data
        self.run_dir = run_dir
        self.device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.base_sha256 = base_model_sha256(config)
        self.pipe = PixelPunkPipeline.from_pretrained(config.base_model_path()).to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        self.pipe.unet.requires_grad_(False)
        self.pipe.text_encoder.requires_grad_(False)
        torch.manual_seed(config.seed)  # LoRA init draws from the global generator
        self.pipe.unet.add_adapter(
            LoraConfig(
                r=config.lora_rank,
                lora_alpha=config.lora_alpha,
                lora_dropout=config.lora_dropout,
                target_modules=list(config.target_modules),
                init_lora_weights="gaussian",
            )
        )
        self.params = [p for p in self.pipe.unet.parameters() if p.requires_grad]
        self.epochs = config.epochs_for(len(data.captions))
        self.steps_per_epoch = -(-len(data.captions) // config.batch_size)
        self.optimizer = _optimizer(config, self.params, self.device)
        self.lr_scheduler = get_scheduler(
            config.lr_scheduler,
            self.optimizer,
            num_warmup_steps=config.lr_warmup_steps,
            num_training_steps=self.epochs * self.steps_per_epoch,
        )
        self.noise_schedule = DDPMScheduler.from_config(self.pipe.scheduler.config)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.images = to_tensor(data.images)
        self.context, self.mask = self._encode_captions(data.captions)

    @torch.no_grad()
    def _encode_captions(self, captions: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Text embeddings once for the whole run (the encoder is frozen); the last row is
        the empty caption used for caption dropout."""
        ids, mask = self.pipe.tokenize([*captions, ""])
        return self.pipe.encode(ids, mask), mask

    def train(
        self,
        on_progress: Callable[[Progress], None] = lambda p: None,
        on_epoch: Callable[[EpochResult], None] = lambda r: None,
    ) -> list[EpochResult]:
        """Resumes from the last complete checkpoint in `run_dir`; a finished run returns at
        once. Returns the result of every epoch trained in this call."""
        done = completed_epochs(self.run_dir)
        start = done[-1] + 1 if done else 1
        if done:
            self._resume(epoch_dir(self.run_dir, done[-1]))
        results = []
        started = time.monotonic()
        bar = tqdm(
            total=(self.epochs - start + 1) * self.steps_per_epoch,
            desc=f"lora {self.config_name}",
            unit="step",
            leave=False,
        )
        for epoch in range(start, self.epochs + 1):
            losses = self._train_epoch(epoch, bar, started, on_progress)
            results.append(self._finish_epoch(epoch, float(np.mean(losses))))
            on_epoch(results[-1])
        bar.close()
        return results

    def _train_epoch(
        self, epoch: int, bar: tqdm, started: float, on_progress: Callable[[Progress], None]
    ) -> list[float]:
        self.pipe.unet.train()
        cfg = self.config
        order = torch.randperm(len(self.data.captions), generator=self.generator)
        losses = []
        for batch in order.split(cfg.batch_size):
            drop = torch.rand(len(batch), generator=self.generator) < cfg.caption_dropout_rate
            rows = torch.where(drop, len(self.data.captions), batch)
            clean = self.images[batch].to(self.device)
            noise = torch.randn(clean.shape, generator=self.generator).to(self.device)
            t = torch.randint(
                0,
                self.noise_schedule.config.num_train_timesteps,
                (len(batch),),
                generator=self.generator,
            ).to(self.device)
            noisy = self.noise_schedule.add_noise(clean, noise, t)
            with torch.autocast(
                self.device.type,
                dtype=_autocast_dtype(cfg),
                enabled=self.device.type == "cuda" and cfg.mixed_precision != "no",
            ):
                predicted = self.pipe.unet(
                    noisy,
                    t,
                    self.context[rows].to(self.device),
                    encoder_attention_mask=self.mask[rows],
                ).sample
            loss = F.mse_loss(predicted.float(), noise)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm)
            self.optimizer.step()
            self.lr_scheduler.step()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(epoch=epoch, loss=f"{loss.item():.4f}")
            done = bar.n
            rate = (time.monotonic() - started) / max(done, 1)
            on_progress(
                Progress(
                    epoch,
                    self.epochs,
                    self.lr_scheduler.last_epoch,
                    self.epochs * self.steps_per_epoch,
                    loss.item(),
                    self.lr_scheduler.get_last_lr()[0],
                    rate * (bar.total - done),
                )
            )
        return losses

    def _finish_epoch(self, epoch: int, mean_loss: float) -> EpochResult:
        step = epoch * self.steps_per_epoch
        samples = None
        if epoch % self.config.validation_epochs == 0 or epoch == self.epochs:
            self.pipe.unet.eval()
            samples = render_samples(self.pipe, sample_prompts(self.config.trigger_word))
        folder = epoch_dir(self.run_dir, epoch)
        if epoch % self.config.save_every_n_epochs == 0 or epoch == self.epochs:
            folder = save_checkpoint(
                self.run_dir,
                epoch,
                get_peft_model_state_dict(self.pipe.unet),
                self.config.lora_alpha,
                self._training_state(),
                {
                    "config_name": self.config_name,
                    "config": self.config.model_dump(mode="json"),
                    "epoch": epoch,
                    "step": step,
                    "mean_loss": mean_loss,
                    "base_model": self.config.base_model,
                    "base_model_sha256": self.base_sha256,
                    "dataset_sha256": self.data.sha256,
                    "code_version": __version__,
                },
            )
        return EpochResult(epoch, step, mean_loss, folder, samples)

    def _training_state(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }

    def _resume(self, folder: Path) -> None:
        weights = load_file(folder / DIFFUSERS_FILE)
        set_peft_model_state_dict(
            self.pipe.unet, {k.removeprefix("unet."): v.to(self.device) for k, v in weights.items()}
        )
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=False)
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])


def _autocast_dtype(config: TrainingConfig) -> torch.dtype:
    return torch.float16 if config.mixed_precision == "fp16" else torch.bfloat16


def _optimizer(
    config: TrainingConfig, params: list[torch.nn.Parameter], device: torch.device
) -> torch.optim.Optimizer:
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.learning_rate)
    if device.type != "cuda":
        raise ValueError(
            "optimizer adamw8bit needs a CUDA GPU (bitsandbytes); "
            "use optimizer: adamw on this machine"
        )
    try:
        import bitsandbytes as bnb
    except ImportError as error:
        raise ValueError(
            "optimizer adamw8bit needs the bitsandbytes package: pip install bitsandbytes"
        ) from error
    return bnb.optim.AdamW8bit(params, lr=config.learning_rate)
