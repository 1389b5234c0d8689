import functools

import torch
from diffusers import UNet2DConditionModel
from transformers import CLIPTextModel

from bespoke_pipeline.cli import main
from bespoke_pipeline.evaluation.base_model_card import SAMPLES_FILE, export_base_model
from bespoke_pipeline.evaluation.base_quality import REPORTED
from bespoke_pipeline.models.pixel import pretrain
from bespoke_pipeline.models.pixel.pipeline import PixelPunkPipeline
from bespoke_pipeline.models.pixel.pretrain import OPTIMIZER_FILE, Pretrainer, PretrainSettings

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


def test_the_command_says_when_the_state_is_already_at_its_step_target(
    tmp_path, capsys, monkeypatch
):
    """`bespoke pretrain --minutes 30` once exported the same weights again in silence
    when the committed state had reached the default target."""
    monkeypatch.setattr(pretrain, "Pretrainer", functools.partial(Pretrainer, settings=TINY))
    Pretrainer(tmp_path, TINY).run(max_steps=2, max_seconds=600)
    main(["pretrain", "--work-dir", str(tmp_path), "--steps", "2", "--minutes", "1"])
    assert "already at step 2, the target: raise the step target" in capsys.readouterr().out
    main(["pretrain", "--work-dir", str(tmp_path), "--steps", "3", "--minutes", "1"])
    assert "resuming at step 2" in capsys.readouterr().out
    assert Pretrainer(tmp_path, TINY).progress.step == 3
