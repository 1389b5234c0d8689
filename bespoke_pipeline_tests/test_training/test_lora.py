import shutil
from dataclasses import replace

import pytest
import torch
from safetensors.torch import load_file, save_file

from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.training.base_weights import encoders_identity
from bespoke_pipeline.training.checkpoint_weights import load_checkpoint, non_finite_tensors
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    KOHYA_FILE,
    STATE_FILE,
    completed_epochs,
    epoch_dir,
    read_sidecar,
)
from bespoke_pipeline.training.latent_cache import cache_key
from bespoke_pipeline.training.lora import LoraTrainer
from bespoke_pipeline_tests.test_training.conftest import micro_config, micro_data

PROMPT = ["TOK bespoke, 24x24 pixel grid portrait, purple solid background"]


def unet_output(pipe: PixelPunkPipeline) -> torch.Tensor:
    sample = torch.randn(1, 3, 24, 24, generator=torch.Generator().manual_seed(0))
    ids, mask = pipe.tokenize(PROMPT)
    with torch.no_grad():
        return pipe.unet(
            sample, torch.tensor([500]), pipe.encode(ids, mask), encoder_attention_mask=mask
        ).sample


def test_micro_config_writes_a_loadable_checkpoint_per_epoch(tiny_base, tmp_path):
    data = micro_data()
    trainer = LoraTrainer(micro_config(tiny_base), "micro", data, tmp_path)
    results = trainer.train()
    assert [r.epoch for r in results] == completed_epochs(trainer.run_dir) == [1, 2]
    assert all(r.samples is not None and r.samples.size == (3 * 96 + 8, 96 + 4) for r in results)

    pipe = PixelPunkPipeline.from_pretrained(tiny_base)
    before = unet_output(pipe)
    outputs = []
    for epoch in (1, 2):
        folder = epoch_dir(trainer.run_dir, epoch)
        pipe.load_lora_weights(folder, weight_name=DIFFUSERS_FILE, adapter_name=f"e{epoch}")
        outputs.append(unet_output(pipe))
        pipe.delete_adapters(f"e{epoch}")
        sidecar = read_sidecar(folder)
        assert sidecar["epoch"] == epoch and sidecar["step"] == epoch * 2
        assert sidecar["dataset_sha256"] == data.sha256
        assert sidecar["config"]["lora_rank"] == 4 and len(sidecar["base_model_sha256"]) == 64
    assert not torch.allclose(outputs[0], before, atol=1e-5)
    assert not torch.allclose(outputs[1], outputs[0], atol=1e-5)
    assert torch.allclose(unet_output(pipe), before)  # adapters removed cleanly
    states = [(epoch_dir(trainer.run_dir, e) / STATE_FILE).exists() for e in (1, 2)]
    assert states == [False, True]  # only the newest resume state is kept


def test_loss_falls_over_a_fixed_seed_run(tiny_base, tmp_path):
    config = micro_config(  # sample images only at the end: the losses are what counts here
        tiny_base, num_train_epochs=12, learning_rate=1e-2, lora_rank=8, validation_epochs=12
    )
    losses = [r.mean_loss for r in LoraTrainer(config, "micro", micro_data(32), tmp_path).train()]
    assert sum(losses[-3:]) / 3 < 0.9 * sum(losses[:3]) / 3, losses


@pytest.mark.parametrize("text_encoder", [{}, {"text_encoder_lr": 5e-3}], ids=["unet", "unet+te"])
def test_a_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(
    tiny_base, tmp_path, text_encoder
):
    config = micro_config(tiny_base, num_train_epochs=3, lora_dropout=0.1, **text_encoder)
    data = micro_data()
    straight_dir = LoraTrainer(config, "micro", data, tmp_path / "straight").run_dir
    LoraTrainer(config, "micro", data, tmp_path / "straight").train()

    class Killed(Exception):
        pass

    def kill_after_first(result):
        if result.epoch == 1:
            raise Killed

    killed = LoraTrainer(config, "micro", data, tmp_path / "resumed")
    with pytest.raises(Killed):
        killed.train(on_epoch=kill_after_first)
    (epoch_dir(killed.run_dir, 2).with_name("epoch-0002.tmp")).mkdir()  # half-written
    assert completed_epochs(killed.run_dir) == [1]
    resumed = LoraTrainer(config, "micro", data, tmp_path / "resumed").train()
    assert [r.epoch for r in resumed] == [2, 3]

    straight = load_file(epoch_dir(straight_dir, 3) / DIFFUSERS_FILE)
    again = load_file(epoch_dir(killed.run_dir, 3) / DIFFUSERS_FILE)
    assert straight.keys() == again.keys()
    for key in straight:
        torch.testing.assert_close(again[key], straight[key], rtol=1e-4, atol=1e-6)


def test_a_finished_run_is_not_retrained(tiny_base, tmp_path):
    config, data = micro_config(tiny_base), micro_data()
    trainer = LoraTrainer(config, "micro", data, tmp_path)
    trainer.train()
    stamp = (epoch_dir(trainer.run_dir, 2) / DIFFUSERS_FILE).stat().st_mtime_ns
    assert LoraTrainer(config, "micro", data, tmp_path).train() == []
    assert (epoch_dir(trainer.run_dir, 2) / DIFFUSERS_FILE).stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    "modules",
    [("to_k", "to_q", "to_v", "to_out.0"), ("to_k", "to_q", "to_v", "to_out.0", "conv1", "conv2")],
    ids=["attention", "attention+conv"],
)
def test_kohya_export_loads_through_diffusers_to_the_same_weights(tiny_base, tmp_path, modules):
    config = micro_config(tiny_base, num_train_epochs=1, target_modules=modules)
    trainer = LoraTrainer(config, "micro", micro_data(), tmp_path)
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 1)
    kohya = load_file(folder / KOHYA_FILE)
    assert all(k.startswith("lora_unet_") for k in kohya)
    assert any("_resnets_" in k for k in kohya) == ("conv1" in modules)
    assert {k.rsplit(".", 2)[-2] if k.endswith(".weight") else "alpha" for k in kohya} == {
        "lora_down",
        "lora_up",
        "alpha",
    }

    pipe = PixelPunkPipeline.from_pretrained(tiny_base)
    pipe.load_lora_weights(folder, weight_name=DIFFUSERS_FILE, adapter_name="diffusers")
    from_diffusers = unet_output(pipe)
    pipe.delete_adapters("diffusers")
    pipe.load_lora_weights(folder, weight_name=KOHYA_FILE, adapter_name="kohya")
    torch.testing.assert_close(unet_output(pipe), from_diffusers)


def test_adamw8bit_without_cuda_says_what_to_do(tiny_base, tmp_path):
    with pytest.raises(ValueError, match="adamw8bit needs a CUDA GPU"):
        LoraTrainer(micro_config(tiny_base, optimizer="adamw8bit"), "micro", micro_data(), tmp_path)


def encoder_output(pipe: PixelPunkPipeline) -> torch.Tensor:
    ids, mask = pipe.tokenize(PROMPT)
    with torch.no_grad():
        return pipe.encode(ids, mask)


def test_a_text_encoder_lora_trains_the_words_and_loads_with_the_checkpoint(tiny_base, tmp_path):
    config = micro_config(tiny_base, num_train_epochs=2, text_encoder_lr=5e-3)
    trainer = LoraTrainer(config, "micro", micro_data(), tmp_path)
    assert not trainer.encoded.prompts  # encoded every step, through the trained encoder
    trainer.train()
    saved = load_file(epoch_dir(trainer.run_dir, 2) / DIFFUSERS_FILE)
    text_keys = [k for k in saved if k.startswith("text_encoder.")]
    assert any("token_embedding" in k for k in text_keys)
    assert any("q_proj" in k for k in text_keys) and any("fc2" in k for k in text_keys)

    pipe = PixelPunkPipeline.from_pretrained(tiny_base)
    base = encoder_output(pipe)
    pipe.load_lora_weights(epoch_dir(trainer.run_dir, 2), weight_name=DIFFUSERS_FILE)
    trained = encoder_output(pipe)
    assert not torch.allclose(trained, base, atol=1e-4)  # the words mean something new
    trainer.text_encoders["text_encoder"].eval()
    torch.testing.assert_close(encoder_output(trainer.pipe), trained)


def test_a_frozen_text_encoder_is_run_once_and_cached(tiny_base, tmp_path):
    trainer = LoraTrainer(micro_config(tiny_base), "micro", micro_data(), tmp_path)
    assert set(trainer.encoded.prompts) == {"context", "mask"}
    assert not trainer.text_encoders


def test_a_diverging_loss_stops_training_and_says_what_to_change(tiny_base, tmp_path):
    trainer = LoraTrainer(micro_config(tiny_base), "micro", micro_data(), tmp_path)

    def nan_loss(*args: object) -> torch.Tensor:
        return (trainer.step.params[0] * float("nan")).sum()

    trainer.step.family.loss = nan_loss
    with pytest.raises(FloatingPointError, match="loss became nan at step .* Lower learning_rate"):
        trainer.train()
    assert completed_epochs(trainer.run_dir) == []


def test_non_finite_weights_are_named_in_the_checkpoint(tiny_base, tmp_path):
    trainer = LoraTrainer(
        micro_config(tiny_base, num_train_epochs=1), "micro", micro_data(), tmp_path
    )
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 1)
    assert non_finite_tensors(folder) == []
    weights = load_file(folder / DIFFUSERS_FILE)
    key = next(iter(weights))
    weights[key] = torch.full_like(weights[key], float("inf"))
    save_file(weights, folder / DIFFUSERS_FILE)
    assert non_finite_tensors(folder) == [f"epoch-0001/{DIFFUSERS_FILE}: {key}"]


def test_the_run_says_what_it_will_do_before_the_first_step(tiny_base, tmp_path):
    said: list[str] = []
    config = micro_config(tiny_base, num_train_epochs=3)
    LoraTrainer(config, "micro", micro_data(8), tmp_path, log=said.append)
    assert said[-1].startswith(
        "training micro: 8 images at 24 px, batch 4, 2 batches per epoch, 3 epochs, 6 steps, "
        "text encoder frozen, encodings "
    )


def test_the_encoding_cache_key_covers_precision_and_text_encoders(tiny_base, tmp_path):
    trainer = LoraTrainer(micro_config(tiny_base), "micro", micro_data(), tmp_path)
    encoders = encoders_identity(tiny_base)

    def key(**changes: object) -> str:
        parts = {"encoders": encoders, "dtype": torch.float32, "tokens": 225, **changes}
        return cache_key(
            trainer.family, trainer.base_sha256, parts["encoders"], parts["dtype"],
            trainer.data, trainer.sides, parts["tokens"],
        )  # fmt: skip

    assert len({key(), key(dtype=torch.bfloat16), key(tokens=75), key(tokens=None)}) == 4
    copy = tmp_path / "copy"
    shutil.copytree(tiny_base, copy)
    assert encoders_identity(copy) == encoders
    vocab = copy / "tokenizer" / "tokenizer.json"
    vocab.write_text(vocab.read_text().replace('"[UNK]"', '"[unk]"'))
    assert key(encoders=encoders_identity(copy)) != key()


def test_a_damaged_checkpoint_is_named_and_trained_again_to_the_same_weights(tiny_base, tmp_path):
    config, data = micro_config(tiny_base), micro_data()
    trainer = LoraTrainer(config, "micro", data, tmp_path)
    trainer.train()
    first = epoch_dir(trainer.run_dir, 1) / DIFFUSERS_FILE
    written = {k: v.clone() for k, v in load_file(first).items()}  # not a view of the file
    first.write_bytes(first.read_bytes()[:-100])  # cut short, as by a full disk

    said: list[str] = []
    again = LoraTrainer(config, "micro", data, tmp_path, log=said.append).train()
    assert [r.epoch for r in again] == [1, 2]  # epoch 1 had no state left: from the start
    assert any(str(first.parent) in line and "bytes" in line for line in said)
    for key, value in load_file(first).items():
        torch.testing.assert_close(value, written[key])


def test_a_word_the_base_never_saw_gets_a_row_the_lora_trains_and_the_checkpoint_brings(
    tiny_base, tmp_path
):
    data = micro_data()
    captions = [f"{c}, jester hat" if i % 2 else c for i, c in enumerate(data.captions)]
    data = replace(data, captions=captions, sha256="micro-jester")
    config = micro_config(tiny_base, num_train_epochs=2, text_encoder_lr=5e-3)
    trainer = LoraTrainer(config, "micro", data, tmp_path)
    assert {"jester", "hat"} <= set(trainer.new_words)
    trainer.train()
    folder = epoch_dir(trainer.run_dir, 2)
    assert read_sidecar(folder)["added_words"] == list(trainer.new_words)

    pipe = PixelPunkPipeline.from_pretrained(tiny_base)
    unknown = pipe.tokenize(["jester"])[0][0, 1].item()
    load_checkpoint(pipe, folder)
    known = pipe.tokenize(["jester"])[0][0, 1].item()
    assert unknown == pipe.tokenizer.unk_token_id and known != unknown
    # the row was trained away from where it started, the mean of the base's rows
    fresh = PixelPunkPipeline.from_pretrained(tiny_base)
    fresh.use_words(trainer.new_words)
    with torch.no_grad():
        trained, started = (
            p.text_encoder.get_input_embeddings()(torch.tensor([known])) for p in (pipe, fresh)
        )
    base_rows = fresh.text_encoder.get_input_embeddings().weight[: fresh.base_vocabulary_size]
    assert torch.allclose(started, base_rows.mean(dim=0))
    assert not torch.allclose(trained, started, atol=1e-4)
    # another checkpoint without new words gives the base vocabulary back
    plain = LoraTrainer(micro_config(tiny_base), "plain", micro_data(), tmp_path)
    plain.train()
    load_checkpoint(pipe, epoch_dir(plain.run_dir, 2))
    assert len(pipe.tokenizer) == pipe.base_vocabulary_size
    assert pipe.tokenize(["jester"])[0][0, 1].item() == unknown


def test_steps_are_trained_exactly_and_the_last_epoch_stops_part_way(tiny_base, tmp_path):
    """8 images in batches of 4 is 2 steps an epoch: 5 steps are 3 epochs, the last cut to
    one step, and the schedule spans 5 (whole epochs would train 6)."""
    config = micro_config(tiny_base, num_train_epochs=None, steps=5, lr_scheduler="linear")
    trainer = LoraTrainer(config, "micro", micro_data(), tmp_path)
    results = trainer.train()
    assert [r.step for r in results] == [2, 4, 5]
    assert read_sidecar(epoch_dir(trainer.run_dir, 3))["step"] == 5
    assert trainer.step.lr_scheduler.last_epoch == 5
    assert trainer.step.lr_scheduler.get_last_lr()[0] == 0  # a linear decay ends at 0
