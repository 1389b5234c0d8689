"""One LoRA training step on cached data, shared by the trainer and `bespoke bench gpu` so
the benchmark times exactly what training runs.

What makes it faster than the stock diffusers loop, each at equal numerics:
- latents and prompt embeddings come from the cache: no VAE or text encoder per step;
- no autocast: the base weights already are in the compute dtype, and peft runs the float32
  LoRA branch in float32, so autocast's per-op dtype copies only cost launches;
- AdamW fused into one kernel on a GPU;
- the loss is returned without `.item()`, so the host queues the next step while the GPU
  still runs this one (the trainer reads losses in blocks, `lora.PROGRESS_EVERY`);
- optionally the denoiser's repeated blocks are compiled (`compile_repeated_blocks`),
  which builds each block kind once instead of the whole graph.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch
from diffusers import SchedulerMixin
from diffusers.optimization import get_scheduler
from diffusers.training_utils import cast_training_params
from peft import LoraConfig, inject_adapter_in_model
from torch.nn.attention import sdpa_kernel

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families.base import Batch, ModelFamily


def add_lora(
    model: torch.nn.Module, config: TrainingConfig, target_modules: tuple[str, ...]
) -> list[torch.nn.Parameter]:
    """The config's adapter on a frozen model; its parameters stay float32 whatever the base
    weights' dtype, so small updates are not rounded away. peft's own injection serves the
    denoiser and the text encoder alike (transformers' `add_adapter` wants a newer peft)."""
    model.requires_grad_(False)
    adapter = LoraConfig(
        r=config.lora_rank,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(target_modules),
        init_lora_weights="gaussian",
    )
    inject_adapter_in_model(adapter, model, adapter_name="default")
    model.peft_config = {"default": adapter}
    model._hf_peft_config_loaded = True  # diffusers' LoRA helpers check for this
    cast_training_params(model, dtype=torch.float32)
    return [p for p in model.parameters() if p.requires_grad]


def make_optimizer(
    config: TrainingConfig, params: list[dict], device: torch.device
) -> torch.optim.Optimizer:
    """AdamW over parameter groups (each with its own learning rate), fused into one
    kernel on a GPU; adamw8bit through bitsandbytes."""
    if config.optimizer == "adamw":
        return torch.optim.AdamW(params, lr=config.learning_rate, fused=device.type == "cuda")
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


class TrainingStep:
    """Owns what a step changes: the LoRA parameters, optimizer, LR schedule, loss scaler."""

    def __init__(
        self,
        family: ModelFamily,
        denoiser: torch.nn.Module,
        schedule: SchedulerMixin,
        config: TrainingConfig,
        total_steps: int,
        device: torch.device,
        text_encoders: list[torch.nn.Module] | tuple[()] = (),
    ) -> None:
        self.family, self.denoiser, self.schedule, self.config = family, denoiser, schedule, config
        torch.manual_seed(config.seed)  # LoRA init draws from the global generator
        self.params = add_lora(denoiser, config, config.target_modules)
        groups = [{"params": self.params, "lr": config.learning_rate}]
        modules = config.text_encoder_target_modules or family.text_encoder_modules
        text_params = [p for e in text_encoders for p in add_lora(e, config, modules)]
        if text_params:
            groups.append({"params": text_params, "lr": config.text_encoder_lr})
            self.params = [*self.params, *text_params]
        if config.gradient_checkpointing:
            denoiser.enable_gradient_checkpointing()
        self.optimizer = make_optimizer(config, groups, device)
        self.lr_scheduler = get_scheduler(
            config.lr_scheduler,
            self.optimizer,
            num_warmup_steps=config.lr_warmup_steps,
            num_training_steps=total_steps,
            num_cycles=config.lr_scheduler_num_cycles,
        )
        self.scaler = torch.amp.GradScaler(enabled=denoiser.dtype == torch.float16)
        self.attention_name, self._backends = family.attention()

    def attention(self) -> AbstractContextManager:
        return nullcontext() if self._backends is None else sdpa_kernel(self._backends)

    def compile(self) -> None:
        """Compile each repeated block of the denoiser once (transformer blocks); the first
        steps after this pay the build time."""
        self.denoiser.compile_repeated_blocks(fullgraph=True)

    def __call__(self, batch: Batch, generator: torch.Generator) -> torch.Tensor:
        """One optimizer step; returns the loss as a tensor on the device, not read back
        (the trainer reads losses once per `PROGRESS_EVERY` steps)."""
        with self.attention():
            loss = self.family.loss(self.denoiser, self.schedule, batch, generator, self.config)
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
        self.scaler.unscale_(self.optimizer)
        torch.nn.utils.clip_grad_norm_(self.params, self.config.max_grad_norm)
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.lr_scheduler.step()
        return loss.detach()

    def state_dict(self) -> dict:
        return {
            "optimizer": self.optimizer.state_dict(),
            "lr_scheduler": self.lr_scheduler.state_dict(),
            "grad_scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self.lr_scheduler.load_state_dict(state["lr_scheduler"])
        self.scaler.load_state_dict(state["grad_scaler"])
