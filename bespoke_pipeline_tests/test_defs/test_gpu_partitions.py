"""The `sd15`, `sdxl` and `flux-dev` partitions through the same assets as `pixel-tiny`: training,
checkpoints, scores and promotion, on tiny random-weight models of the real classes."""

import json
from pathlib import Path

import pytest
import yaml

from bespoke_pipeline.evaluation.promotion import PRODUCTION_RECORD
from bespoke_pipeline.generate import generate
from bespoke_pipeline.paths import production_dir
from bespoke_pipeline.pixelart.layout import SIZE
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline_tests.conftest import tiny_family_config

PARTITIONS = {"sd15-kohya": "sd15", "sdxl": "sdxl", "flux-dev": "flux"}  # partition -> family


@pytest.fixture
def tiny_gpu_configs(tmp_path: Path, tiny_bases: dict[str, Path]) -> Path:
    """The shipped partitions' names, pointed at tiny bases and allowed on a CPU."""
    folder = tmp_path / "configs"
    folder.mkdir()
    for partition, family in PARTITIONS.items():
        settings = tiny_family_config(tiny_bases[family], family, num_train_epochs=1)
        (folder / f"{partition}.yaml").write_text(yaml.safe_dump(settings))
    return folder


@pytest.mark.parametrize("partition", PARTITIONS)
def test_a_gpu_family_trains_scores_and_promotes_through_the_assets(
    pipeline, tiny_gpu_configs, monkeypatch, partition
):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pipeline.tracking_uri)  # where generate looks
    pipeline.materialize()
    result = pipeline.train(tiny_gpu_configs, partition)
    assert result.success

    checkpoints = result.output_for_node("lora_checkpoints")
    assert list(checkpoints.epoch) == [1]
    scores = result.output_for_node("checkpoint_scores")
    assert list(scores.epoch) == [0, 1] and scores.composite.between(0, 1).all()

    record = json.loads((production_dir(pipeline.root / "runtime") / PRODUCTION_RECORD).read_text())
    assert record["config"] == partition and record["epoch"] == 1
    (run,) = [r for r in pipeline.mlflow_runs() if r.data.tags["mlflow.runName"] == "lora"]
    assert run.data.params["training_sides"] == "48"
    assert run.data.params["encoded_data"] in ("encoded", "memory")

    made = generate("TOK bespoke, 24x24 pixel grid portrait, male", seed=1)  # via pyfunc
    assert made.image.size == (SIZE, SIZE) and made.raw.size == (48, 48)


def test_downloaded_epochs_are_scored_and_promoted_through_the_assets(
    pipeline, tiny_bases, tmp_path
):
    """Ten epochs from CivitAI, judged by the pipeline instead of by eye (here three)."""
    from bespoke_pipeline.training.lora import LoraTrainer
    from bespoke_pipeline_tests.test_training.conftest import micro_data
    from bespoke_pipeline_tests.test_training.test_imports import civitai_download

    settings = tiny_family_config(tiny_bases["sd15"], "sd15", num_train_epochs=3)
    elsewhere = LoraTrainer(
        TrainingConfig.model_validate(settings), "elsewhere", micro_data(), tmp_path / "runs"
    )
    elsewhere.train()
    downloads = civitai_download(elsewhere.run_dir, tmp_path / "downloads")
    configs = tmp_path / "configs"
    configs.mkdir()
    imported = {**settings, "import_from": str(downloads)}
    (configs / "sd15-kohya.yaml").write_text(yaml.safe_dump(imported))

    pipeline.materialize()
    result = pipeline.train(configs, "sd15-kohya")
    assert result.success
    assert list(result.output_for_node("lora_checkpoints").epoch) == [1, 2, 3]
    assert list(result.output_for_node("checkpoint_scores").epoch) == [0, 1, 2, 3]
    record = json.loads((production_dir(pipeline.root / "runtime") / PRODUCTION_RECORD).read_text())
    assert record["config"] == "sd15-kohya" and record["epoch"] in (1, 2, 3)


def test_a_replicate_training_is_scored_and_promoted_and_its_token_kept_out(
    pipeline, tiny_bases, tmp_path, monkeypatch
):
    """backend: replicate against a local fake of the service; the token, a canary, is
    found nowhere in what the runs wrote (Dagster storage, MLflow, artifacts, logs)."""
    from bespoke_pipeline.training.checkpoints import DIFFUSERS_FILE, epoch_dir
    from bespoke_pipeline.training.lora import LoraTrainer
    from bespoke_pipeline_tests.fake_replicate import TRAINER, FakeReplicate, trained_model_tar
    from bespoke_pipeline_tests.test_training.conftest import micro_data

    canary = "canary-value-of-the-asset-test"
    settings = tiny_family_config(tiny_bases["flux"], "flux", num_train_epochs=1)
    there = LoraTrainer(TrainingConfig.model_validate(settings), "there", micro_data(), tmp_path)
    there.train()
    configs = tmp_path / "configs"
    configs.mkdir()
    remote = {
        **settings,
        "backend": "replicate",
        "replicate": {"trainer": TRAINER, "destination": "artist/punks", "poll_seconds": 0.01},
    }
    (configs / "flux-dev.yaml").write_text(yaml.safe_dump(remote))

    with FakeReplicate(
        canary, trained_model_tar(epoch_dir(there.run_dir, 1) / DIFFUSERS_FILE)
    ) as fake:
        monkeypatch.setenv("REPLICATE_API_TOKEN", canary)
        monkeypatch.setenv("REPLICATE_BASE_URL", fake.base_url)
        pipeline.materialize()
        result = pipeline.train(configs, "flux-dev")
        again = pipeline.train(configs, "flux-dev")
    assert result.success and again.success
    assert len(fake.trainings) == 1, "a re-materialization paid for a second training"
    assert list(result.output_for_node("checkpoint_scores").epoch) == [0, 1]
    record = json.loads((production_dir(pipeline.root / "runtime") / PRODUCTION_RECORD).read_text())
    assert record["config"] == "flux-dev" and record["epoch"] == 1
    lora_run = [r for r in pipeline.mlflow_runs() if r.data.tags["mlflow.runName"] == "lora"]
    assert lora_run[0].data.params["replicate_training_id"] in fake.trainings

    written = [p for p in pipeline.root.rglob("*") if p.is_file()]
    assert len(written) > 50
    assert not [p for p in written if canary.encode() in p.read_bytes()]


def test_a_replicate_run_scored_by_predictions_needs_neither_gpu_nor_base_model_here(
    pipeline, tmp_path, monkeypatch
):
    """FLUX.1-dev is not on this machine and there is no GPU: Replicate trains and renders,
    the pipeline judges; the bound on predictions is checked before any is paid for."""
    import io

    import torch
    from PIL import Image
    from safetensors.torch import save_file

    from bespoke_pipeline.pixelart.synth import synth_portraits
    from bespoke_pipeline_tests.fake_replicate import (
        FakeReplicate,
        flux_on_replicate,
        trained_model_tar,
    )

    lora = tmp_path / "lora.safetensors"
    save_file({"transformer.x_embedder.lora_A.weight": torch.ones(4, 8)}, lora)
    drawn = {}
    for name, image in (
        ("lora_image", next(iter(synth_portraits(1, seed=99)))[0]),
        ("base_image", Image.new("RGB", (24, 24), (128, 128, 128))),
    ):
        buffer = io.BytesIO()
        image.resize((1024, 1024), Image.Resampling.NEAREST).save(buffer, format="PNG")
        drawn[name] = buffer.getvalue()
    configs = tmp_path / "configs"
    configs.mkdir()

    def write_config(bound: int) -> None:
        remote = flux_on_replicate(
            score_with_predictions=True, max_predictions_per_checkpoint=bound
        )
        (configs / "flux-dev.yaml").write_text(yaml.safe_dump(remote))

    with FakeReplicate("scoring-canary-value", trained_model_tar(lora), **drawn) as fake:
        monkeypatch.setenv("REPLICATE_API_TOKEN", "scoring-canary-value")
        monkeypatch.setenv("REPLICATE_BASE_URL", fake.base_url)
        monkeypatch.setenv("REPLICATE_POLL_INTERVAL", "0.01")
        pipeline.materialize()
        write_config(bound=15)  # the quick evaluation renders 16 images per checkpoint
        refused = pipeline.train(configs, "flux-dev", raise_on_error=False)
        assert not refused.success and not fake.predictions
        write_config(bound=16)
        result = pipeline.train(configs, "flux-dev")

    assert result.success
    assert len(fake.predictions) == 32  # the base model and epoch 1
    failure = [e for e in refused.all_events if e.event_type_value == "STEP_FAILURE"]
    assert "scoring needs 16 predictions per checkpoint" in str(failure[0].event_specific_data)
    scores = result.output_for_node("checkpoint_scores").set_index("epoch")
    assert scores.loc[1, "composite"] > scores.loc[0, "composite"]
    record = json.loads((production_dir(pipeline.root / "runtime") / PRODUCTION_RECORD).read_text())
    assert record["config"] == "flux-dev" and record["epoch"] == 1
