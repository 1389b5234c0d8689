"""The test helper that writes tiny pipelines as original-layout single files round-trips
through diffusers' own `from_single_file`, offline."""

import copy
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from diffusers.loaders.single_file_utils import infer_diffusers_model_type
from safetensors.torch import load_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from bespoke_pipeline.bench.random_models import (
    SDXL_TINY_UNET,
    TINY_VAE,
    tiny_sd15_pipeline,
)
from bespoke_pipeline_tests.single_file import write_single_file


@pytest.fixture(scope="module")
def sd15() -> StableDiffusionPipeline:
    """Built once: fitting its word tokenizer takes most of the time."""
    torch.manual_seed(0)
    return tiny_sd15_pipeline()


def assert_same_weights(loaded, original, components: tuple[str, ...]) -> None:
    for name in components:
        expected = getattr(original, name).state_dict()
        actual = getattr(loaded, name).state_dict()
        assert actual.keys() == expected.keys(), name
        for key, value in expected.items():
            assert torch.equal(actual[key], value), f"{name}.{key}"


def test_sd15_round_trips_through_from_single_file(
    sd15: StableDiffusionPipeline, tmp_path: Path
) -> None:
    pipe = sd15
    pipe.save_pretrained(tmp_path / "folder")
    path = write_single_file(pipe, tmp_path / "model.safetensors")

    checkpoint = load_file(path)
    prefixes = ("model.diffusion_model.", "first_stage_model.", "cond_stage_model.transformer.")
    assert all(key.startswith(prefixes) for key in checkpoint)
    # one original name per weight: nothing extra for the loader to skip
    assert len(checkpoint) == sum(
        len(getattr(pipe, c).state_dict()) for c in ("unet", "vae", "text_encoder")
    )
    assert {p for p in prefixes if any(k.startswith(p) for k in checkpoint)} == set(prefixes)
    assert "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight" in (
        checkpoint
    )
    assert checkpoint["first_stage_model.encoder.mid.attn_1.q.weight"].ndim == 4
    assert infer_diffusers_model_type(checkpoint) == "v1"

    loaded = StableDiffusionPipeline.from_single_file(
        str(path),
        config=str(tmp_path / "folder"),
        local_files_only=True,
        safety_checker=None,
        requires_safety_checker=False,
    )
    assert_same_weights(loaded, pipe, ("unet", "vae", "text_encoder"))
    assert loaded.tokenizer.model_max_length == 77


def test_half_precision_file(sd15: StableDiffusionPipeline, tmp_path: Path) -> None:
    path = write_single_file(sd15, tmp_path / "model.safetensors", dtype=torch.float16)
    assert {t.dtype for t in load_file(path).values()} == {torch.float16}


def _tiny_sdxl(tokenizer) -> StableDiffusionXLPipeline:
    """SDXL at toy size, but unlike `tiny_sdxl_pipeline` the second text encoder is wider
    than the first (48 vs 32) and 10 layers deep. diffusers picks the CLIP-L weights for any
    CLIP class whose width matches them, so with two encoders of 32 `text_encoder_2` gets
    loaded from embedders.0 and its projection is left on the meta device; and it calls a
    file SDXL ("xl_base") only if OpenCLIP has a 10th layer (resblocks.9)."""

    def clip(cls, width: int, layers: int):
        return cls(
            CLIPTextConfig(
                vocab_size=len(tokenizer),
                hidden_size=width,
                intermediate_size=2 * width,
                num_hidden_layers=layers,
                num_attention_heads=4,
                max_position_embeddings=tokenizer.model_max_length,
                pad_token_id=tokenizer.pad_token_id,
                bos_token_id=tokenizer.bos_token_id,
                eos_token_id=tokenizer.eos_token_id,
                projection_dim=width,
            )
        )

    unet = {
        **SDXL_TINY_UNET,
        "cross_attention_dim": 32 + 48,
        "projection_class_embeddings_input_dim": 6 * 8 + 48,
    }
    return StableDiffusionXLPipeline(
        vae=AutoencoderKL(**TINY_VAE, scaling_factor=0.13025),
        text_encoder=clip(CLIPTextModel, 32, 2),
        text_encoder_2=clip(CLIPTextModelWithProjection, 48, 10),
        tokenizer=tokenizer,
        tokenizer_2=tokenizer,
        unet=UNet2DConditionModel(**unet),
        scheduler=EulerDiscreteScheduler(
            beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear"
        ),
    )


def test_sdxl_round_trips_through_from_single_file(
    sd15: StableDiffusionPipeline, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    pipe = _tiny_sdxl(sd15.tokenizer)
    pipe.save_pretrained(tmp_path / "folder")
    path = write_single_file(pipe, tmp_path / "model.safetensors")

    checkpoint = load_file(path)
    prefixes = (
        "model.diffusion_model.",
        "first_stage_model.",
        "conditioner.embedders.0.transformer.",
        "conditioner.embedders.1.model.",
    )
    assert all(key.startswith(prefixes) for key in checkpoint)
    assert "model.diffusion_model.label_emb.0.0.weight" in checkpoint
    assert infer_diffusers_model_type(checkpoint) == "xl_base"

    loaded = StableDiffusionXLPipeline.from_single_file(
        str(path), config=str(tmp_path / "folder"), local_files_only=True
    )
    assert_same_weights(loaded, pipe, ("unet", "vae", "text_encoder", "text_encoder_2"))


def test_unknown_weights_fail_loudly(sd15: StableDiffusionPipeline, tmp_path: Path) -> None:
    pipe = SimpleNamespace(
        unet=copy.deepcopy(sd15.unet), vae=sd15.vae, text_encoder=sd15.text_encoder
    )
    pipe.unet.register_parameter("stray", torch.nn.Parameter(torch.zeros(1)))
    with pytest.raises(ValueError, match="stray"):
        write_single_file(pipe, tmp_path / "model.safetensors")
    assert not (tmp_path / "model.safetensors").exists()
