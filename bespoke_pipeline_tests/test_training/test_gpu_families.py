"""The SD 1.5, SDXL and FLUX trainers on tiny random-weight pipelines of the real diffusers
classes."""

import hashlib
import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from diffusers import DiffusionPipeline
from safetensors.torch import load_file

from bespoke_pipeline.bench.gpu_check import denoiser_output
from bespoke_pipeline.evaluation.scoring import EvaluationSettings
from bespoke_pipeline.training import latent_cache
from bespoke_pipeline.training.base_weights import NOT_LOADED, denoiser_sha256
from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.checkpoints import DIFFUSERS_FILE, KOHYA_FILE, epoch_dir
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families import family_for
from bespoke_pipeline.training.families.base import Batch
from bespoke_pipeline.training.families.flux import noise_levels
from bespoke_pipeline.training.families.pixel import PixelFamily
from bespoke_pipeline.training.kohya_toml import KOHYA_UNET_TARGETS
from bespoke_pipeline.training.lora import LoraTrainer
from bespoke_pipeline.training.resolution import exact_sides, upscale
from bespoke_pipeline_tests.conftest import tiny_family_config
from bespoke_pipeline_tests.test_training.conftest import micro_data

FAMILIES = ["sd15", "sdxl", "flux"]
PROMPT = "TOK bespoke, 24x24 pixel grid portrait, purple solid background, brown hair"


def config_for(tiny_bases: dict[str, Path], family: str, **overrides: object) -> TrainingConfig:
    return TrainingConfig.model_validate(
        tiny_family_config(tiny_bases[family], family, **overrides)
    )


def prediction(
    config: TrainingConfig, pipe: DiffusionPipeline, latent_side: int = 24
) -> torch.Tensor:
    """The denoiser's raw output for one fixed noisy latent and prompt (the tiny VAEs
    halve the side once)."""
    return denoiser_output(config, pipe, 2 * latent_side, PROMPT)


def load_base(config: TrainingConfig) -> DiffusionPipeline:
    return family_for(config).load(Path(config.base_model), torch.device("cpu"), torch.float32)


class EncoderCalls:
    """Counts forward calls of the VAE encoder and the text encoders once training has
    started, in steps and in total (the epochs' samples too)."""

    def __init__(self, trainer: LoraTrainer) -> None:
        self.per_step: list[int] = []
        self.calls = 0
        pipe = trainer.pipe
        encoders = [pipe.vae.encoder, pipe.text_encoder, getattr(pipe, "text_encoder_2", None)]
        for module in filter(None, encoders):
            module.register_forward_hook(self._count)
        batch, loss = trainer.batch, trainer.family.loss

        def counted_batch(*args: object) -> Batch:
            self.before = self.calls
            return batch(*args)

        def counted_loss(*args: object) -> torch.Tensor:
            value = loss(*args)
            self.per_step.append(self.calls - self.before)
            return value

        trainer.batch, trainer.family.loss = counted_batch, counted_loss

    def _count(self, *_: object) -> None:
        self.calls += 1


@pytest.mark.parametrize("family", FAMILIES)
def test_training_writes_checkpoints_that_load_and_change_outputs(tiny_bases, tmp_path, family):
    config = config_for(tiny_bases, family, caption_dropout_rate=0.25)
    trainer = LoraTrainer(config, family, micro_data(), tmp_path)
    encoders = EncoderCalls(trainer)
    results = trainer.train()
    assert [r.epoch for r in results] == [1, 2]
    assert encoders.per_step == [0, 0, 0, 0], "steps must use the cached encodings only"
    assert encoders.calls == 0, "samples draw from prompts encoded before the text encoders left"
    assert results[-1].samples is not None

    pipe = load_base(config)
    before = prediction(config, pipe)
    load_checkpoint(pipe, epoch_dir(trainer.run_dir, 2))
    after = prediction(config, pipe)
    assert not torch.allclose(before, after, atol=1e-4)
    assert (epoch_dir(trainer.run_dir, 2) / KOHYA_FILE).exists()


@pytest.mark.parametrize("family", FAMILIES)
def test_loss_falls_over_a_fixed_seed_run(tiny_bases, tmp_path, family):
    config = config_for(  # sample images only at the end: 20 renders took 2/3 of the time
        tiny_bases, family, num_train_epochs=20, learning_rate=1e-2, validation_epochs=20
    )
    losses = [r.mean_loss for r in LoraTrainer(config, family, micro_data(16), tmp_path).train()]
    # epoch means of the first epochs differ by ~0.3%: a 3% fall is learning, not noise
    assert np.mean(losses[-3:]) < 0.97 * np.mean(losses[:3]), losses


@pytest.mark.parametrize("family", FAMILIES)
def test_encodings_are_reused_from_memory_and_from_disk(tiny_bases, tmp_path, family):
    config = config_for(tiny_bases, family, cache_latents_to_disk=True, num_train_epochs=1)
    data = micro_data()
    latent_cache._MEMORY.clear()  # other tests encoded the same data
    first = LoraTrainer(config, family, data, tmp_path / "runs", tmp_path / "cache")
    assert first.cache_source == "encoded"
    assert len(list((tmp_path / "cache").glob("*.safetensors"))) == 1

    other_config = config.model_copy(update={"learning_rate": 1e-4})  # same base and data
    assert LoraTrainer(other_config, family, data, tmp_path / "runs").cache_source == "memory"

    latent_cache._MEMORY.clear()  # as in a new process
    again = LoraTrainer(config, family, data, tmp_path / "runs", tmp_path / "cache")
    assert again.cache_source == "disk"
    for name, tensor in first.encoded.prompts.items():
        torch.testing.assert_close(again.encoded.prompts[name], tensor)
    torch.testing.assert_close(again.encoded.latents[48][0], first.encoded.latents[48][0])


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_a_kohya_toml_trains_what_kohya_trains_and_its_file_loads_to_the_same_outputs(
    tiny_bases, tmp_path, family
):
    """networks.lora's modules (attention, proj_in/proj_out, feed-forward), exported under
    kohya's names, load through diffusers to what our own file gives."""
    config = config_for(tiny_bases, family, num_train_epochs=1, target_modules=KOHYA_UNET_TARGETS)
    trainer = LoraTrainer(config, family, micro_data(), tmp_path)
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 1)
    kohya = load_file(folder / KOHYA_FILE)
    assert all(k.startswith("lora_unet_") for k in kohya)
    for module in ("proj_in", "proj_out", "ff_net_0_proj", "ff_net_2", "attn2_to_k"):
        assert any(f"_{module}.lora_down" in k for k in kohya), module
    if family == "sdxl":
        assert any("_input_blocks_" in k for k in kohya), "SDXL kohya files use Stability names"

    pipe = load_base(config)
    pipe.load_lora_weights(folder, weight_name=DIFFUSERS_FILE, adapter_name="diffusers")
    from_diffusers = prediction(config, pipe)
    pipe.delete_adapters("diffusers")
    pipe.load_lora_weights(folder, weight_name=KOHYA_FILE, adapter_name="kohya")
    torch.testing.assert_close(prediction(config, pipe), from_diffusers)


def test_flux_comfy_file_applies_the_update_diffusers_applies(tiny_bases, tmp_path):
    """ComfyUI adds (alpha / rank) * up @ down to each fused BFL weight; that must equal
    what diffusers adds to the separate q/k/v/out weights when it fuses the peft file."""
    config = config_for(tiny_bases, "flux", num_train_epochs=1, lora_alpha=8)
    trainer = LoraTrainer(config, "flux", micro_data(), tmp_path)
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 1)

    pipe = load_base(config)
    base = {k: v.clone() for k, v in pipe.transformer.state_dict().items()}
    pipe.load_lora_weights(folder, weight_name=DIFFUSERS_FILE)
    pipe.fuse_lora()
    fused = pipe.transformer.state_dict()

    def diffusers_update(module: str) -> torch.Tensor:
        key = f"{module}.base_layer.weight" if f"{module}.base_layer.weight" in fused else None
        key = key or f"{module}.weight"
        return fused[key] - base[f"{module}.weight"]

    comfy = load_file(folder / KOHYA_FILE)

    def comfy_update(name: str) -> torch.Tensor:
        down, up = (
            comfy[f"lora_unet_{name}.lora_down.weight"],
            comfy[f"lora_unet_{name}.lora_up.weight"],
        )
        return comfy[f"lora_unet_{name}.alpha"] / down.shape[0] * up @ down

    inner = 16  # the tiny transformer: 2 heads of 8
    qkv = comfy_update("double_blocks_0_img_attn_qkv").split(inner)
    for part, projection in zip(qkv, ("to_q", "to_k", "to_v"), strict=True):
        expected = diffusers_update(f"transformer_blocks.0.attn.{projection}")
        torch.testing.assert_close(part, expected, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(
        comfy_update("double_blocks_0_img_attn_proj"),
        diffusers_update("transformer_blocks.0.attn.to_out.0"),
        atol=1e-5,
        rtol=1e-4,
    )
    linear1 = comfy_update("single_blocks_0_linear1")
    assert linear1.shape[0] == 3 * inner + 4 * inner  # q, k, v and the MLP input
    for index, projection in enumerate(("to_q", "to_k", "to_v")):
        expected = diffusers_update(f"single_transformer_blocks.0.attn.{projection}")
        part = linear1[index * inner : (index + 1) * inner]
        torch.testing.assert_close(part, expected, atol=1e-5, rtol=1e-4)
    assert linear1[3 * inner :].abs().max() == 0  # no LoRA on the MLP


def test_sides_keep_whole_cells_and_suit_the_model():
    flux = exact_sides((512, 768, 1024), model_multiple=16)
    assert [s.side for s in flux] == [528, 768, 1008]
    assert flux[1].explanation() is None
    assert "512 -> 528" in flux[0].explanation() and "multiple of 24" in flux[0].explanation()
    sdxl = exact_sides((512, 768, 1024), model_multiple=32)
    assert [s.side for s in sdxl] == [480, 768, 1056]
    assert all(s.side % 24 == 0 and s.side % 32 == 0 for s in sdxl)


def test_upscaling_makes_every_cell_an_exact_block():
    images = micro_data(2).images
    big = upscale(images, 32)
    assert big.shape == (2, 3, 768, 768)
    blocks = big.reshape(2, 3, 24, 32, 24, 32)
    assert torch.equal(blocks.amin(dim=(3, 5)), blocks.amax(dim=(3, 5)))
    expected = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1
    torch.testing.assert_close(blocks[:, :, :, 0, :, 0], expected)


def test_a_hub_id_that_is_not_cached_offline_is_named_in_the_error(tmp_path):
    config = TrainingConfig.model_validate(
        tiny_family_config(Path("someone/not-downloaded-sdxl"), "sdxl")
    )
    with pytest.raises(FileNotFoundError, match="'someone/not-downloaded-sdxl' is not a local"):
        LoraTrainer(config, "sdxl", micro_data(), tmp_path)


needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@needs_cuda
def test_fp16_sdxl_trains_through_the_loss_scaler(tiny_bases, tmp_path):
    config = config_for(tiny_bases, "sdxl", mixed_precision="fp16")
    trainer = LoraTrainer(config, "sdxl", micro_data(), tmp_path)
    assert trainer.denoiser.dtype == torch.float16 and trainer.step.scaler.is_enabled()
    results = trainer.train()
    assert all(np.isfinite(r.mean_loss) for r in results)
    assert all(p.dtype == torch.float32 for p in trainer.step.params)


@needs_cuda
def test_bf16_flux_trains_with_float32_lora_weights(tiny_bases, tmp_path):
    config = config_for(tiny_bases, "flux", mixed_precision="bf16")
    trainer = LoraTrainer(config, "flux", micro_data(), tmp_path)
    assert trainer.denoiser.dtype == torch.bfloat16
    results = trainer.train()
    assert all(np.isfinite(r.mean_loss) for r in results)
    assert all(p.dtype == torch.float32 for p in trainer.step.params)


@needs_cuda
def test_adamw8bit_trains_on_a_gpu(tiny_bases, tmp_path):
    pytest.importorskip("bitsandbytes")
    config = config_for(tiny_bases, "sd15", optimizer="adamw8bit", num_train_epochs=6)
    trainer = LoraTrainer(config, "sd15", micro_data(), tmp_path)
    assert type(trainer.step.optimizer).__name__ == "AdamW8bit"
    losses = [r.mean_loss for r in trainer.train()]
    assert np.mean(losses[-2:]) < np.mean(losses[:2])


def test_each_family_is_scored_on_its_own_sampler_grid_unless_told_otherwise(tiny_bases):
    """One grid for all (guidance 1/3 at 6/10 steps) under-sampled SDXL and FLUX-dev."""
    grid = {
        family: EvaluationSettings().for_family(family_for(config_for(tiny_bases, family)))
        for family in FAMILIES
    }
    assert all(min(grid[f].steps) >= 20 for f in FAMILIES)
    assert min(grid["sd15"].guidance_scales) > 1 and min(grid["sdxl"].guidance_scales) > 1
    assert grid["flux"].guidance_scales == [3.5]  # FLUX-dev's embedded guidance
    assert max(EvaluationSettings().for_family(PixelFamily()).steps) <= 10
    chosen = EvaluationSettings(guidance_scales=[2.0], steps=[4])
    assert chosen.for_family(family_for(config_for(tiny_bases, "sdxl"))).steps == [4]


def test_sd15_loads_without_its_safety_checker_and_never_reads_it(tiny_bases, tmp_path):
    """A hub SD 1.5 folder lists a safety checker and its feature extractor: neither is
    downloaded (`NOT_LOADED`) nor loaded, so no sample is blacked out by a false positive."""
    base = tmp_path / "sd15"
    shutil.copytree(tiny_bases["sd15"], base)
    index = json.loads((base / "model_index.json").read_text())
    index["safety_checker"] = ["stable_diffusion", "StableDiffusionSafetyChecker"]
    index["feature_extractor"] = ["transformers", "CLIPImageProcessor"]
    index["requires_safety_checker"] = True
    (base / "model_index.json").write_text(json.dumps(index))  # and neither folder exists
    config = config_for({"sd15": base}, "sd15")
    pipe = family_for(config).load(base, torch.device("cpu"), torch.float32)
    assert pipe.safety_checker is None and pipe.feature_extractor is None
    assert {"safety_checker/*", "feature_extractor/*"} <= set(NOT_LOADED)


def test_a_base_model_is_hashed_once_until_its_file_changes(tiny_bases, tmp_path, monkeypatch):
    monkeypatch.setenv("BESPOKE_HOME", str(tmp_path / "runtime"))
    base = tmp_path / "sd15"
    shutil.copytree(tiny_bases["sd15"], base)
    reads = []
    digest = hashlib.file_digest
    monkeypatch.setattr(hashlib, "file_digest", lambda f, a: reads.append(f.name) or digest(f, a))
    first = denoiser_sha256(base)
    assert reads and denoiser_sha256(base) == first and len(reads) == 1  # read once
    weights = next((base / "unet").glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes() + b" ")  # a changed file is hashed again
    assert denoiser_sha256(base) != first and len(reads) == 2


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_256_px_trains_at_the_nearest_whole_cell_side_the_unet_takes(tiny_bases, family):
    """264 = 24 x 11 is 33 latents under SD's 8x VAE, no multiple of the UNet's 2^levels:
    diffusers' UNet upsamples to its skip connections' sizes, so it denoises them to the
    same shape (shown on an odd latent side of the tiny UNet)."""
    config = config_for(tiny_bases, family, resolution=(256,))
    pipe = load_base(config)
    [side] = family_for(config).sides(pipe, config.resolution)
    assert side.side == 264 and "256 -> 264" in side.explanation()
    assert prediction(config, pipe, latent_side=33).shape[-2:] == (33, 33)


def test_flux_noise_levels_follow_the_timestep_sampling_kohya_names(tiny_bases):
    """Not one uniform draw whatever the config says: each of kohya's schedules, with the
    Replicate trainer's sigmoid as the default."""

    def levels(**settings: object) -> torch.Tensor:
        config = config_for(tiny_bases, "flux", **settings)
        return noise_levels(config, 20_000, 1024, torch.Generator().manual_seed(0))

    uniform, sigmoid = levels(timestep_sampling="uniform"), levels()
    assert abs(uniform.mean() - 0.5) < 0.01 and abs(uniform.std() - 12**-0.5) < 0.01
    assert abs(sigmoid.median() - 0.5) < 0.01 and sigmoid.std() < 0.22  # mid levels
    # kohya's shift, t' = 3t / (1 + 2t), moves the median sigmoid level 0.5 to 0.75
    assert abs(levels(timestep_sampling="shift").median() - 0.75) < 0.01
    assert abs(levels(timestep_sampling="sigma").median() - 0.75) < 0.01  # uniform, shifted
    # flux_shift grows with the image: 1024 tokens (512 px) shift less than 4096 (1024 px)
    config = config_for(tiny_bases, "flux", timestep_sampling="flux_shift")
    small, large = (
        noise_levels(config, 20_000, tokens, torch.Generator().manual_seed(0)).median()
        for tokens in (1024, 4096)
    )
    assert 0.5 < small < large and abs(large - math.exp(1.15) / (math.exp(1.15) + 1)) < 0.01


def test_a_loaded_checkpoint_draws_without_its_dropout(tiny_bases, tmp_path):
    """peft adds LoRA layers in training mode; loaded for scoring or drawing, a LoRA with
    lora_dropout must not drop anything (found by `bespoke bench gpu-check`: the kohya
    file, which carries no dropout, gave other outputs than our own)."""
    config = config_for(tiny_bases, "sdxl", num_train_epochs=1, lora_dropout=0.3)
    trainer = LoraTrainer(config, "sdxl", micro_data(), tmp_path)
    trainer.train()
    pipe = load_base(config)
    load_checkpoint(pipe, epoch_dir(trainer.run_dir, 1))
    torch.testing.assert_close(prediction(config, pipe), prediction(config, pipe), rtol=0, atol=0)
