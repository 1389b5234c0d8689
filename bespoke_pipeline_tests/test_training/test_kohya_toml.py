"""kohya sd-scripts TOML files as training configs (`kohya_toml`)."""

import pytest

from bespoke_pipeline.training.config import (
    CONFIG_DIR,
    ConfigError,
    TrainingConfig,
    config_names,
    config_notes,
    config_path,
    load_config,
)
from bespoke_pipeline.training.kohya_toml import KOHYA_UNET_TARGETS

#: The least a kohya file needs here; every test adds to it.
MINIMAL = 'pretrained_model_name_or_path = "stable-diffusion-v1-5/stable-diffusion-v1-5"\n'
DATASET = """
[general]
keep_tokens = 1
caption_dropout_rate = 0.1

[[datasets]]
resolution = 256
keep_tokens = 2
caption_dropout_rate = 0.2

  [[datasets.subsets]]
  image_dir = "./train"
  keep_tokens = 3
"""


def write(tmp_path, text: str, name: str = "artist.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_the_shipped_kohya_config_is_the_artists_run():
    path = config_path("sd15-kohya")
    assert path == CONFIG_DIR / "sd15-kohya.toml"
    assert "sd15-kohya" in config_names()
    assert load_config(path) == TrainingConfig(
        family="sd15",
        base_model="stable-diffusion-v1-5/stable-diffusion-v1-5",
        trigger_word="TOK",
        num_train_epochs=8,
        lora_rank=32,
        lora_alpha=16,
        learning_rate=1e-4,
        text_encoder_lr=5e-5,
        optimizer="adamw",
        lr_scheduler="cosine_with_restarts",
        lr_scheduler_num_cycles=3,
        lr_warmup_steps=100,
        batch_size=4,
        resolution=(256,),
        save_every_n_epochs=1,
        snr_gamma=5,
        noise_offset=0.05,
        multires_noise_iterations=6,
        multires_noise_discount=0.3,
        shuffle_caption=True,
        keep_tokens=1,
        max_token_length=225,
        caption_dropout_rate=0.02,
        mixed_precision="bf16",
        seed=42,
        target_modules=KOHYA_UNET_TARGETS,  # what networks.lora adapts, not attention alone
    )
    notes = config_notes(path)
    assert any("output_dir" in n and "output_name" in n for n in notes if "not used" in n)
    assert any(n.startswith("enable_bucket") and "256x256" in n for n in notes)


def test_subset_beats_dataset_beats_general(tmp_path):
    path = write(tmp_path, MINIMAL + "shuffle_caption = true\n" + DATASET)
    config = load_config(path)
    assert config.keep_tokens == 3  # the subset's
    assert config.caption_dropout_rate == 0.2  # the dataset's, over [general]
    general_only = DATASET.replace("caption_dropout_rate = 0.2\n", "")
    assert load_config(write(tmp_path, MINIMAL + general_only)).caption_dropout_rate == 0.1


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ("flip_aug = true", "flip_aug = true"),
        ('network_module = "lycoris.kohya"', 'network_module = "lycoris.kohya"'),
        ("clip_skip = 2", "clip_skip = 2"),
        ('optimizer_type = "Prodigy"', 'optimizer_type = "Prodigy"'),
        ('network_args = ["conv_dim=4"]', 'network_args = ["conv_dim=4"]'),
        ('resolution = "256,384"', 'resolution = "256,384"'),
    ],
)
def test_an_unsupported_setting_names_the_file_and_the_key(tmp_path, line, named):
    text = MINIMAL + line + "\n" + ("" if line.startswith("resolution") else "resolution = 256\n")
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text + "max_train_epochs = 1\n"))
    assert str(caught.value).startswith("artist.toml: ")
    assert named in str(caught.value)


def test_every_bad_key_is_named_at_once(tmp_path):
    text = MINIMAL + "resolution = 256\nflip_aug = true\nscale_weight_norms = 1.0\n"
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text + "network_dropout = 0.1\n"))
    message = str(caught.value)
    assert "flip_aug = true" in message and "scale_weight_norms = 1.0" in message
    # peft's lora_dropout drops the input, kohya's network_dropout the rank-r output
    assert "network_dropout = 0.1: kohya drops the rank-r output" in message


def test_keys_sd_scripts_ignores_or_that_change_nothing_here_are_noted_not_refused(tmp_path):
    """As in the artist's own RunPod files: sd-scripts runs them, so they load here, each
    such key on a line of the run's notes."""
    artist = DATASET.replace(
        "keep_tokens = 1\n", "keep_tokens = 1\nbucket_resolution = 64\nbucket_no_upscale = true\n"
    )
    in_subset = artist.replace('image_dir = "./train"', 'image_dir = "./train"\n  colour = 1')
    path = write(tmp_path, MINIMAL + "network_dimm = 8\n" + in_subset)
    assert load_config(path).lora_rank == 4  # the typo is kohya's default rank, as there
    notes = config_notes(path)
    for said in (
        "network_dimm: not an sd-scripts setting, ignored",
        "[general] bucket_resolution: not a dataset setting in sd-scripts, ignored",
        "[[datasets.subsets]] colour: not a dataset setting in sd-scripts, ignored",
    ):
        assert said in notes
    assert any("bucket_no_upscale" in n and n.startswith("not used here (no effect") for n in notes)


def test_output_keys_are_notes_not_errors(tmp_path):
    outputs = 'output_dir = "./out"\noutput_name = "punks"\nlog_with = "wandb"\n'
    path = write(tmp_path, MINIMAL + "resolution = 256\n" + outputs)
    load_config(path)
    notes = config_notes(path)
    files = next(n for n in notes if n.startswith("not used here (they place files"))
    assert files.endswith("output_dir, output_name")
    assert any(n.startswith("not used here (logging") and n.endswith("log_with") for n in notes)


def test_kohya_defaults_fill_what_the_file_leaves_out(tmp_path):
    path = write(tmp_path, MINIMAL + "resolution = 256\n")
    config = load_config(path)
    notes = config_notes(path)
    assert config.max_token_length == 75
    assert any(n.startswith("no max_token_length: kohya reads 75") for n in notes)
    assert (config.steps, config.num_train_epochs) == (1600, None)
    assert any("1600 steps" in n for n in notes)
    assert (config.lr_scheduler, config.lora_rank, config.lora_alpha) == ("constant", 4, 1)
    # no text_encoder_lr: kohya trains the text encoder at learning_rate
    assert config.text_encoder_lr == config.learning_rate == 2e-6


def test_the_family_comes_from_the_file(tmp_path):
    sdxl = 'pretrained_model_name_or_path = "stabilityai/stable-diffusion-xl-base-1.0"\n'
    assert load_config(write(tmp_path, sdxl + "resolution = 768\n")).family == "sdxl"
    cached = MINIMAL + "resolution = 256\ncache_text_encoder_outputs = true\n"
    config = load_config(write(tmp_path, cached))
    assert (config.family, config.text_encoder_lr) == ("sdxl", None)
    ours = MINIMAL + 'family = "sdxl"\nresolution = 256\n'
    assert load_config(write(tmp_path, ours)).family == "sdxl"


def test_two_datasets_are_an_error(tmp_path):
    two = MINIMAL + DATASET + "\n[[datasets]]\nresolution = 512\n"
    with pytest.raises(ConfigError, match=r"^artist.toml: 2 \[\[datasets\]\] tables"):
        load_config(write(tmp_path, two))


def test_a_yaml_and_a_toml_of_one_name_are_an_error_naming_both(tmp_path):
    write(tmp_path, "family: pixel\nbase_model: x\nsteps: 10\n", "mine.yaml")
    write(tmp_path, MINIMAL + "resolution = 256\n", "mine.toml")
    write(tmp_path, MINIMAL + "resolution = 256\n", "other.toml")
    for find in (lambda: config_names(tmp_path), lambda: config_path("mine", tmp_path)):
        with pytest.raises(ConfigError, match=r"mine\.toml and mine\.yaml: two configs named"):
            find()
    assert config_path("other", tmp_path) == tmp_path / "other.toml"
