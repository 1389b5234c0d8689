"""The evaluation rendered by Replicate predictions, against a local fake of the API."""

import io
import json

import numpy as np
import pytest
import torch
from PIL import Image

from bespoke_pipeline.evaluation.replicate_rendering import ReplicateRendering
from bespoke_pipeline.training.checkpoints import SIDECAR_FILE
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.replicate_trainer import RemoteError, replicate_client
from bespoke_pipeline_tests.fake_replicate import FakeReplicate, flux_on_replicate

TOKEN = "rendering-canary-value"
VERSION = "artist/punks:" + "a" * 64
CONFIG = TrainingConfig.model_validate(flux_on_replicate(score_with_predictions=True))


def png(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), color).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def service(monkeypatch):
    images = {"lora_image": png((200, 0, 0)), "base_image": png((0, 0, 200))}
    with FakeReplicate(TOKEN, b"", **images) as fake:
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        monkeypatch.setenv("REPLICATE_BASE_URL", fake.base_url)
        monkeypatch.setenv("REPLICATE_POLL_INTERVAL", "0.01")
        yield fake


@pytest.fixture
def checkpoints(tmp_path):
    folder = tmp_path / "epoch-0001"
    folder.mkdir()
    (folder / SIDECAR_FILE).write_text(json.dumps({"replicate_version": VERSION}))
    return {1: folder}


def rendering(checkpoints, cache) -> ReplicateRendering:
    return ReplicateRendering(CONFIG, checkpoints, replicate_client(), cache)


def test_each_image_is_one_prediction_at_a_fixed_seed_and_the_base_is_lora_scale_0(
    service, checkpoints, tmp_path
):
    renders = rendering(checkpoints, tmp_path / "cache")
    generator = torch.Generator().manual_seed(7)
    lora = renders.for_epoch(1)(["TOK a punk", "TOK another"], 28, 3.5, generator)
    base = renders.for_epoch(0)(["TOK a punk"], 28, 3.5, torch.Generator().manual_seed(7))

    assert [np.asarray(i)[0, 0].tolist() for i in [*lora, *base]] == [[200, 0, 0]] * 2 + [
        [0, 0, 200]
    ]
    sent = [p["input"] for p in service.predictions.values()]
    assert [(i["prompt"], i["seed"], i["lora_scale"]) for i in sent] == [
        ("TOK a punk", 7, 1.0),
        ("TOK another", 8, 1.0),
        ("TOK a punk", 7, 0.0),
    ]
    assert {p["version"] for p in service.predictions.values()} == {"a" * 64}
    assert (sent[0]["num_inference_steps"], sent[0]["guidance_scale"]) == (28, 3.5)
    assert renders.made == 3

    again = rendering(checkpoints, tmp_path / "cache")
    again.for_epoch(1)(["TOK a punk", "TOK another"], 28, 3.5, torch.Generator().manual_seed(7))
    assert (again.made, again.reused, len(service.predictions)) == (0, 2, 3)


def test_an_answer_that_is_not_an_image_is_refused_and_not_cached(service, checkpoints, tmp_path):
    service.lora_image = b"<html>502 Bad Gateway</html>"
    render = rendering(checkpoints, tmp_path / "cache").for_epoch(1)
    with pytest.raises(RemoteError, match="out-0.png is not an image"):
        render(["TOK a punk"], 28, 3.5, torch.Generator().manual_seed(1))
    assert not list((tmp_path / "cache").iterdir())
