"""What differs between model families, behind one interface: how the pipeline loads, how
images and captions become the cached tensors a training step needs, the loss, how samples
are drawn, and the LoRA file other tools load. The trainer, the cache, the evaluation and
`bespoke generate` are written once against `ModelFamily`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import torch
from diffusers import AutoencoderKL, DiffusionPipeline, SchedulerMixin
from peft.utils import get_peft_model_state_dict
from PIL import Image
from torch.nn.attention import SDPBackend

from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.exports import kohya_text_encoder
from bespoke_pipeline.training.resolution import Side, exact_sides


@dataclass(frozen=True)
class Conditioning:
    """Encoded prompts for sampling, and the empty prompt's when guidance uses it."""

    prompts: dict[str, torch.Tensor]
    negative: dict[str, torch.Tensor] | None


@dataclass(frozen=True)
class Batch:
    """One training batch, already on the device: clean latents drawn from the cached
    latent distribution, and the rows of the cached prompt tensors."""

    latents: torch.Tensor  # float32 (B, C, h, w), scaled as the denoiser expects
    prompts: dict[str, torch.Tensor]
    side: int  # in pixels


class ModelFamily(ABC):
    pipeline_class: ClassVar[type[DiffusionPipeline]]
    denoiser_name: ClassVar[str]  # the pipeline component the LoRA goes on
    #: what `save_lora_weights` calls the denoiser's layers
    lora_layers_argument: ClassVar[str]
    #: (steps, guidance) of the per-epoch sample grid: what users of the family sample with
    sample_settings: ClassVar[tuple[int, float]]
    #: the sampler settings the evaluation tries on every checkpoint (guidance scales, steps)
    sampler_grid: ClassVar[tuple[tuple[float, ...], tuple[int, ...]]]

    #: Pipeline components never loaded (nor downloaded: `base_weights.NOT_LOADED`).
    skipped_components: ClassVar[dict[str, object]] = {}

    def load(
        self,
        base: Path,
        device: torch.device,
        dtype: torch.dtype,
        config_source: str | None = None,
    ) -> DiffusionPipeline:
        """A diffusers folder, or a single-file checkpoint whose component configs and
        tokenizers come from `config_source` (a diffusers folder or cached hub id)."""
        extra = self.skipped_components
        if base.is_file():
            pipe = self.pipeline_class.from_single_file(
                base, config=config_source, dtype=dtype, **extra
            )
        else:
            pipe = self.pipeline_class.from_pretrained(base, dtype=dtype, **extra)
        pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def denoiser(self, pipe: DiffusionPipeline) -> torch.nn.Module:
        return getattr(pipe, self.denoiser_name)

    @abstractmethod
    def model_multiple(self, vae: AutoencoderKL | None, denoiser: torch.nn.Module) -> int:
        """Training sides must be multiples of this (VAE and denoiser downscaling)."""

    @abstractmethod
    def encode_prompts(
        self, pipe: DiffusionPipeline, prompts: list[str]
    ) -> dict[str, torch.Tensor]:
        """Tensors with one row per prompt, in the dtype the denoiser takes."""

    def encode_images(
        self, pipe: DiffusionPipeline, pixels: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Mean and standard deviation of the scaled latents of pixels in [-1, 1]; a model
        without a VAE has no spread (None)."""
        return vae_latents(pipe.vae, pixels)

    @abstractmethod
    def training_schedule(self, scheduler_config: dict) -> SchedulerMixin:
        """The noise schedule training draws from, built from the pipeline scheduler's."""

    @abstractmethod
    def loss(
        self,
        denoiser: torch.nn.Module,
        schedule: SchedulerMixin,
        batch: Batch,
        generator: torch.Generator,
        config: TrainingConfig,
    ) -> torch.Tensor:
        """The training loss of one batch; random draws come from `generator` (on the CPU,
        so a seed gives the same run on any device)."""

    def render(
        self,
        pipe: DiffusionPipeline,
        prompts: list[str],
        steps: int,
        guidance_scale: float,
        generator: torch.Generator,
        side: int,
    ) -> list[Image.Image]:
        """What the model draws for `prompts` at `side` pixels, unprocessed."""
        conditioning = self.sampling_conditioning(pipe, prompts, guidance_scale)
        return self.draw(pipe, conditioning, steps, guidance_scale, generator, side)

    def sampling_conditioning(
        self, pipe: DiffusionPipeline, prompts: list[str], guidance_scale: float
    ) -> Conditioning:
        """The prompts' encodings, and the empty prompt's where guidance needs them: drawn
        from these, sampling reads prompts exactly as training does (long ones whole) and
        needs no text encoder once they are computed."""
        with torch.no_grad():
            return Conditioning(
                self.encode_prompts(pipe, prompts),
                self.negative_prompts(pipe, len(prompts)) if guidance_scale > 1 else None,
            )

    def negative_prompts(
        self, pipe: DiffusionPipeline, count: int
    ) -> dict[str, torch.Tensor] | None:
        """The unconditional side of classifier-free guidance: the empty prompt."""
        return self.encode_prompts(pipe, [""] * count)

    def draw(
        self,
        pipe: DiffusionPipeline,
        conditioning: Conditioning,
        steps: int,
        guidance_scale: float,
        generator: torch.Generator,
        side: int,
    ) -> list[Image.Image]:
        return pipe(
            **self.pipeline_inputs(conditioning, side),
            num_inference_steps=steps,
            guidance_scale=guidance_scale,
            generator=generator,
        ).images

    def pipeline_inputs(self, conditioning: Conditioning, side: int) -> dict[str, object]:
        """`encode_prompts`' tensors under the names diffusers' pipelines take (a pooled
        embedding too where the family has one), and the side."""
        prompts, negative = conditioning.prompts, conditioning.negative
        inputs: dict[str, object] = {
            "prompt_embeds": prompts["embeds"],
            "negative_prompt_embeds": negative and negative["embeds"],
            "height": side,
            "width": side,
        }
        if "pooled" in prompts:
            inputs["pooled_prompt_embeds"] = prompts["pooled"]
            inputs["negative_pooled_prompt_embeds"] = negative and negative["pooled"]
        return inputs

    @abstractmethod
    def export(
        self, lora_state: dict[str, torch.Tensor], alpha: float, denoiser: torch.nn.Module
    ) -> dict[str, torch.Tensor]:
        """The LoRA in the layout ComfyUI and A1111 load (`kohya_lora.safetensors`)."""

    def attention(self) -> tuple[str, list[SDPBackend] | None]:
        """The attention kernels training allows (None: PyTorch's own choice), named for
        the run's parameters."""
        return "PyTorch's default choice", None

    def sides(self, pipe: DiffusionPipeline, resolution: tuple[int, ...]) -> list[Side]:
        multiple = self.model_multiple(getattr(pipe, "vae", None), self.denoiser(pipe))
        return exact_sides(resolution, multiple)

    #: The pipeline's text encoders a `text_encoder_lr` config trains, each with its name
    #: in kohya's files (`lora_te`, SDXL's `lora_te1` and `lora_te2`); none: it can't.
    text_encoder_names: ClassVar[dict[str, str]] = {}

    def text_encoders(self, pipe: DiffusionPipeline) -> dict[str, torch.nn.Module]:
        """The text encoders a `text_encoder_lr` config trains, by pipeline component."""
        if not self.text_encoder_names:
            raise ValueError(
                f"text_encoder_lr: the {type(self).__name__} cannot train its text encoder"
            )
        return {name: getattr(pipe, name) for name in self.text_encoder_names}

    #: The text encoder's modules a LoRA goes on when the config names none: CLIP's
    #: attention and MLP, as kohya trains them.
    text_encoder_modules: ClassVar[tuple[str, ...]] = (
        "q_proj",
        "k_proj",
        "v_proj",
        "out_proj",
        "fc1",
        "fc2",
    )

    def new_words(self, pipe: DiffusionPipeline, captions: list[str]) -> tuple[str, ...]:
        """Caption words the base model has no token for, given rows of their own in
        `pipe` (see `PixelFamily`); none here: a BPE tokenizer spells any word in subword
        tokens, so no word of a caption is lost."""
        return ()

    def export_text_encoders(
        self, lora_states: dict[str, dict[str, torch.Tensor]], alpha: float
    ) -> dict[str, torch.Tensor]:
        """The text encoders' LoRAs in the kohya file, under kohya's names."""
        kohya: dict[str, torch.Tensor] = {}
        for name, state in lora_states.items():
            kohya.update(kohya_text_encoder(state, alpha, self.text_encoder_names[name]))
        return kohya

    def offload_text_encoders(self, pipe: DiffusionPipeline) -> None:
        """Move the text encoders off the GPU: once prompts are encoded, training and its
        samples need only their outputs (T5-XXL alone holds 9 GB)."""
        for name, component in pipe.components.items():
            if name.startswith("text_encoder") and isinstance(component, torch.nn.Module):
                component.to("cpu")

    def save_lora(
        self,
        folder: Path,
        lora_state: dict[str, torch.Tensor],
        denoiser: torch.nn.Module,
        weight_name: str,
        text_encoders: dict[str, torch.nn.Module],
    ) -> None:
        """The peft adapter config goes into the file's metadata: without it, loaders
        assume alpha = rank and scale any other alpha wrongly."""
        metadata_argument = self.lora_layers_argument.replace("_layers", "_adapter_metadata")
        layers = {
            self.lora_layers_argument: lora_state,
            metadata_argument: denoiser.peft_config["default"].to_dict(),
        }
        for name, encoder in text_encoders.items():
            layers[f"{name}_lora_layers"] = lora_tensors(encoder)
            layers[f"{name}_lora_adapter_metadata"] = encoder.peft_config["default"].to_dict()
        self.pipeline_class.save_lora_weights(folder, **layers, weight_name=weight_name)


def lora_tensors(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A model's LoRA weights as saved: float32 on the CPU, whatever they trained in."""
    return {
        k: v.detach().to("cpu", torch.float32).contiguous()
        for k, v in get_peft_model_state_dict(model).items()
    }


def placement(config: TrainingConfig) -> tuple[torch.device, torch.dtype]:
    """Where the base weights live and in which dtype: on a GPU in the config's mixed
    precision (the LoRA itself stays float32), on a CPU in float32."""
    if not torch.cuda.is_available():
        return torch.device("cpu"), torch.float32
    dtypes = {"no": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
    return torch.device("cuda"), dtypes[config.mixed_precision]


@torch.no_grad()
def vae_latents(vae: AutoencoderKL, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std of the latent distribution, shifted and scaled as the denoiser sees
    latents, so a step draws `mean + std * noise` without the VAE. A VAE that overflows in
    float16 (SDXL's, `force_upcast`) encodes in float32."""
    weights = vae.dtype
    dtype = torch.float32 if vae.config.force_upcast else weights
    if dtype != weights:
        vae.to(dtype)
    try:
        dist = vae.encode(pixels.to(vae.device, dtype)).latent_dist
    finally:
        if dtype != weights:
            vae.to(weights)
    shift = vae.config.shift_factor or 0.0
    scale = vae.config.scaling_factor
    return ((dist.mean - shift) * scale).float(), (dist.std * scale).float()


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A host tensor on `device` without the host waiting for the copy: on CUDA it is
    pinned and copied asynchronously (ordered on the stream before any kernel reading
    it). Noise is drawn on the host so that a seeded run, and its resume, draws the same
    values on any machine; this keeps that from stalling every step."""
    if device.type != "cuda":
        return tensor.to(device)
    return tensor.pin_memory().to(device, non_blocking=True)


def vae_scale_factor(vae: AutoencoderKL) -> int:
    """How much the VAE shrinks each side: one halving per block after the first."""
    return 2 ** (len(vae.config.block_out_channels) - 1)
