"""`bespoke bench gpu`: our training step against the stock diffusers loop, in one run.

Both time the same denoiser (the published SDXL UNet or FLUX.1 transformer architecture
with random weights, or tiny ones on a CPU), the same LoRA and loss, on the same cached
latents, as the shipped config trains (`sdxl.yaml`: fp16 with a gradient scaler and
AdamW8bit, 225 prompt tokens in three CLIP windows; `flux-dev.yaml`: bf16 and AdamW8bit,
512 T5 tokens). The stock step is the diffusers LoRA example's: float32 LoRA under
autocast, plain AdamW, `.item()` on every loss, no compile. Ours is `TrainingStep` (see
`step.py`). Each row is handed to `on_row` as soon as it is measured.

Figures: ms/step, images/s, peak GPU memory, and MFU: the denoiser's training FLOPs per
step (counted by `torch.utils.flop_counter` on one step) over the time and the GPU's
dense bf16 peak. `numerics` is the relative difference of the two steps' losses on the
same batch before training, which says whether "faster" came at the cost of precision.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
from diffusers import AutoencoderKL, DDPMScheduler, FlowMatchEulerDiscreteScheduler
from torch.utils.flop_counter import FlopCounterMode

from bespoke_pipeline.bench.random_models import Size, flux_transformer, sdxl_unet, vae
from bespoke_pipeline.pixelart.synth import synth_portraits
from bespoke_pipeline.training.config import TrainingConfig, load_named
from bespoke_pipeline.training.families import family_for
from bespoke_pipeline.training.families.base import Batch, ModelFamily, placement, vae_latents
from bespoke_pipeline.training.resolution import exact_sides, upscale
from bespoke_pipeline.training.step import TrainingStep

Family = Literal["sdxl", "flux"]
#: Dense bf16 tensor-core peak per GPU, from the vendors' datasheets: the first name the
#: device's contains wins, so the PCIe and NVL parts come before their SXM siblings.
PEAK_BF16_FLOPS = (
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),
    ("H200 NVL", 835e12),
    ("H200", 989e12),
    ("A100", 312e12),
    ("L40S", 362e12),
)
#: The shipped config each family is measured as it trains (precision, optimizer, tokens).
SHIPPED = {"sdxl": "sdxl", "flux": "flux-dev"}
#: Default batch sizes that fit an 80 GB card: FLUX at 768 px without gradient
#: checkpointing holds 1 or 2 (4 would need more than 80 GB).
DEFAULT_BATCHES = {"sdxl": (1, 4), "flux": (1, 2)}
#: The published schedulers' training settings.
SCHEDULES = {
    "sdxl": lambda: DDPMScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
    ),
    "flux": lambda: FlowMatchEulerDiscreteScheduler(shift=3.0),
}


@dataclass(frozen=True)
class StepFigures:
    family: str
    variant: str  # "stock" or "ours"
    side: int
    batch: int
    ms_per_step: float
    peak_memory_gib: float | None  # None on a CPU
    flops_per_step: float
    peak_flops: float | None  # None when the device's peak is unknown
    numerics: float  # relative loss difference to the stock step on one batch
    compile_seconds: float | None  # the warmup steps' extra time when compiled

    @property
    def images_per_second(self) -> float:
        return self.batch * 1000 / self.ms_per_step

    @property
    def mfu(self) -> float | None:
        if self.peak_flops is None:
            return None
        return self.flops_per_step / (self.ms_per_step / 1000) / self.peak_flops


def _peak(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return peak_flops(torch.cuda.get_device_name(device))


def peak_flops(device_name: str) -> float | None:
    """The dense bf16 peak of the card `device_name` names, None when unknown."""
    return next((peak for key, peak in PEAK_BF16_FLOPS if key in device_name), None)


def _sequence(config: TrainingConfig) -> int:
    """Prompt tokens the denoiser sees: SDXL's CLIP windows of 77 for `max_token_length`
    (225: three), FLUX-dev's 512 T5 tokens."""
    if config.family == "sdxl":
        return 77 * (config.max_token_length // 75)
    return 512


@contextmanager
def _default_dtype(dtype: torch.dtype) -> Iterator[None]:
    """Build full-size models directly in bf16: FLUX in float32 alone would be 48 GB."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


def _prompts(
    family: Family, denoiser: torch.nn.Module, batch: int, dtype: torch.dtype, tokens: int
):
    config = denoiser.config
    if family == "sdxl":
        width = config.cross_attention_dim
        pooled = config.projection_class_embeddings_input_dim - 6 * config.addition_time_embed_dim
    else:
        width, pooled = config.joint_attention_dim, config.pooled_projection_dim
    device = denoiser.device
    return {
        "embeds": torch.randn(batch, tokens, width, device=device, dtype=dtype),
        "pooled": torch.randn(batch, pooled, device=device, dtype=dtype),
    }


def _timed(step: Callable[[], object], count: int, device: torch.device) -> float:
    """Mean milliseconds per call, waiting for the GPU at both ends only."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    started = time.perf_counter()
    for _ in range(count):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return (time.perf_counter() - started) * 1000 / count


def bench_family(
    family_name: Family,
    size: Size,
    side: int,
    batch_sizes: tuple[int, ...],
    steps: int,
    warmup: int,
    compile_blocks: bool = False,
    on_row: Callable[[StepFigures], None] = lambda figure: None,
) -> list[StepFigures]:
    cuda = torch.cuda.is_available()
    config = shipped_config(family_name, steps, cuda)
    family = family_for(config)
    device, dtype = placement(config)
    # as in the diffusers examples: SDXL's VAE in float32 (it overflows in fp16), FLUX's in bf16
    vae_dtype = torch.float32 if family_name == "sdxl" else dtype
    with torch.device(device):
        with _default_dtype(dtype):
            denoiser = (sdxl_unet if family_name == "sdxl" else flux_transformer)(size)
        with _default_dtype(vae_dtype):
            encoder = vae(family_name, size).requires_grad_(False)
    step = TrainingStep(family, denoiser, SCHEDULES[family_name](), config, 10**6, device)
    stock = StockStep(family, encoder, step, dtype)
    side = exact_sides((side,), family.model_multiple(encoder, denoiser))[0].side
    loads = [_workload(step, stock, side, batch) for batch in batch_sizes]

    def measured(figure: StepFigures) -> StepFigures:
        on_row(figure)
        return figure

    stock_figures = [
        measured(_measure("stock", lambda w=w: stock(w.draw(), w.generator), w, steps, warmup))
        for w in loads
    ]
    if compile_blocks:  # after the stock runs, which must not use the compiled blocks
        step.compile()
    ours_figures = [
        measured(
            _measure(
                "ours", lambda w=w: step(w.draw(), w.generator), w, steps, warmup, compile_blocks
            )
        )
        for w in loads
    ]
    return [f for pair in zip(stock_figures, ours_figures, strict=True) for f in pair]


def shipped_config(family: Family, steps: int, cuda: bool) -> TrainingConfig:
    """The family's shipped config as it trains (its precision, optimizer, LoRA, tokens),
    on random weights; on a CPU float32 and plain AdamW, which is all a CPU runs."""
    changes: dict[str, object] = {
        "base_model": "random weights",
        "num_train_epochs": None,
        "steps": steps,
        "lr_scheduler": "constant",
        "lr_warmup_steps": 0,
        "allow_cpu": True,
    }
    if not cuda:
        changes |= {"mixed_precision": "no", "optimizer": "adamw"}
    return TrainingConfig.model_validate({**load_named(SHIPPED[family]).model_dump(), **changes})


@dataclass
class _Workload:
    """One batch size's inputs, and the figures that don't depend on timing."""

    family: str
    side: int
    pixels: torch.Tensor
    prompts: dict[str, torch.Tensor]
    mean: torch.Tensor  # the latent distribution, as the latent cache holds it
    std: torch.Tensor
    numerics: float
    generator: torch.Generator = field(default_factory=lambda: torch.Generator().manual_seed(0))
    flops_per_step: float = 0.0

    def draw(self) -> Batch:
        """A batch as the trainer builds it from the latent cache."""
        noise = torch.randn(self.mean.shape, generator=self.generator).to(self.mean.device)
        return Batch(self.mean + self.std * noise, self.prompts, self.side)


def _workload(step: TrainingStep, stock: StockStep, side: int, batch: int) -> _Workload:
    device, dtype = step.denoiser.device, step.denoiser.dtype
    images = np.stack([np.asarray(i) for i, _ in synth_portraits(batch, seed=batch)])
    pixels = upscale(images, side // 24).to(device)
    prompts = _prompts(step.config.family, step.denoiser, batch, dtype, _sequence(step.config))
    mean, std = vae_latents(stock.encoder, pixels)
    numerics = stock.loss_gap(mean, prompts, side)
    load = _Workload(step.config.family, side, pixels, prompts, mean, std, numerics)
    with FlopCounterMode(display=False) as counter:
        step(load.draw(), load.generator)
    load.flops_per_step = counter.get_total_flops()
    return load


def _measure(
    variant: str,
    run: Callable[[], object],
    load: _Workload,
    steps: int,
    warmup: int,
    compiled: bool = False,
) -> StepFigures:
    device = load.pixels.device
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    first = _timed(run, warmup, device)
    ms = _timed(run, steps, device)
    return StepFigures(
        variant=variant,
        ms_per_step=ms,
        peak_memory_gib=torch.cuda.max_memory_allocated(device) / 2**30 if cuda else None,
        numerics=load.numerics if variant == "ours" else 0.0,
        compile_seconds=(first - ms) * warmup / 1000 if compiled else None,
        family=load.family,
        side=load.side,
        batch=len(load.pixels),
        flops_per_step=load.flops_per_step,
        peak_flops=_peak(device),
    )


class StockStep:
    """The diffusers LoRA example's step on the same cached latents as ours (every
    reference trainer caches them, so re-encoding would measure the VAE, not the loop):
    autocast to the denoiser's dtype around float32 LoRA weights (with a gradient scaler
    in fp16, as accelerate adds), plain (foreach) AdamW, the loss read every step. It
    trains the same LoRA parameters as `ours`, whose attention kernels it shares (the
    default cuDNN kernel fails FLUX's backward, see `families/flux.py`)."""

    def __init__(
        self, family: ModelFamily, encoder: AutoencoderKL, ours: TrainingStep, dtype: torch.dtype
    ) -> None:
        self.family, self.encoder, self.ours, self.dtype = family, encoder, ours, dtype
        self.optimizer = torch.optim.AdamW(ours.params, lr=ours.config.learning_rate)
        self.scaler = torch.amp.GradScaler(enabled=dtype == torch.float16)

    def loss(
        self, latents: torch.Tensor, prompts: dict, side: int, generator: torch.Generator
    ) -> torch.Tensor:
        autocast = torch.autocast(
            latents.device.type, dtype=self.dtype, enabled=latents.device.type == "cuda"
        )
        with self.ours.attention(), autocast:
            batch = Batch(latents, prompts, side)
            return self.family.loss(
                self.ours.denoiser, self.ours.schedule, batch, generator, self.ours.config
            )

    def __call__(self, batch: Batch, generator: torch.Generator) -> float:
        loss = self.loss(batch.latents.float(), batch.prompts, batch.side, generator)
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.ours.params, self.ours.config.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return loss.detach().item()

    def loss_gap(self, latents: torch.Tensor, prompts: dict, side: int) -> float:
        """Relative difference between our loss and the stock one on one batch with the
        same random draws, before any training: the price of our precision choices."""
        step = self.ours
        step.denoiser.eval()  # LoRA dropout off: the gap is the precision's, not chance's
        with torch.no_grad():
            with step.attention():
                ours = step.family.loss(
                    step.denoiser,
                    step.schedule,
                    Batch(latents, prompts, side),
                    torch.Generator().manual_seed(5),
                    step.config,
                )
            stock = self.loss(latents, prompts, side, torch.Generator().manual_seed(5))
        step.denoiser.train()
        return abs(float(ours) - float(stock)) / abs(float(stock))


def environment() -> str:
    """Device and versions, the line a table of figures is meaningless without."""
    import diffusers
    import peft

    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU (no GPU)"
    return (
        f"{device}, torch {torch.__version__}, diffusers {diffusers.__version__}, "
        f"peft {peft.__version__}, {torch.get_num_threads()} CPU threads"
    )


def markdown(figures: list[StepFigures]) -> str:
    """A markdown table, one row per family x batch x variant, with ours' speedup."""
    stock = {(f.family, f.batch): f.ms_per_step for f in figures if f.variant == "stock"}
    lines = [
        "| model | side | batch | step | ms/step | images/s | peak GiB | GFLOP/step | MFU "
        "| speedup | loss gap | compile s |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in figures:
        cells = [
            f.family,
            f.side,
            f.batch,
            f.variant,
            f"{f.ms_per_step:.1f}",
            f"{f.images_per_second:.2f}",
            "-" if f.peak_memory_gib is None else f"{f.peak_memory_gib:.1f}",
            f"{f.flops_per_step / 1e9:.2f}",
            "-" if f.mfu is None else f"{f.mfu:.1%}",
            f"{stock[(f.family, f.batch)] / f.ms_per_step:.2f}x",
            f"{f.numerics:.1e}",
            "-" if f.compile_seconds is None else f"{f.compile_seconds:.0f}",
        ]
        lines.append("| " + " | ".join(map(str, cells)) + " |")
    return "\n".join(lines)
