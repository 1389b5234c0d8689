"""`bespoke bench train`: training throughput of a config on this machine, as figures.

Trains the config from scratch in a temporary folder on the demo dataset's captions and
images (not on the pipeline's stored run, which it must not disturb) and reports the wall
time of the loop, without model loading.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.paths import RAW_DIR
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.lora import LoraTrainer


@dataclass(frozen=True)
class TrainBenchmark:
    images: int
    epochs: int
    steps: int
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.images * self.epochs / self.seconds

    @property
    def seconds_per_epoch(self) -> float:
        return self.seconds / self.epochs


def demo_data(raw_dir: Path = RAW_DIR) -> TrainingData:
    files = sorted(raw_dir.glob("*.png"))
    images = np.stack([np.asarray(read_pixel_art(f).image.convert("RGB")) for f in files])
    captions = [f.with_suffix(".txt").read_text().strip() for f in files]
    return TrainingData(images, captions, sha256="benchmark")


def bench_train(config: TrainingConfig, name: str) -> TrainBenchmark:
    data = demo_data()
    with tempfile.TemporaryDirectory() as runs_dir:
        trainer = LoraTrainer(config, name, data, Path(runs_dir))
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    return TrainBenchmark(
        len(data.captions), trainer.epochs, trainer.epochs * trainer.steps_per_epoch, seconds
    )
