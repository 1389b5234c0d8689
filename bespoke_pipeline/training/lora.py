"""The LoRA training loop, one for every model family (the embedded pixel model, SDXL,
FLUX): peft adapters on the config's target modules of the denoiser, training data encoded
once (`latent_cache`), caption dropout, warmup schedules, gradient clipping, seeded
determinism, per-epoch checkpoints and exact resume. What differs per family (loss,
conditioning, sampling, export layout) is in `families/`.

No augmentation at all: a horizontal flip would teach left-facing portraits, and the
bespoke style is right-facing. Nor any crop: images are upscaled whole (`resolution`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from diffusers import DiffusionPipeline
from peft.utils import get_peft_model_state_dict, set_peft_model_state_dict
from PIL import Image
from safetensors.torch import load_file
from tqdm import tqdm

from bespoke_pipeline import __version__
from bespoke_pipeline.pixelart.caption import REFERENCE_PROMPTS
from bespoke_pipeline.pixelart.contact_sheet import contact_sheet
from bespoke_pipeline.pixelart.layout import SIZE
from bespoke_pipeline.training.base_weights import (
    base_model_source,
    denoiser_sha256,
    encoders_identity,
)
from bespoke_pipeline.training.checkpoint_weights import save_checkpoint
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    STATE_FILE,
    epoch_dir,
    resume_point,
)
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData, shuffled_caption
from bespoke_pipeline.training.families import family_for
from bespoke_pipeline.training.families.base import (
    Batch,
    Conditioning,
    ModelFamily,
    placement,
    to_device,
)
from bespoke_pipeline.training.kohya_metadata import build_kohya_metadata
from bespoke_pipeline.training.latent_cache import cache_key, encoded_data
from bespoke_pipeline.training.resolution import sample_side
from bespoke_pipeline.training.step import TrainingStep

SAMPLE_SEED = 1234
#: Losses are read back from the GPU once per this many steps, not after every step.
PROGRESS_EVERY = 10
#: Sample tiles are shown at 4x the 24x24 grid, whatever side the model drew at.
PREVIEW_SIDE = 4 * SIZE


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
    checkpoint: Path | None  # None: not an epoch to save (`save_every_n_epochs`)
    samples: Image.Image | None


def sample_prompts(trigger_word: str) -> dict[str, str]:
    """The user's three reference test prompts, with the config's trigger word."""
    return {
        name: prompt.replace("TOK", trigger_word, 1) for name, prompt in REFERENCE_PROMPTS.items()
    }


def render_samples(
    family: ModelFamily, pipe: DiffusionPipeline, conditioning: Conditioning, side: int
) -> Image.Image:
    """One row: each reference prompt at a fixed seed and the family's usual sampler
    settings, so epochs compare like for like."""
    generator = torch.Generator().manual_seed(SAMPLE_SEED)
    steps, guidance = family.sample_settings
    images = family.draw(pipe, conditioning, steps, guidance, generator, side)
    tiles = [i.resize((PREVIEW_SIDE, PREVIEW_SIDE), Image.Resampling.NEAREST) for i in images]
    return contact_sheet(tiles, columns=len(tiles), scale=PREVIEW_SIDE // SIZE)


def run_key(config: TrainingConfig, data: TrainingData, base_sha256: str) -> str:
    """Same config, data and base weights: same run folder, so nothing is retrained."""
    return f"{config.digest()}-{data.sha256[:12]}-{base_sha256[:12]}"


class LoraTrainer:
    def __init__(
        self,
        config: TrainingConfig,
        config_name: str,
        data: TrainingData,
        runs_dir: Path,
        cache_dir: Path | None = None,
        log: Callable[[str], None] = print,
    ) -> None:
        """Trains into `runs_dir / run_key(...)`; `cache_dir` holds encoded data when the
        config caches latents to disk."""
        self.config = config
        self.log = log
        self.config_name = config_name
        self.data = data
        self.family = family_for(config)
        base = base_model_source(config)
        self.base_sha256 = denoiser_sha256(base)
        self.run_dir = runs_dir / run_key(config, data, self.base_sha256)
        self.device, self.dtype = placement(config)
        self.pipe = self.family.load(base, self.device, self.dtype, config.base_model_config)
        for component in self.pipe.components.values():
            if isinstance(component, torch.nn.Module):
                component.requires_grad_(False)
        self.new_words = self.family.new_words(self.pipe, data.captions)
        if self.new_words:
            log(
                f"{len(self.new_words)} caption words are new to the base model and get "
                f"token rows of their own ({', '.join(self.new_words[:12])}"
                f"{', ...' if len(self.new_words) > 12 else ''}): "
                + (
                    "the text encoder's LoRA trains them"
                    if config.text_encoder_lr
                    else "untrained, as text_encoder_lr is not set; set it to teach them"
                )
            )
        self.denoiser = self.family.denoiser(self.pipe)
        self.text_encoders = self.family.text_encoders(self.pipe) if config.text_encoder_lr else {}
        # a trained text encoder or shuffled captions: prompts are encoded every step
        self.encode_each_step = bool(self.text_encoders) or config.shuffle_caption
        self.sides = self.family.sides(self.pipe, config.resolution)
        self.sample_side = sample_side(self.sides)
        for side in self.sides:
            if side.explanation():
                log(side.explanation())
        self.steps_per_epoch = len(self.sides) * -(-len(data.captions) // config.batch_size)
        self.epochs = config.epochs_for(self.steps_per_epoch)
        #: `steps` exactly, as ai-toolkit trains them: the last epoch stops part way rather
        #: than stretching the run (and its schedule) to whole epochs
        self.total_steps = config.steps or self.epochs * self.steps_per_epoch
        self.step = TrainingStep(
            self.family,
            self.denoiser,
            self.family.training_schedule(self.pipe.scheduler.config),
            config,
            self.total_steps,
            self.device,
            list(self.text_encoders.values()),
        )
        # a module the export layout can't hold fails now, not after the first epoch
        lora_state = get_peft_model_state_dict(self.denoiser)
        self.family.export(lora_state, config.lora_alpha, self.denoiser)
        key = cache_key(
            self.family,
            self.base_sha256,
            encoders_identity(base, config.base_model_config),
            self.dtype,
            data,
            self.sides,
            None if self.encode_each_step else config.max_token_length,
        )
        disk = cache_dir if config.cache_latents_to_disk else None
        encoded, self.cache_source = encoded_data(
            self.family, self.pipe, data, self.sides, key, disk, not self.encode_each_step
        )
        self.encoded = encoded.to(self.device)
        self.sample_texts = list(sample_prompts(config.trigger_word).values())
        self.sample_conditioning = None  # encoded at each epoch's samples while the encoder trains
        if not self.text_encoders:
            self.sample_conditioning = self._sample_conditioning()
        if not self.encode_each_step:
            self.family.offload_text_encoders(self.pipe)
        self.generator = torch.Generator().manual_seed(config.seed)
        self.started_at = time.time()
        log(self.summary())

    def _sample_conditioning(self) -> Conditioning:
        return self.family.sampling_conditioning(
            self.pipe, self.sample_texts, self.family.sample_settings[1]
        )

    def summary(self) -> str:
        """What this run will do, before the first step (diffusers' "running training")."""
        text = "text encoder trained" if self.text_encoders else "text encoder frozen"
        if self.config.shuffle_caption:
            text += f", captions shuffled (first {self.config.keep_tokens} parts kept)"
        sides = "/".join(str(s.side) for s in self.sides)
        return (
            f"training {self.config_name}: {len(self.data.captions)} images at {sides} px, "
            f"batch {self.config.batch_size}, {self.steps_per_epoch} batches per epoch, "
            f"{self.epochs} epochs, {self.total_steps} steps, {text}, "
            f"encodings {self.cache_source}"
        )

    def train(
        self,
        on_progress: Callable[[Progress], None] = lambda p: None,
        on_epoch: Callable[[EpochResult], None] = lambda r: None,
    ) -> list[EpochResult]:
        """Resumes from the last sound checkpoint in `run_dir` (a damaged one is named and
        trained again); a finished run returns at once. Returns the result of every epoch
        trained in this call."""
        resumed = resume_point(self.run_dir, self.log)
        start = resumed + 1
        if resumed:
            self._resume(epoch_dir(self.run_dir, resumed))
        results = []
        started = time.monotonic()
        bar = tqdm(
            total=self.total_steps - (start - 1) * self.steps_per_epoch,
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

    def _batches(self) -> list[tuple[int, torch.Tensor]]:
        """(side, image rows) per step: a shuffled pass over the images at every side,
        each batch at one side, the sides interleaved at random."""
        count, size = len(self.data.captions), self.config.batch_size
        batches = [
            (side.side, rows)
            for side in self.sides
            for rows in torch.randperm(count, generator=self.generator).split(size)
        ]
        if len(self.sides) > 1:
            batches = [batches[i] for i in torch.randperm(len(batches), generator=self.generator)]
        return batches

    def batch(self, side: int, rows: torch.Tensor) -> Batch:
        """The cached tensors of `rows` at `side`, with caption dropout applied."""
        drop = torch.rand(len(rows), generator=self.generator) < self.config.caption_dropout_rate
        mean, std = self.encoded.latents[side]
        rows_here = to_device(rows, self.device)
        latents = mean[rows_here]
        if std is not None:  # a fresh draw from each image's latent distribution
            draw = to_device(torch.randn(latents.shape, generator=self.generator), self.device)
            latents = latents + std[rows_here] * draw
        if self.encode_each_step:
            return Batch(latents, self._encode_now(rows, drop), side)
        prompt_rows = to_device(
            torch.where(drop, self.encoded.empty_caption_row, rows), self.device
        )
        return Batch(latents, {n: t[prompt_rows] for n, t in self.encoded.prompts.items()}, side)

    def _encode_now(self, rows: torch.Tensor, drop: torch.Tensor) -> dict[str, torch.Tensor]:
        """The captions of `rows`, shuffled if the config says so, through the text encoder:
        with gradients when it trains."""
        texts = []
        for row, dropped in zip(rows.tolist(), drop.tolist(), strict=True):
            caption = "" if dropped else self.data.captions[row]
            if caption and self.config.shuffle_caption:
                caption = shuffled_caption(caption, self.config.keep_tokens, self.generator)
            texts.append(caption)
        with torch.set_grad_enabled(bool(self.text_encoders)):
            return self.family.encode_prompts(self.pipe, texts)

    def _train_epoch(
        self, epoch: int, bar: tqdm, started: float, on_progress: Callable[[Progress], None]
    ) -> list[float]:
        for model in (self.denoiser, *self.text_encoders.values()):
            model.train()
        left = self.total_steps - (epoch - 1) * self.steps_per_epoch
        batches = self._batches()[:left]  # drawn whole, so the random stream stays the same
        losses: list[float] = []
        pending: list[tuple[torch.Tensor, int, float]] = []  # loss on the device, step, lr
        for index, (side, rows) in enumerate(batches):
            loss = self.step(self.batch(side, rows), self.generator)
            scheduler = self.step.lr_scheduler
            pending.append((loss, scheduler.last_epoch, scheduler.get_last_lr()[0]))
            if len(pending) < PROGRESS_EVERY and index < len(batches) - 1:
                continue
            values = torch.stack([p[0] for p in pending]).tolist()  # one sync per block
            for value, (_, step, _) in zip(values, pending, strict=True):
                if not np.isfinite(value):
                    raise FloatingPointError(
                        f"the loss became {value} at step {step}: training diverged. Lower "
                        f"learning_rate ({self.config.learning_rate}) or raise lr_warmup_steps; "
                        "no checkpoint of this epoch was written"
                    )
            for value, (_, step, learning_rate) in zip(values, pending, strict=True):
                losses.append(value)
                bar.update(1)
                rate = (time.monotonic() - started) / max(bar.n, 1)
                on_progress(
                    Progress(
                        epoch,
                        self.epochs,
                        step,
                        self.total_steps,
                        value,
                        learning_rate,
                        rate * (bar.total - bar.n),
                    )
                )
            bar.set_postfix(epoch=epoch, loss=f"{values[-1]:.4f}")
            pending.clear()
        return losses

    def _finish_epoch(self, epoch: int, mean_loss: float) -> EpochResult:
        step = min(epoch * self.steps_per_epoch, self.total_steps)
        samples = None
        if epoch % self.config.validation_epochs == 0 or epoch == self.epochs:
            for model in (self.denoiser, *self.text_encoders.values()):
                model.eval()
            conditioning = self.sample_conditioning or self._sample_conditioning()
            samples = render_samples(self.family, self.pipe, conditioning, self.sample_side)
        folder = None
        if epoch % self.config.save_every_n_epochs == 0 or epoch == self.epochs:
            folder = save_checkpoint(
                self.run_dir,
                epoch,
                self.family,
                self.denoiser,
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
                    "sides": [s.side for s in self.sides],
                    "added_words": list(self.new_words),
                    "code_version": __version__,
                },
                self._kohya_metadata(epoch, step),
                self.text_encoders,
            )
        return EpochResult(epoch, step, mean_loss, folder, samples)

    def _kohya_metadata(self, epoch: int, step: int) -> dict[str, str]:
        return build_kohya_metadata(
            self.config,
            name=self.config_name,
            epoch=epoch,
            step=step,
            total_epochs=self.epochs,
            total_steps=self.total_steps,
            captions=self.data.captions,
            num_train_images=len(self.data.captions),
            side=self.sample_side,
            base_model_name=self.config.base_model,
            started_at=self.started_at,
            finished_at=time.time(),
            prediction_type=self.pipe.scheduler.config.get("prediction_type"),
        )

    def _training_state(self) -> dict:
        """Everything a resumed run draws from: on a GPU, LoRA dropout draws from CUDA's
        own generators, so their states are saved too."""
        state = {
            **self.step.state_dict(),
            "generator": self.generator.get_state(),
            "torch_rng": torch.get_rng_state(),
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        return state

    def _resume(self, folder: Path) -> None:
        weights = load_file(folder / DIFFUSERS_FILE)
        parts = [(self.denoiser, f"{self.family.denoiser_name}.")]
        parts += [(encoder, f"{name}.") for name, encoder in self.text_encoders.items()]
        for model, prefix in parts:
            mine = {
                k.removeprefix(prefix): v.to(self.device)
                for k, v in weights.items()
                if k.startswith(prefix)
            }
            set_peft_model_state_dict(model, mine)
        state = torch.load(folder / STATE_FILE, map_location="cpu", weights_only=True)
        self.step.load_state_dict(state)
        self.generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])
