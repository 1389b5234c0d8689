import pytest

from bespoke_pipeline.training.config import (
    CONFIG_DIR,
    ConfigError,
    TrainingConfig,
    config_names,
    load_config,
    load_named,
    trainability,
    unavailable_reason,
)


def test_shipped_configs_are_valid_partitions():
    names = config_names()
    assert names == ["flux-dev", "pixel-tiny", "sd15-kohya", "sdxl"]
    families = {load_named(name).family for name in names}  # each parses and validates
    assert families == {"flux", "pixel", "sd15", "sdxl"}


def test_adding_a_file_adds_a_partition(tmp_path):
    (tmp_path / "mine.yaml").write_text("family: pixel\nbase_model: x\nsteps: 10\n")
    assert config_names(tmp_path) == ["mine"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("family: pixel\nbase_model: x\n", "set exactly one of num_train_epochs and steps"),
        (
            "family: pixel\nbase_model: x\nsteps: 5\nlora_rank: 0\n",
            "lora_rank: Input should be greater than or equal to 1",
        ),
        (
            "family: pixel\nbase_model: x\nsteps: 5\nlearning_rat: 1\n",
            "learning_rat: Extra inputs are not permitted",
        ),
        (
            "family: pixel\nbase_model: x\nsteps: 5\noptimizer: sgd\n",
            "optimizer: Input should be 'adamw' or 'adamw8bit'",
        ),
        ("family: pixel\nbase_model: x\nsteps: 5\nresolution: 48\n", "set resolution: 24"),
        ("- just\n- a list\n", "expected a mapping of settings, got list"),
        ("family: [unclosed\n", "not valid YAML"),
        ("family: flux\nbase_model: x\nsteps: 5\nbackend: replicate\n", "go together"),
        (
            "family: sd15\nbase_model: x\nsteps: 5\nbackend: replicate\nreplicate:\n"
            f"  trainer: o/t:{'0' * 64}\n  destination: me/punks\n",
            "train flux and sdxl LoRAs, not sd15",
        ),
        (
            "family: flux\nbase_model: x\nsteps: 5\nbackend: replicate\nreplicate:\n"
            "  trainer: ostris/flux-dev-lora-trainer\n  destination: me/punks\n",
            "replicate.trainer: String should match pattern",
        ),
    ],
)
def test_bad_configs_name_the_file_and_the_field(tmp_path, text, message):
    path = tmp_path / "broken.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value).startswith("broken.yaml: ")
    assert message in str(caught.value)


def test_steps_become_whole_epochs():
    config = load_config(CONFIG_DIR / "flux-dev.yaml")
    assert config.epochs_for(193) == 11  # 2000 steps at batch 1, 193 steps per epoch


def test_only_configs_this_machine_can_train_are_available():
    tiny = load_config(CONFIG_DIR / "pixel-tiny.yaml")
    assert unavailable_reason(tiny, cuda=False) is None
    sdxl = load_config(CONFIG_DIR / "sdxl.yaml")
    assert "needs a CUDA GPU" in unavailable_reason(sdxl, cuda=False)
    # the tests run offline (HF_HUB_OFFLINE=1) and nothing is in the hub cache
    assert "not in the local Hugging Face cache and the hub is offline" in unavailable_reason(
        sdxl, cuda=True
    )
    missing = tiny.model_copy(update={"base_model": "data/base/nowhere"})
    assert unavailable_reason(missing, cuda=False) == (
        "base model 'data/base/nowhere' is neither a local folder or file nor a hub id"
    )


def test_a_replicate_config_without_a_token_says_what_to_set(monkeypatch):
    flux = load_config(CONFIG_DIR / "flux-dev.yaml").model_dump()
    remote = TrainingConfig.model_validate(
        {
            **flux,
            "allow_cpu": True,
            "backend": "replicate",
            "replicate": {"trainer": f"o/t:{'0' * 64}", "destination": "me/punks"},
        }
    )
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    assert unavailable_reason(remote, cuda=True) == (
        "backend replicate needs REPLICATE_API_TOKEN set to a Replicate API token"
    )
    monkeypatch.setenv("REPLICATE_API_TOKEN", "placeholder-value")
    scored_here = remote.model_copy(update={"allow_cpu": False})
    assert "needs a CUDA GPU" in unavailable_reason(scored_here, cuda=False)
    rendered_there = remote.replicate.model_copy(update={"score_with_predictions": True})
    scored_there = remote.model_copy(update={"allow_cpu": False, "replicate": rendered_there})
    assert unavailable_reason(scored_there, cuda=False) is None  # no GPU, no FLUX weights here


def test_bespoke_run_skips_a_gated_hub_model_with_the_reason_and_trains_the_rest(
    tmp_path, monkeypatch
):
    """On a GPU machine without HF_TOKEN, FLUX.1-dev must not stop pixel-tiny."""
    import httpx
    from huggingface_hub.errors import GatedRepoError

    from bespoke_pipeline.training import base_weights

    for name in ("flux-dev.yaml", "pixel-tiny.yaml"):
        (tmp_path / name).write_text((CONFIG_DIR / name).read_text())

    def gated(repo_id: str) -> None:
        answer = httpx.Response(403, request=httpx.Request("GET", "https://huggingface.co"))
        raise GatedRepoError(f"{repo_id} is gated", response=answer)

    monkeypatch.setattr(base_weights.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(base_weights, "auth_check", gated)
    found = trainability(cuda=True, config_dir=tmp_path)
    assert found.trainable == ["pixel-tiny"]
    assert "'black-forest-labs/FLUX.1-dev' is gated" in found.skipped["flux-dev"]
    assert "HF_TOKEN" in found.skipped["flux-dev"]
