"""Training on Replicate, against a local fake of its API driven through the official
client: one paid training per request, however the run is interrupted."""

from pathlib import Path

import pytest
import torch

from bespoke_pipeline.training.checkpoint_weights import load_checkpoint
from bespoke_pipeline.training.checkpoints import (
    DIFFUSERS_FILE,
    completed_epochs,
    epoch_dir,
    read_sidecar,
)
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.lora import LoraTrainer
from bespoke_pipeline.training.replicate_trainer import (
    RemoteError,
    remote_run_dir,
    replicate_client,
    train_on_replicate,
)
from bespoke_pipeline_tests.conftest import tiny_family_config
from bespoke_pipeline_tests.fake_replicate import TRAINER, FakeReplicate, trained_model_tar
from bespoke_pipeline_tests.test_training.conftest import micro_data
from bespoke_pipeline_tests.test_training.test_gpu_families import load_base, prediction

TOKEN = "canary-value-for-tests"
DATA = micro_data()


@pytest.fixture(scope="module")
def flux_lora(tiny_bases, tmp_path_factory) -> Path:
    """The LoRA a FLUX training returns (trained here on a tiny model, as Replicate would)."""
    config = TrainingConfig.model_validate(
        tiny_family_config(tiny_bases["flux"], "flux", num_train_epochs=1)
    )
    trainer = LoraTrainer(config, "on-replicate", DATA, tmp_path_factory.mktemp("runs"))
    trainer.train()
    return epoch_dir(trainer.run_dir, 1) / DIFFUSERS_FILE


def remote_config(tiny_bases, **replicate: object) -> TrainingConfig:
    settings = tiny_family_config(tiny_bases["flux"], "flux", steps=200, num_train_epochs=None)
    block = {"trainer": TRAINER, "destination": "artist/bespoke-punk-flux", "poll_seconds": 0.01}
    return TrainingConfig.model_validate(
        {**settings, "backend": "replicate", "replicate": {**block, **replicate}}
    )


@pytest.fixture
def package(tmp_path) -> Path:
    path = tmp_path / "bespoke_punk_training.zip"
    path.write_bytes(b"PK\x05\x06" + bytes(18))  # the upload is passed on, not read here
    return path


def run(config: TrainingConfig, package: Path, runs: Path, logs: list[str] | None = None):
    run_dir = remote_run_dir(config, DATA, runs)
    say = (logs if logs is not None else []).append
    return train_on_replicate(config, "remote", package, DATA, run_dir, replicate_client(), say)


@pytest.fixture
def service(monkeypatch, flux_lora):
    with FakeReplicate(TOKEN, trained_model_tar(flux_lora)) as fake:
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        monkeypatch.setenv("REPLICATE_BASE_URL", fake.base_url)
        yield fake


def test_a_training_runs_once_and_its_weights_become_a_checkpoint(
    service, tiny_bases, flux_lora, package, tmp_path
):
    config = remote_config(tiny_bases)
    logs: list[str] = []
    result = run(config, package, tmp_path / "runs", logs)

    assert result.created_now and list(service.trainings) == [result.training_id]
    sent = service.trainings[result.training_id]
    assert sent["destination"] == "artist/bespoke-punk-flux"
    assert sent["input"]["input_images"].startswith(service.base_url + "/v1/files/")
    assert (sent["input"]["steps"], sent["input"]["trigger_word"]) == (200, "TOK")
    assert package.read_bytes() in service.uploads[0]
    assert "[replicate] step 200/300" in logs  # the training's log, line by line
    assert "Authorization" not in service.weights_requests[0], "the token went to the CDN"

    assert completed_epochs(result.run_dir) == [1]
    sidecar = read_sidecar(epoch_dir(result.run_dir, 1))
    assert sidecar["replicate_training_id"] == result.training_id
    assert sidecar["replicate_version"] == result.version
    pipe = load_base(config)
    load_checkpoint(pipe, flux_lora.parent)
    trained = prediction(config, pipe)
    load_checkpoint(pipe, epoch_dir(result.run_dir, 1))
    torch.testing.assert_close(prediction(config, pipe), trained)

    again = run(config, package, tmp_path / "runs")
    assert not again.created_now and len(service.trainings) == 1
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    assert TOKEN.encode() not in written


def test_a_dropped_connection_then_a_rerun_polls_the_same_training(
    service, tiny_bases, package, tmp_path
):
    service.drop_polls = 1000
    config = remote_config(tiny_bases, connection_retries=2)
    with pytest.raises(RemoteError, match="re-run goes on polling it"):
        run(config, package, tmp_path / "runs")
    assert len(service.trainings) == 1

    service.drop_polls = 1  # one more hang-up, within the retries
    logs: list[str] = []
    result = run(config, package, tmp_path / "runs", logs)
    assert not result.created_now and list(service.trainings) == [result.training_id]
    assert any("resuming Replicate training" in line for line in logs)
    assert completed_epochs(result.run_dir) == [1]


def test_stopping_the_run_cancels_the_training(service, tiny_bases, package, tmp_path):
    def stop_on_progress(line: str) -> None:
        if line.startswith("[replicate]"):
            raise KeyboardInterrupt  # what Dagster's terminate raises in the step, in effect

    config = remote_config(tiny_bases)
    run_dir = remote_run_dir(config, DATA, tmp_path / "runs")
    with pytest.raises(KeyboardInterrupt):
        train_on_replicate(
            config, "remote", package, DATA, run_dir, replicate_client(), stop_on_progress
        )
    assert service.canceled == list(service.trainings)


def test_a_failed_training_is_reported_with_its_logs_and_a_rerun_starts_afresh(
    service, tiny_bases, package, tmp_path
):
    service.end_status = "failed"
    config = remote_config(tiny_bases)
    with pytest.raises(RemoteError, match="failed: Training failed") as raised:
        run(config, package, tmp_path / "runs")
    assert "CUDA out of memory" in str(raised.value)

    service.end_status = "succeeded"
    result = run(config, package, tmp_path / "runs")
    assert result.created_now and len(service.trainings) == 2


def test_the_services_refusals_say_what_it_said(
    service, tiny_bases, package, tmp_path, monkeypatch
):
    config = remote_config(tiny_bases, input={"lora_rank": 4096})
    service.reject_input = "- input.lora_rank: Must be less than or equal to 128"
    with pytest.raises(RemoteError, match="HTTP 422 .* less than or equal to 128"):
        run(config, package, tmp_path / "runs")

    monkeypatch.setenv("REPLICATE_API_TOKEN", "wrong-canary-value")
    with pytest.raises(RemoteError, match="uploading the package: HTTP 401") as raised:
        run(config, package, tmp_path / "runs")
    assert "wrong-canary" not in str(raised.value)
    assert not service.trainings

    monkeypatch.delenv("REPLICATE_API_TOKEN")
    with pytest.raises(RemoteError, match="set REPLICATE_API_TOKEN"):
        replicate_client()


def test_a_corrupt_download_is_refused_and_fetched_again_next_time(
    service, tiny_bases, flux_lora, package, tmp_path
):
    good, service.weights = service.weights, b"<html>502 Bad Gateway</html>"
    config = remote_config(tiny_bases)
    with pytest.raises(RemoteError, match="trained_model.tar: not a readable tar"):
        run(config, package, tmp_path / "runs")

    service.weights = good
    result = run(config, package, tmp_path / "runs")
    assert not result.created_now and completed_epochs(result.run_dir) == [1]
