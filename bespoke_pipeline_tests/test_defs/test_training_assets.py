from pathlib import Path

import pandas as pd
import pytest
import yaml
from mlflow.tracking import MlflowClient

from bespoke_pipeline_tests.test_training.conftest import tiny_base  # noqa: F401 (fixture)


@pytest.fixture
def micro_configs(tmp_path: Path, tiny_base: Path) -> Path:  # noqa: F811
    """A configs/ folder whose pixel-tiny partition is a 2-epoch micro run on a tiny base."""
    folder = tmp_path / "configs"
    folder.mkdir()
    (folder / "pixel-tiny.yaml").write_text(
        yaml.safe_dump(
            {
                "family": "pixel",
                "base_model": str(tiny_base),
                "num_train_epochs": 2,
                "batch_size": 8,
                "learning_rate": 3e-3,
                "lora_rank": 4,
                "lora_alpha": 4,
            }
        )
    )
    (folder / "sdxl.yaml").write_text(
        yaml.safe_dump(
            {
                "family": "sdxl",
                "base_model": "stabilityai/stable-diffusion-xl-base-1.0",
                "num_train_epochs": 1,
            }
        )
    )
    return folder


def test_lora_trains_from_the_package_and_lists_its_checkpoints(pipeline, micro_configs):
    pipeline.materialize()
    result = pipeline.train(micro_configs)
    assert result.success
    lora = result.output_for_node("lora")
    assert (lora["epochs"], lora["config_name"]) == (2, "pixel-tiny")
    checkpoints: pd.DataFrame = result.output_for_node("lora_checkpoints")
    assert list(checkpoints.epoch) == [1, 2]
    assert all(Path(f).is_file() for f in [*checkpoints.diffusers_file, *checkpoints.kohya_file])
    package = pipeline.materialize().output_for_node("training_package")
    assert set(checkpoints.dataset_sha256) == {package["sha256"]}

    run = next(r for r in pipeline.mlflow_runs() if r.data.tags["dagster.asset_key"] == "lora")
    assert run.data.tags["dagster.partition"] == "pixel-tiny"
    assert run.data.params["lora_rank"] == "4" and run.data.params["epochs"] == "2"
    client = MlflowClient(pipeline.tracking_uri)
    loss = client.get_metric_history(run.info.run_id, "loss")
    assert [m.step for m in loss] == [1, 2, 3, 4, 5, 6]  # 24 images, batch 8, 2 epochs
    assert [m.step for m in client.get_metric_history(run.info.run_id, "epoch_loss")] == [1, 2]
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "samples")}
    assert {"samples/epoch_0001.png", "samples/epoch_0002.png", "samples/epochs.png"} <= artifacts
    assert client.list_artifacts(run.info.run_id, "checkpoints/epoch-0002")
    assert "loss_curve.png" in {a.path for a in client.list_artifacts(run.info.run_id)}


def test_unchanged_inputs_do_not_retrain(pipeline, micro_configs):
    pipeline.materialize()
    pipeline.train(micro_configs)
    again = pipeline.train(micro_configs)
    metadata = again.asset_materializations_for_node("lora")[0].metadata
    assert metadata["epochs_trained_now"].value == 0
    assert metadata["resumed_from_epoch"].value == 2


def test_a_config_this_machine_cannot_train_fails_with_the_reason(pipeline, micro_configs):
    pipeline.materialize()
    with pytest.raises(Exception, match="sdxl: the sdxl trainer needs a CUDA GPU"):
        pipeline.train(micro_configs, partition="sdxl")


def test_epochs_between_saves_train_and_only_saved_ones_are_listed(pipeline, micro_configs):
    """`save_every_n_epochs: 2` over 3 epochs: checkpoints 2 and 3 (the last is always
    saved), and the unsaved epoch 1 is neither logged nor listed."""
    config = yaml.safe_load((micro_configs / "pixel-tiny.yaml").read_text())
    config.update(num_train_epochs=3, save_every_n_epochs=2)
    (micro_configs / "pixel-tiny.yaml").write_text(yaml.safe_dump(config))
    pipeline.materialize()
    result = pipeline.train(micro_configs)
    assert result.success
    assert list(result.output_for_node("lora_checkpoints").epoch) == [2, 3]
    run = next(r for r in pipeline.mlflow_runs() if r.data.tags["dagster.asset_key"] == "lora")
    logged = {
        a.path
        for a in MlflowClient(pipeline.tracking_uri).list_artifacts(run.info.run_id, "checkpoints")
    }
    assert logged == {"checkpoints/epoch-0002", "checkpoints/epoch-0003"}
