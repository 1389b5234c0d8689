import dataclasses

import pytest
import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

from bespoke_pipeline.cli import main
from bespoke_pipeline.evaluation.base_model_card import SAMPLES_FILE, export_base_model
from bespoke_pipeline.evaluation.base_quality import REPORTED
from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.models.pixel.pretrain import OPTIMIZER_FILE, Pretrainer, PretrainSettings
from bespoke_pipeline.models.pixel.tokenizer import unknown_words
from bespoke_pipeline_tests.punks import needs_punks

TINY = PretrainSettings(corpus_size=32, batch_size=4, warmup_steps=2, save_every=2)


def weights(trainer: Pretrainer) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in trainer.pipe.unet.state_dict().items()}


def test_pretraining_resumes_where_it_stopped_with_the_same_result(tmp_path):
    straight = Pretrainer(tmp_path / "straight", TINY)
    straight.run(max_steps=5, max_seconds=600)

    first = Pretrainer(tmp_path / "resumed", TINY)
    first.run(max_steps=3, max_seconds=600)
    second = Pretrainer(tmp_path / "resumed", TINY)
    assert second.progress.step == 3
    second.run(max_steps=5, max_seconds=600)

    expected, actual = weights(straight), weights(second)
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=1e-4, atol=1e-6)


def test_a_time_budget_stops_training_and_keeps_the_state(tmp_path):
    trainer = Pretrainer(tmp_path, TINY)
    trainer.run(max_steps=10_000, max_seconds=0.0)
    assert trainer.progress.step == 0
    assert (tmp_path / "state.pt").exists()


def test_export_writes_a_loadable_model_with_card_and_samples(tmp_path):
    trainer = Pretrainer(tmp_path / "work", TINY)
    trainer.run(max_steps=2, max_seconds=600)
    quality = export_base_model(trainer, tmp_path / "base")
    # the card reports the evaluation's own metrics, every one the prompts ask about
    assert {"background", "hair_color", "skin_color", "grid_cleanliness"} <= set(quality)
    assert set(quality) <= set(REPORTED)
    card = (tmp_path / "base" / "README.md").read_text()
    assert "steps trained: 2 " in card
    assert all(f"| {name} |" in card for name in quality)
    assert (tmp_path / "base" / SAMPLES_FILE).exists()
    # standard diffusers / transformers components, loadable one by one elsewhere
    assert (
        UNet2DConditionModel.from_pretrained(tmp_path / "base", subfolder="unet").sample_size == 24
    )
    CLIPTextModel.from_pretrained(tmp_path / "base", subfolder="text_encoder")
    pipe = PixelPunkPipeline.from_pretrained(tmp_path / "base")
    image = pipe(["pixel art portrait, male, purple background"], num_inference_steps=2)[0]
    assert image.size == (24, 24)


def test_a_state_shipped_without_optimizer_moments_resumes_with_a_new_warmup(tmp_path):
    first = Pretrainer(tmp_path, TINY)
    first.run(max_steps=3, max_seconds=600)
    (tmp_path / OPTIMIZER_FILE).unlink()  # as data/base/pixel-punk-base-state ships
    resumed = Pretrainer(tmp_path, TINY)
    assert resumed.progress.step == 3 and resumed.warmup_from == 3
    for key, value in weights(first).items():
        torch.testing.assert_close(weights(resumed)[key], value)
    assert resumed._learning_rate() == TINY.learning_rate / TINY.warmup_steps
    resumed.run(max_steps=4, max_seconds=600)
    assert (tmp_path / OPTIMIZER_FILE).exists()


def test_a_new_run_can_start_from_an_earlier_runs_weights_and_remembers_it(tmp_path):
    earlier = Pretrainer(tmp_path / "earlier", TINY)
    earlier.run(max_steps=2, max_seconds=600)

    later = Pretrainer(tmp_path / "later", TINY, init_from=tmp_path / "earlier")
    assert later.progress.step == 0
    for key, value in weights(earlier).items():
        torch.testing.assert_close(weights(later)[key], value)
    later.run(max_steps=1, max_seconds=600)

    resumed = Pretrainer(tmp_path / "later", TINY, init_from=tmp_path / "earlier")
    assert resumed.progress.step == 1  # its own state wins over the starting point
    assert resumed.warm_start is not None and resumed.warm_start.steps == 2


def test_the_command_says_when_the_state_is_already_at_its_step_target(tmp_path, capsys):
    """`bespoke pretrain --minutes 30` once exported the same weights again in silence
    when the committed state had reached the default target."""
    Pretrainer(tmp_path, TINY).run(max_steps=2, max_seconds=600)
    main(["pretrain", "--work-dir", str(tmp_path), "--steps", "2", "--minutes", "1"])
    assert "already at step 2, the target: raise the step target" in capsys.readouterr().out
    main(["pretrain", "--work-dir", str(tmp_path), "--steps", "3", "--minutes", "1"])
    assert "resuming at step 2" in capsys.readouterr().out
    assert Pretrainer(tmp_path, TINY).progress.step == 3


@needs_punks
def test_a_run_with_punks_gives_their_words_rows_of_their_own_and_resumes_with_them(tmp_path):
    """A punk's "clown nose" read as [UNK] [UNK] would teach the model nothing."""
    with_punks = dataclasses.replace(TINY, punk_share=0.5)
    earlier = Pretrainer(tmp_path / "earlier", TINY)
    earlier.run(max_steps=1, max_seconds=600)
    base_rows = earlier.pipe.text_encoder.get_input_embeddings().weight.detach().clone()

    later = Pretrainer(tmp_path / "later", with_punks, init_from=tmp_path / "earlier")
    assert len(later.captions) == TINY.corpus_size
    new_words = set(unknown_words(earlier.pipe.tokenizer, later.captions))
    assert new_words and not unknown_words(later.pipe.tokenizer, later.captions)
    rows = later.pipe.text_encoder.get_input_embeddings().weight
    assert rows.shape[0] == base_rows.shape[0] + len(new_words)
    torch.testing.assert_close(rows[: len(base_rows)], base_rows)  # no id moved
    later.run(max_steps=2, max_seconds=600)

    resumed = Pretrainer(tmp_path / "later")  # its own settings, tokenizer and rows
    assert resumed.settings == with_punks and resumed.progress.step == 2
    assert resumed.pipe.tokenizer.get_vocab() == later.pipe.tokenizer.get_vocab()
    with pytest.raises(ValueError, match="other settings"):
        Pretrainer(tmp_path / "later", TINY)

    export_base_model(resumed, tmp_path / "base")
    card = (tmp_path / "base" / "README.md").read_text()
    assert "16 CryptoPunks (50% of the corpus)" in card and "Terms:" in card
    pipe = PixelPunkPipeline.from_pretrained(tmp_path / "base")
    assert not unknown_words(pipe.tokenizer, later.captions)
