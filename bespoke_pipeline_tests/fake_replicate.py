"""A local stand-in for Replicate's HTTP API, on 127.0.0.1, for contract tests driven
through the official client (REPLICATE_BASE_URL points it here).

It answers the calls a training makes, as the service documents them: upload a file,
create a training on a trainer version, poll it (its logs grow by a line per poll), cancel
it, and download the weights tar from a separate host-like path that needs no token; and
the predictions that render with the trained version (an image per prediction: one for
the LoRA, another at lora_scale 0, the base model). Its
knobs make it misbehave the ways the real service does: a 422 with the service's
validation message, a training that fails with its logs, polls whose connection drops.
"""

from __future__ import annotations

import io
import json
import tarfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

TRAINER = "ostris/flux-dev-lora-trainer:" + "e" * 64


def flux_on_replicate(**replicate: object) -> dict:
    """A config's settings for FLUX.1-dev trained on Replicate (the base model is not on
    this machine), polling the fake quickly; `replicate` adds to its `replicate:` block."""
    block = {"trainer": TRAINER, "destination": "artist/punks", "poll_seconds": 0.01}
    return {
        "family": "flux",
        "base_model": "black-forest-labs/FLUX.1-dev",
        "steps": 100,
        "backend": "replicate",
        "replicate": {**block, **replicate},
    }


@dataclass
class FakeReplicate:
    token: str
    weights: bytes  # the trained_model.tar a succeeded training offers
    polls_to_end: int = 3
    end_status: str = "succeeded"  # or "failed"
    reject_input: str | None = None  # a validation message: creating a training is a 422
    drop_polls: int = 0  # this many polls lose their connection before any answer
    trainings: dict[str, dict] = field(default_factory=dict)
    uploads: list[bytes] = field(default_factory=list)
    canceled: list[str] = field(default_factory=list)
    weights_requests: list[dict] = field(default_factory=list)  # their headers
    lora_image: bytes = b""  # what a prediction draws with the LoRA ...
    base_image: bytes = b""  # ... and at lora_scale 0
    predictions: dict[str, dict] = field(default_factory=dict)

    def __enter__(self) -> FakeReplicate:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _advance(self, training: dict) -> None:
        """One poll's worth of progress: a log line, and after `polls_to_end` the end."""
        if training["status"] in ("succeeded", "failed", "canceled"):
            return
        training["polls"] += 1
        training["status"] = "processing"
        training["logs"] += f"step {training['polls'] * 100}/{self.polls_to_end * 100}\n"
        if training["polls"] < self.polls_to_end:
            return
        training["status"] = self.end_status
        if self.end_status == "failed":
            training["logs"] += "torch.OutOfMemoryError: CUDA out of memory\n"
            training["error"] = "Training failed"
        else:
            owner_name = training["destination"]
            training["output"] = {
                "version": f"{owner_name}:{'a' * 64}",
                "weights": f"{self.base_url}/delivery/{training['id']}/trained_model.tar",
            }


def _handler(fake: FakeReplicate) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet test output
            pass

        def _reply(self, status: int, body: object, content_type: str = "application/json"):
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _authorized(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {fake.token}":
                return True
            self._reply(
                401,
                {"title": "Unauthenticated", "detail": "Invalid token.", "status": 401},
            )
            return False

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def do_GET(self) -> None:
            if self.path.endswith("/trained_model.tar"):
                fake.weights_requests.append(dict(self.headers))
                self._reply(200, fake.weights, "application/x-tar")
                return
            if self.path.endswith("/out-0.png"):
                prediction = fake.predictions[self.path.split("/")[2]]
                base = prediction["input"]["lora_scale"] == 0
                self._reply(200, fake.base_image if base else fake.lora_image, "image/png")
                return
            if not self._authorized():
                return
            if self.path.startswith("/v1/predictions/"):
                prediction = fake.predictions[self.path.rsplit("/", 1)[-1]]
                prediction["status"] = "succeeded"  # an image takes one poll
                prediction["output"] = [f"{fake.base_url}/delivery/{prediction['id']}/out-0.png"]
                self._reply(200, prediction)
                return
            training = fake.trainings.get(self.path.rsplit("/", 1)[-1])
            if not self.path.startswith("/v1/trainings/") or training is None:
                self._reply(404, {"title": "Not found", "status": 404})
                return
            if fake.drop_polls > 0:
                fake.drop_polls -= 1
                self.close_connection = True  # hang up without a word
                return
            fake._advance(training)
            self._reply(200, _public(training))

        def do_POST(self) -> None:
            body = self._body()
            if not self._authorized():
                return
            if self.path == "/v1/predictions":
                request = json.loads(body)
                prediction_id = f"prediction{len(fake.predictions) + 1}"
                fake.predictions[prediction_id] = {
                    "id": prediction_id,
                    "model": "artist/punks",
                    "version": request["version"],
                    "input": request["input"],
                    "status": "starting",
                    "output": None,
                    "logs": "",
                    "error": None,
                    "metrics": {},
                    "urls": {"get": f"{fake.base_url}/v1/predictions/{prediction_id}"},
                }
                self._reply(201, fake.predictions[prediction_id])
            elif self.path == "/v1/files":
                fake.uploads.append(body)
                self._reply(201, _file(fake, len(fake.uploads), len(body)))
            elif self.path.endswith("/cancel"):
                training = fake.trainings[self.path.split("/")[3]]
                training["status"] = "canceled"
                fake.canceled.append(training["id"])
                self._reply(200, _public(training))
            elif self.path.endswith("/trainings"):
                if fake.reject_input:
                    detail = {"title": "Input validation failed", "status": 422}
                    self._reply(422, {**detail, "detail": fake.reject_input})
                    return
                request = json.loads(body)
                _, _, owner, name, _, version, _ = self.path.strip("/").split("/")
                training_id = f"training{len(fake.trainings) + 1}"
                fake.trainings[training_id] = {
                    "id": training_id,
                    "model": f"{owner}/{name}",
                    "version": version,
                    "destination": request["destination"],
                    "input": request["input"],
                    "status": "starting",
                    "logs": "",
                    "output": None,
                    "error": None,
                    "polls": 0,
                    "urls": {"get": f"{fake.base_url}/v1/trainings/{training_id}"},
                }
                self._reply(201, _public(fake.trainings[training_id]))
            else:
                self._reply(404, {"title": "Not found", "status": 404})

    return Handler


def _public(training: dict) -> dict:
    return {k: v for k, v in training.items() if k != "polls"}


def _file(fake: FakeReplicate, number: int, size: int) -> dict:
    return {
        "id": f"file{number}",
        "name": "bespoke_punk_training.zip",
        "content_type": "application/zip",
        "size": size,
        "etag": "etag",
        "checksums": {},
        "metadata": {},
        "created_at": "2026-12-02T00:00:00Z",
        "expires_at": None,
        "urls": {"get": f"{fake.base_url}/v1/files/file{number}"},
    }


def trained_model_tar(lora: Path) -> bytes:
    """The FLUX trainer's tar of a LoRA file: under ai-toolkit's output path, beside its config."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        archive.add(lora, "output/flux_train_replicate/lora.safetensors")
        config = b"job: extension\n"
        info = tarfile.TarInfo("output/flux_train_replicate/config.yaml")
        info.size = len(config)
        archive.addfile(info, io.BytesIO(config))
    return buffer.getvalue()
