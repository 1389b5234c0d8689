"""The settings artists know from kohya's sd-scripts, on tiny random SD 1.5 / SDXL models:
long captions read whole, shuffled captions, multires noise, restarts, the text encoder
trained and exported, unfused scoring, exact resume state."""

from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file

from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.checkpoints import DIFFUSERS_FILE, KOHYA_FILE, STATE_FILE, epoch_dir
from bespoke_pipeline.training.data import shuffled_caption
from bespoke_pipeline.training.families import family_for
from bespoke_pipeline.training.families.clip_windows import window_ids
from bespoke_pipeline.training.families.ddpm import multires_noise, training_noise
from bespoke_pipeline.training.lora import LoraTrainer
from bespoke_pipeline.training.step import TrainingStep
from bespoke_pipeline_tests.test_training.conftest import micro_data
from bespoke_pipeline_tests.test_training.test_gpu_families import (
    EncoderCalls,
    config_for,
    load_base,
    prediction,
)

CAPTION = micro_data(1).captions[0]


def content_tokens(ids: torch.Tensor, tokenizer) -> list[int]:
    special = {tokenizer.bos_token_id, tokenizer.eos_token_id, tokenizer.pad_token_id}
    return [t for t in ids.flatten().tolist() if t not in special]


def test_a_long_caption_reaches_the_text_encoder_whole(tiny_bases):
    pipe = load_base(config_for(tiny_bases, "sd15"))
    tokenizer = pipe.tokenizer
    words = tokenizer(CAPTION, add_special_tokens=False).input_ids
    assert 75 < len(words) <= 225, "the demo captions are longer than one CLIP window"

    whole = window_ids(tokenizer, [CAPTION], 225)
    assert whole.shape == (1, 3, 77)
    assert content_tokens(whole, tokenizer) == words
    cut = window_ids(tokenizer, [CAPTION], 75)
    assert content_tokens(cut, tokenizer) == words[:75]


def test_one_window_encodes_exactly_as_diffusers_does(tiny_bases):
    config = config_for(tiny_bases, "sd15", max_token_length=75)
    pipe = load_base(config)
    ours = family_for(config).encode_prompts(pipe, [CAPTION])["embeds"]
    theirs, _ = pipe.encode_prompt(CAPTION, "cpu", 1, do_classifier_free_guidance=False)
    torch.testing.assert_close(ours, theirs)


@pytest.mark.parametrize("family", ["sd15", "sdxl"])
def test_words_past_the_first_window_change_the_conditioning(tiny_bases, family):
    """The end of a caption (skin, collar, accessories, facing) matters at 225 tokens and
    is cut at 75, as in kohya."""
    parts = CAPTION.split(", ")
    changed = ", ".join([*parts[:-1], "facing left"])
    for tokens, differs in ((225, True), (75, False)):
        config = config_for(tiny_bases, family, max_token_length=tokens)
        pipe = load_base(config)
        embeds = family_for(config).encode_prompts(pipe, [CAPTION, changed])["embeds"]
        assert (not torch.allclose(embeds[0], embeds[1])) == differs, tokens


def test_shuffle_keeps_the_leading_parts_and_reorders_the_rest():
    generator = torch.Generator().manual_seed(0)
    parts = CAPTION.split(", ")
    shuffled = [shuffled_caption(CAPTION, 1, generator).split(", ") for _ in range(5)]
    assert all(s[0] == parts[0] and sorted(s) == sorted(parts) for s in shuffled)
    assert len({tuple(s) for s in shuffled}) > 1


def test_shuffled_captions_are_encoded_every_step_and_train_reproducibly(tiny_bases, tmp_path):
    config = config_for(tiny_bases, "sd15", shuffle_caption=True, keep_tokens=1)
    trainer = LoraTrainer(config, "sd15", micro_data(), tmp_path / "a")
    encoders = EncoderCalls(trainer)
    losses = [r.mean_loss for r in trainer.train()]
    assert all(calls > 0 for calls in encoders.per_step)
    again = LoraTrainer(config, "sd15", micro_data(), tmp_path / "b").train()
    assert [r.mean_loss for r in again] == losses


def test_multires_noise_is_unit_noise_with_coarse_structure():
    plain = torch.randn(8, 4, 32, 32, generator=torch.Generator().manual_seed(0))
    pyramid = multires_noise(plain.clone(), 6, 0.3, torch.Generator().manual_seed(1))
    assert abs(pyramid.std().item() - 1) < 1e-4

    def coarse_share(noise: torch.Tensor) -> float:
        """Variance of 8x8 block means: 1/64 of the variance for white noise."""
        return torch.nn.functional.avg_pool2d(noise, 8).var().item() / noise.var().item()

    # level 0 is a second full-resolution draw, so the coarse share rises less than the
    # levels' weights alone suggest (1.42 here)
    assert coarse_share(plain) < 1.1 / 64 and coarse_share(pyramid) > 1.3 / 64
    again = multires_noise(plain.clone(), 6, 0.3, torch.Generator().manual_seed(1))
    assert torch.equal(again, pyramid)


def kohya_training_noise(shape, offset: float, iterations: int, discount: float, draws):
    """kohya's `get_noise_noisy_latents_and_timesteps` with `apply_noise_offset` and
    `pyramid_noise_like` as sd-scripts writes them, its random draws taken from `draws`."""
    noise = torch.randn(shape, generator=draws)
    noise = noise + offset * torch.randn((shape[0], shape[1], 1, 1), generator=draws)
    b, c, w, h = noise.shape
    u = torch.nn.Upsample(size=(w, h), mode="bilinear")
    for i in range(iterations):
        r = torch.rand((), generator=draws).item() * 2 + 2
        wn, hn = max(1, int(w / (r**i))), max(1, int(h / (r**i)))
        noise += u(torch.randn(b, c, wn, hn, generator=draws)) * discount**i
        if wn == 1 or hn == 1:
            break
    return noise / noise.std()


def test_offset_and_pyramid_noise_are_kohyas(tiny_bases):
    """The artist's settings: 6 levels, discount 0.3, offset 0.05. Level 0 adds a second
    full-resolution draw and the offset goes in before the rescaling: without either,
    a flat background's colour carries about twice the low-frequency noise."""
    config = config_for(
        tiny_bases, "sd15", noise_offset=0.05, multires_noise_iterations=6,
        multires_noise_discount=0.3,
    )  # fmt: skip
    shape = torch.Size((4, 4, 32, 32))
    ours = training_noise(shape, config, torch.Generator().manual_seed(5))
    theirs = kohya_training_noise(shape, 0.05, 6, 0.3, torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours, theirs)


def test_cosine_with_restarts_restarts_the_configured_number_of_times(tiny_bases):
    config = config_for(
        tiny_bases, "sd15", lr_scheduler="cosine_with_restarts", lr_scheduler_num_cycles=3
    )
    pipe = load_base(config)
    family = family_for(config)
    step = TrainingStep(
        family,
        pipe.unet,
        family.training_schedule(pipe.scheduler.config),
        config,
        total_steps=90,
        device=torch.device("cpu"),
    )
    rates = []
    for _ in range(90):
        rates.append(step.lr_scheduler.get_last_lr()[0])
        step.optimizer.step()
        step.lr_scheduler.step()
    restarts = sum(1 for before, now in zip(rates, rates[1:], strict=False) if now > before)
    assert restarts == 2, rates  # three cycles: two jumps back to the peak


def test_sd15_trains_its_text_encoder_and_exports_it_the_kohya_way(tiny_bases, tmp_path):
    config = config_for(tiny_bases, "sd15", num_train_epochs=1, text_encoder_lr=1e-3)
    trainer = LoraTrainer(config, "sd15", micro_data(), tmp_path)
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 1)
    kohya = load_file(folder / KOHYA_FILE)
    assert any(k.startswith("lora_te_text_model_encoder_layers_0_self_attn_q_proj") for k in kohya)
    with safe_open(folder / KOHYA_FILE, "pt") as handle:
        metadata = handle.metadata()
    assert metadata["modelspec.architecture"] == "stable-diffusion-v1/lora"
    assert metadata["ss_text_encoder_lr"] == "0.001"

    pipe = load_base(config)
    prompt = [CAPTION]
    pipe.load_lora_weights(folder, weight_name=DIFFUSERS_FILE, adapter_name="diffusers")
    from_diffusers = family_for(config).encode_prompts(pipe, prompt)["embeds"]
    pipe.delete_adapters("diffusers")
    pipe.load_lora_weights(folder, weight_name=KOHYA_FILE, adapter_name="kohya")
    from_kohya = family_for(config).encode_prompts(pipe, prompt)["embeds"]
    torch.testing.assert_close(from_kohya, from_diffusers)


def test_scoring_checkpoints_leaves_the_base_weights_bit_identical(tiny_bases, tmp_path):
    config = config_for(tiny_bases, "sd15", mixed_precision="bf16")
    trainer = LoraTrainer(config, "sd15", micro_data(), tmp_path)
    trainer.train()
    pipe = family_for(config).load(Path(config.base_model), torch.device("cpu"), torch.bfloat16)
    assert pipe.unet.dtype == torch.bfloat16, "the load dtype reaches the weights"
    base = {k: v.clone() for k, v in pipe.unet.state_dict().items()}
    outputs = []
    for epoch in (1, 2, 1):
        load_checkpoint(pipe, epoch_dir(trainer.run_dir, epoch))
        outputs.append(prediction(config, pipe))
    torch.testing.assert_close(outputs[0], outputs[2], rtol=0, atol=0)
    pipe.unload_lora_weights()
    after = pipe.unet.state_dict()
    assert all(torch.equal(after[k], v) for k, v in base.items())


def test_the_saved_state_holds_the_cuda_generators_where_a_gpu_trains(
    tiny_bases, tmp_path, monkeypatch
):
    """CPU stand-in for a GPU: LoRA dropout on a GPU draws from CUDA's generators, so a
    resumed run must restore them."""
    config = config_for(tiny_bases, "sd15", num_train_epochs=1, lora_dropout=0.1)
    trainer = LoraTrainer(config, "sd15", micro_data(), tmp_path)
    cuda_state = [torch.arange(16, dtype=torch.uint8)]
    restored: list[list[torch.Tensor]] = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: cuda_state)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", restored.append)
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 1)
    saved = torch.load(folder / STATE_FILE, weights_only=True)
    assert torch.equal(saved["cuda_rng"][0], cuda_state[0])
    trainer._resume(folder)
    assert torch.equal(restored[0][0], cuda_state[0])


def test_a_single_file_checkpoint_trains_like_its_diffusers_folder(tiny_bases, tmp_path):
    """A1111/ComfyUI users keep SD 1.5 as one .safetensors in the original layout."""
    from bespoke_pipeline_tests.single_file import write_single_file

    folder = tiny_bases["sd15"]
    single = write_single_file(
        load_base(config_for(tiny_bases, "sd15")), tmp_path / "sd15.safetensors"
    )
    from_folder = config_for(tiny_bases, "sd15", num_train_epochs=1)
    from_file = from_folder.model_copy(
        update={"base_model": str(single), "base_model_config": str(folder)}
    )
    losses = [
        LoraTrainer(config, "sd15", micro_data(), tmp_path / name).train()[0].mean_loss
        for name, config in (("folder", from_folder), ("file", from_file))
    ]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)


def test_sdxl_trains_both_text_encoders_and_exports_them_as_te1_and_te2(tiny_bases, tmp_path):
    config = config_for(tiny_bases, "sdxl", num_train_epochs=1, text_encoder_lr=1e-3)
    trainer = LoraTrainer(config, "sdxl", micro_data(), tmp_path)
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 1)
    saved = load_file(folder / DIFFUSERS_FILE)
    assert any(k.startswith("text_encoder.") for k in saved)
    assert any(k.startswith("text_encoder_2.") for k in saved)
    kohya = load_file(folder / KOHYA_FILE)
    assert any(k.startswith("lora_te1_text_model_encoder_layers_0") for k in kohya)
    assert any(k.startswith("lora_te2_text_model_encoder_layers_0") for k in kohya)

    pipe = load_base(config)
    base = family_for(config).encode_prompts(pipe, [CAPTION])
    load_checkpoint(pipe, folder)
    trained = family_for(config).encode_prompts(pipe, [CAPTION])
    assert not torch.allclose(trained["embeds"], base["embeds"], atol=1e-4)
    assert not torch.allclose(trained["pooled"], base["pooled"], atol=1e-4)
