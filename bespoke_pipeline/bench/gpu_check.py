"""`bespoke bench gpu-check`: the one script a borrowed GPU runs, so that SD 1.5, SDXL and
FLUX training is proven there without the model hub, which such machines cannot reach.

For each family, the shipped config (`sd15-kohya.toml`, `sdxl.yaml`, `flux-dev.yaml`) trains
on a random-weight pipeline of the published architecture (`random_models.random_pipeline`:
full-size denoiser and VAE on a GPU, tiny models on a CPU), through what the `lora` asset
runs (`LoraTrainer`: the config's precision, optimizer, noise and sides), for a few steps
on demo portraits. Then:

- the last checkpoint, loaded into a fresh pipeline, changes the denoiser's output;
- its kohya file, loaded through diffusers, gives the output our own file gives (the
  difference as a share of that change);
- the figures: median ms per step after the first (each step is an epoch of one portrait,
  its checkpoint written), and peak GPU memory.

Each row is printed and appended to a JSON lines file as soon as it is measured, so a
family that fails (out of memory, say) loses nothing of those before it. The test suite
runs it at tiny size on a CPU, so it cannot rot between GPU hours.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from bespoke_pipeline.bench.random_models import Size, random_pipeline
from bespoke_pipeline.bench.train import demo_data
from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.checkpoints import KOHYA_FILE
from bespoke_pipeline.training.config import TrainingConfig, load_named
from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.families import family_for
from bespoke_pipeline.training.families.base import Batch, vae_scale_factor
from bespoke_pipeline.training.lora import LoraTrainer

GpuFamily = Literal["sd15", "sdxl", "flux"]
#: The shipped config each family is checked with.
SHIPPED = {"sd15": "sd15-kohya", "sdxl": "sdxl", "flux": "flux-dev"}
STEPS = 5
#: One portrait, so that each epoch is one step and its end a time stamp.
IMAGES = 1


@dataclass(frozen=True)
class CheckRow:
    family: str
    config: str
    size: str
    side: int
    steps: int
    ms_per_step: float | None
    peak_memory_gib: float | None  # None on a CPU
    #: the largest change of the denoiser's output once the checkpoint is loaded
    output_change: float | None
    #: the largest difference between our file's and the kohya file's outputs, as a share
    #: of that change (None for tiny FLUX, which diffusers' kohya converter cannot read)
    kohya_mismatch: float | None
    error: str | None = None


def checked_config(family: GpuFamily, base: Path, cuda: bool) -> TrainingConfig:
    """The shipped config on `base`, for `STEPS` steps at one side (its first on a GPU;
    48 px on a CPU, which the tiny models' one-halving VAE takes), saving every epoch.
    On a CPU the GPU-only settings give way: float32, plain AdamW, no checkpointing."""
    shipped = load_named(SHIPPED[family]).model_dump()
    changes: dict[str, object] = {
        "base_model": str(base),
        "base_model_config": None,
        "num_train_epochs": None,
        "steps": STEPS,
        "batch_size": 1,
        "save_every_n_epochs": 1,
        "validation_epochs": 10_000,  # no samples: they time the sampler, not training
        "resolution": shipped["resolution"][:1] if cuda else (48,),
    }
    if not cuda:
        changes |= {
            "mixed_precision": "no",
            "optimizer": "adamw",
            "gradient_checkpointing": False,
            "allow_cpu": True,
        }
    return TrainingConfig.model_validate({**shipped, **changes})


def check_family(
    family: GpuFamily, size: Size, workdir: Path, log: Callable[[str], None] = print
) -> CheckRow:
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    base = workdir / family / "base"
    with torch.device(device):
        random_pipeline(family, size).save_pretrained(base)
    config = checked_config(family, base, cuda)
    data = demo_data()
    data = TrainingData(data.images[:IMAGES], data.captions[:IMAGES], f"demo-{IMAGES}")
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    stamps: list[float] = []
    trainer = LoraTrainer(config, SHIPPED[family], data, workdir / family / "runs", log=log)
    results = trainer.train(on_epoch=lambda _: stamps.append(time.perf_counter()))
    peak = torch.cuda.max_memory_allocated() / 2**30 if cuda else None
    # after the first step (warmup, compilation); each includes its checkpoint's writing
    ms = statistics.median(np.diff(stamps)) * 1000
    folder = results[-1].checkpoint
    side = trainer.sample_side
    del trainer
    pipe = family_for(config).load(base, device, torch.float32 if not cuda else torch.bfloat16)
    before = denoiser_output(config, pipe, side)
    load_checkpoint(pipe, folder)
    ours = denoiser_output(config, pipe, side)
    change = (ours - before).abs().max().item()
    mismatch = None
    if not (family == "flux" and size == "tiny"):  # diffusers' FLUX kohya converter
        pipe.unload_lora_weights()  # assumes FLUX.1's published widths
        pipe.load_lora_weights(folder, weight_name=KOHYA_FILE)
        mismatch = (denoiser_output(config, pipe, side) - ours).abs().max().item() / change
    return CheckRow(family, SHIPPED[family], size, side, STEPS, ms, peak, change, mismatch)


def denoiser_output(
    config: TrainingConfig,
    pipe,
    side: int,
    prompt: str = "TOK bespoke, 24x24 pixel grid portrait, male",
) -> torch.Tensor:
    """The denoiser's output for one fixed noisy latent and prompt, through the family's
    own loss (its conditioning, packing and timesteps), captured by a forward hook."""
    family = family_for(config)
    denoiser = family.denoiser(pipe)
    channels = pipe.vae.config.latent_channels
    latent = side // vae_scale_factor(pipe.vae)
    draws = torch.Generator().manual_seed(0)
    latents = torch.randn(1, channels, latent, latent, generator=draws).to(pipe.device)
    prompts = family.encode_prompts(pipe, [prompt])
    outputs: list[torch.Tensor] = []
    hook = denoiser.register_forward_hook(lambda module, args, out: outputs.append(out[0]))
    with torch.no_grad():
        family.loss(
            denoiser,
            family.training_schedule(pipe.scheduler.config),
            Batch(latents.to(denoiser.dtype), prompts, side),
            torch.Generator().manual_seed(1),
            config,
        )
    hook.remove()
    return outputs[0].float()


def gpu_check(
    families: tuple[GpuFamily, ...], size: Size, out: Path, log: Callable[[str], None] = print
) -> list[CheckRow]:
    """Every family in turn, each row written to `out` (JSON lines) when measured; a
    family that fails is a row with its error, and the next one still runs."""
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for family in families:
            try:
                row = check_family(family, size, Path(folder), log)
            except Exception as error:  # noqa: BLE001 (a failed family is a result to keep)
                log(traceback.format_exc())
                row = CheckRow(
                    family, SHIPPED[family], size, 0, STEPS, None, None, None, None, repr(error)
                )
            finally:
                if torch.cuda.is_available():
                    torch.cuda.empty_cache()
            rows.append(row)
            with out.open("a") as handle:
                handle.write(json.dumps(asdict(row)) + "\n")
            log(json.dumps(asdict(row)))
    return rows
