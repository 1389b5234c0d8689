from pathlib import Path

import numpy as np
import pytest
import torch

from bespoke_pipeline.models.pixel.architecture import caption_vocabulary_tokenizer, new_base_model
from bespoke_pipeline.pixelart.caption import render_caption
from bespoke_pipeline.pixelart.synth import synth_portraits
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.data import TrainingData


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The embedded architecture with random weights: tests never depend on pretraining."""
    folder = tmp_path_factory.mktemp("base") / "pixel-punk-base"
    torch.manual_seed(0)
    new_base_model(caption_vocabulary_tokenizer()).save_pretrained(folder)
    return folder


def micro_data(count: int = 8, seed: int = 3) -> TrainingData:
    pairs = list(synth_portraits(count, seed=seed))
    return TrainingData(
        np.stack([np.asarray(i) for i, _ in pairs]),
        [render_caption(p) for _, p in pairs],
        sha256=f"micro-{count}-{seed}",
    )


def micro_config(base: Path, **overrides: object) -> TrainingConfig:
    settings = {
        "family": "pixel",
        "base_model": str(base),
        "num_train_epochs": 2,
        "batch_size": 4,
        "learning_rate": 3e-3,
        "lr_warmup_steps": 1,
        "lora_rank": 4,
        "lora_alpha": 4,
        "seed": 7,
        **overrides,
    }
    return TrainingConfig.model_validate(settings)
