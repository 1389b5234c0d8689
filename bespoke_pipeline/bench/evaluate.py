"""`bespoke bench eval`: how long scoring every checkpoint of a config takes here, and how
fast grid snapping is, as figures.

Trains the config in a temporary folder first (not timed), then times `score_run` over the
base model and every epoch with the default evaluation settings.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from bespoke_pipeline.bench.train import demo_data
from bespoke_pipeline.evaluation.checkpoint_scores import evaluation_prompts, score_run
from bespoke_pipeline.evaluation.scoring import EvaluationSettings, images_per_checkpoint
from bespoke_pipeline.pixelart.snap import snap_to_grid
from bespoke_pipeline.training.checkpoints import completed_epochs, epoch_dir
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families import family_for
from bespoke_pipeline.training.lora import LoraTrainer


@dataclass(frozen=True)
class EvalBenchmark:
    checkpoints: int
    images: int  # per checkpoint, over all sampler settings
    seconds: float
    snap_ms: float


def bench_eval(config: TrainingConfig, name: str) -> EvalBenchmark:
    data = demo_data()
    settings = EvaluationSettings().for_family(family_for(config))
    with tempfile.TemporaryDirectory() as folder:
        trainer = LoraTrainer(config, name, data, Path(folder))
        trainer.train()
        run_dir = trainer.run_dir
        checkpoints = {e: epoch_dir(run_dir, e) for e in completed_epochs(run_dir)}
        started = time.perf_counter()
        score_run(checkpoints, config, data, settings)
        seconds = time.perf_counter() - started
    prompts = evaluation_prompts(settings, data.captions, config.trigger_word)
    images = images_per_checkpoint(settings, prompts)
    big = Image.fromarray(data.images[0]).resize((1024, 1024), Image.Resampling.LANCZOS)
    timings = []
    for _ in range(20):
        started = time.perf_counter()
        snap_to_grid(big)
        timings.append((time.perf_counter() - started) * 1000)
    return EvalBenchmark(len(checkpoints) + 1, images, seconds, statistics.median(timings))
