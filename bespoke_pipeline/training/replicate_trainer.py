"""Training on Replicate (`backend: replicate`): the artist's FLUX or SDXL runs, driven from
the pipeline, with the result made a checkpoint folder that is scored like our own.

A Replicate training costs money and runs for an hour, so it is never started twice for
the same inputs: its id is written to the run folder before anything else happens, and a
re-run (after a crash, a dropped connection, a restarted Dagster daemon) polls that same
training. Only a training that ended without weights (failed, canceled) is replaced by a
new one. Stopping the Dagster run cancels the training on Replicate.

The token comes from REPLICATE_API_TOKEN only, is sent to Replicate's API only (never to
the download host of the weights) and is never written or logged: every log line and
error passes through `redact`.

Replicate keeps only the final weights (the FLUX trainer's intermediate checkpoints live in
a W&B run, and only when W&B is configured), so a remote run has one checkpoint, its last.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import httpx
import replicate
from replicate.exceptions import ReplicateError
from replicate.training import Training

from bespoke_pipeline.atomic import replacing
from bespoke_pipeline.pixelart.layout import SIZE
from bespoke_pipeline.redaction import redact
from bespoke_pipeline.training.checkpoints import completed_epochs
from bespoke_pipeline.training.config import REPLICATE_TOKEN_ENV, TrainingConfig
from bespoke_pipeline.training.data import TrainingData
from bespoke_pipeline.training.imports import CheckpointImportError, import_epochs

STATE_FILE = "replicate_training.json"
WEIGHTS_FILE = "trained_model.tar"
_ENDED = ("succeeded", "failed", "canceled")
_BACKOFF = 1.5  # each quiet poll waits this much longer, up to max_poll_seconds
_LOG_TAIL = 20  # lines of a failed training's log shown in the error
T = TypeVar("T")


class RemoteError(RuntimeError):
    """A call to Replicate that could not be made or did not end well (a training without
    weights, a failed prediction); the message says which and why, with a failed
    training's last log lines."""


@dataclass(frozen=True)
class RemoteRun:
    run_dir: Path
    training_id: str
    version: str | None  # the destination's new version, `owner/name:id`
    created_now: bool  # False: an earlier run's training was polled, none was paid twice


def replicate_client() -> replicate.Client:
    """A client for Replicate's API (or the server REPLICATE_BASE_URL names), with the
    token from the environment; a missing token fails here, before anything is uploaded."""
    token = os.environ.get(REPLICATE_TOKEN_ENV)
    if not token:
        raise RemoteError(
            f"set {REPLICATE_TOKEN_ENV} to a Replicate API token "
            "(https://replicate.com/account/api-tokens) to train with backend: replicate"
        )
    return replicate.Client(api_token=token)


def trainer_inputs(config: TrainingConfig, upload_url: str, pairs: int) -> dict:
    """The trainer's inputs under the names of the artist's Replicate notes, then the
    config's own `replicate.input` over them."""
    batch_size = {"flux": "batch_size", "sdxl": "train_batch_size"}[config.family]
    inputs = {
        "input_images": upload_url,
        "trigger_word": config.trigger_word,
        "lora_rank": config.lora_rank,
        "learning_rate": config.learning_rate,
        batch_size: config.batch_size,
        "resolution": ",".join(str(side) for side in config.resolution),
        "optimizer": config.optimizer,
        "caption_dropout_rate": config.caption_dropout_rate,
    }
    if config.family == "flux":  # ostris/flux-dev-lora-trainer counts steps
        epochs = config.num_train_epochs or 0
        inputs["steps"] = config.steps or epochs * math.ceil(pairs / config.batch_size)
        inputs["gradient_checkpointing"] = config.gradient_checkpointing
        inputs["cache_latents_to_disk"] = config.cache_latents_to_disk
    else:  # the SDXL trainer counts epochs
        steps_per_epoch = math.ceil(pairs / config.batch_size)
        inputs["num_train_epochs"] = config.epochs_for(steps_per_epoch)
        inputs["lr_scheduler"] = config.lr_scheduler
        inputs["mixed_precision"] = config.mixed_precision
    return {**inputs, **config.replicate.input}


def upload_side_warning(config: TrainingConfig, image_side: int) -> str | None:
    """What to say when the package's images are far smaller than the sides the trainer
    trains at: it would upscale them itself, with a filter that smears pixel art."""
    largest = max(config.resolution)
    if image_side * 2 > largest:
        return None
    fitting = SIZE * (largest // SIZE)
    return (
        f"the package's images are {image_side} px and the trainer trains at up to "
        f"{largest} px, so it upscales them with a smoothing filter; set the "
        f"training_package's upscale_to to {fitting} (whole {SIZE} px cells, nearest-neighbour)"
    )


def remote_run_dir(config: TrainingConfig, data: TrainingData, runs_dir: Path) -> Path:
    """The run folder of a remote training, named by what Replicate is asked to do (trainer,
    destination, inputs, data): the same request finds the same folder and its training,
    while polling settings may change freely."""
    request = {
        "trainer": config.replicate.trainer,
        "destination": config.replicate.destination,
        "input": trainer_inputs(config, "", len(data.captions)),
        "base_model": config.base_model,
        "data": data.sha256,
    }
    if data.captions_from != "as_written":  # named only then: paid trainings keep their folder
        request["captions"] = data.captions_from
    identity = hashlib.sha256(json.dumps(request, sort_keys=True).encode()).hexdigest()
    return runs_dir / f"replicate-{identity[:16]}"


def train_on_replicate(
    config: TrainingConfig,
    config_name: str,
    package: Path,
    data: TrainingData,
    run_dir: Path,
    client: replicate.Client,
    log: Callable[[str], None] = print,
) -> RemoteRun:
    """Train (or go on polling the training already started for) `package` on Replicate,
    then write its weights as the run's checkpoint folder."""
    say = _redacting(log)
    state = _read_state(run_dir)
    if state.get("status") == "succeeded" and completed_epochs(run_dir):
        say(f"Replicate training {state['id']} already imported; nothing to do")
        return RemoteRun(run_dir, state["id"], state.get("version"), created_now=False)
    created_now = False
    if state.get("id") and state.get("status") not in ("failed", "canceled"):
        say(f"resuming Replicate training {state['id']}: no new training is started")
    else:
        state = _start(config, package, data, run_dir, client, say)
        created_now = True
    try:
        training = _wait(config, state["id"], client, say)
    except BaseException as stop:
        if not isinstance(stop, Exception):  # Ctrl-C, Dagster's terminate: not a failure
            _cancel(client, run_dir, state, say)
        raise
    state |= {"status": training.status}
    if training.status != "succeeded":
        _write_state(run_dir, state)
        raise RemoteError(_ended_badly(training))
    state["version"] = (training.output or {}).get("version")
    tar = _download_weights((training.output or {}).get("weights"), run_dir, say)
    provenance = {
        "replicate_training_id": training.id,
        "replicate_version": state["version"],
        "replicate_trainer": config.replicate.trainer,
    }
    try:
        convert = not config.replicate.score_with_predictions  # else the base need not be here
        import_epochs(config, config_name, data, tar, run_dir, say, provenance, convert)
    except CheckpointImportError as error:
        tar.unlink()  # refused: a re-run downloads it again rather than trusting it
        raise RemoteError(f"training {training.id}: {error}") from error
    _write_state(run_dir, state)
    return RemoteRun(run_dir, training.id, state["version"], created_now)


def _start(
    config: TrainingConfig,
    package: Path,
    data: TrainingData,
    run_dir: Path,
    client: replicate.Client,
    say: Callable[[str], None],
) -> dict:
    """Upload the package, create the training and record its id before anything else."""
    settings = config.replicate
    say(f"uploading {package.name} ({package.stat().st_size / 1e6:.1f} MB) to Replicate")
    upload = call_replicate(lambda: client.files.create(package), "uploading the package")
    inputs = trainer_inputs(config, upload.urls["get"], len(data.captions))
    owner_name, version = settings.trainer.split(":")
    training = call_replicate(
        lambda: client.trainings.create(
            model=owner_name, version=version, input=inputs, destination=settings.destination
        ),
        f"starting a training of {settings.trainer}",
    )
    state = {
        "id": training.id,
        "status": training.status,
        "trainer": settings.trainer,
        "destination": settings.destination,
        "input": redact(inputs),
        "url": (training.urls or {}).get("web") or (training.urls or {}).get("get"),
    }
    _write_state(run_dir, state)
    say(f"started Replicate training {training.id} -> {settings.destination}")
    return state


def _wait(
    config: TrainingConfig, training_id: str, client: replicate.Client, say: Callable[[str], None]
) -> Training:
    """Poll until the training ends, backing off while nothing changes, passing on new
    log lines."""
    settings = config.replicate
    delay, failures, seen = settings.poll_seconds, 0, 0
    while True:
        try:
            training = client.trainings.get(training_id)
        except (httpx.TransportError, ReplicateError) as error:
            if isinstance(error, ReplicateError) and (error.status or 500) < 500:
                raise RemoteError(f"training {training_id}: {_reason(error)}") from error
            failures += 1
            if failures > settings.connection_retries:
                raise RemoteError(
                    f"training {training_id}: Replicate did not answer {failures} polls in "
                    f"a row ({_reason(error)}); it is recorded, so a re-run goes on "
                    "polling it instead of starting another"
                ) from error
            say(f"poll {failures} of training {training_id} failed ({_reason(error)})")
            time.sleep(delay)
            delay = min(delay * _BACKOFF, settings.max_poll_seconds)
            continue
        failures = 0
        lines = (training.logs or "").splitlines()
        for line in lines[seen:]:
            say(f"[replicate] {line}")
        progressed, seen = len(lines) > seen, max(seen, len(lines))
        if training.status in _ENDED:
            say(f"Replicate training {training_id} {training.status}")
            return training
        quiet = min(delay * _BACKOFF, settings.max_poll_seconds)
        delay = settings.poll_seconds if progressed else quiet
        time.sleep(delay)


def _cancel(client: replicate.Client, run_dir: Path, state: dict, say: Callable[[str], None]):
    """The run is being stopped: so is the training, which would go on costing money."""
    say(f"run stopped: canceling Replicate training {state['id']}")
    try:
        client.trainings.cancel(state["id"])
    except (ReplicateError, httpx.HTTPError) as error:
        say(
            f"could not cancel training {state['id']} ({_reason(error)}): cancel it on "
            "replicate.com, or re-run to go on polling it"
        )
        return
    _write_state(run_dir, state | {"status": "canceled"})


def _download_weights(url: str | None, run_dir: Path, say: Callable[[str], None]) -> Path:
    if not url:
        raise RemoteError("the training succeeded but names no weights to download")
    target = run_dir / WEIGHTS_FILE
    if not target.exists():
        say(f"downloading the weights ({url.split('?')[0]})")
        download(url, target)
    return target


def download(url: str, target: Path) -> Path:
    """`url` saved at `target`, whole or not at all. No Authorization header: Replicate
    serves files from a delivery host, not its API, and that host has no business seeing
    the token."""
    try:
        with replacing(target) as tmp, httpx.stream("GET", url, follow_redirects=True) as got:
            if got.status_code != 200:
                raise RemoteError(f"downloading {url.split('?')[0]}: HTTP {got.status_code}")
            with tmp.open("wb") as out:
                for chunk in got.iter_bytes():
                    out.write(chunk)
    except httpx.HTTPError as error:
        raise RemoteError(f"downloading {url.split('?')[0]}: {_reason(error)}") from error
    return target


def call_replicate(request: Callable[[], T], doing: str) -> T:
    """A request to Replicate's API whose failure is an error saying what was being done
    and what Replicate said (its validation message for a 422, 'unauthorized' for 401)."""
    try:
        return request()
    except (ReplicateError, httpx.HTTPError) as error:
        raise RemoteError(f"{doing}: {_reason(error)}") from error


def _reason(error: Exception) -> str:
    """What went wrong, as Replicate or the connection said it, with secrets redacted."""
    if isinstance(error, ReplicateError):
        parts = [f"HTTP {error.status}" if error.status else "", error.title, error.detail]
        return str(redact(" - ".join(p for p in parts if p)))
    return str(redact(f"{type(error).__name__}: {error}"))


def _ended_badly(training: Training) -> str:
    tail = "\n".join((training.logs or "").splitlines()[-_LOG_TAIL:])
    why = f": {training.error}" if training.error else ""
    return str(redact(f"Replicate training {training.id} {training.status}{why}\n{tail}".strip()))


def _redacting(log: Callable[[str], None]) -> Callable[[str], None]:
    return lambda message: log(str(redact(message)))


def _read_state(run_dir: Path) -> dict:
    path = run_dir / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def _write_state(run_dir: Path, state: dict) -> None:
    run_dir.mkdir(parents=True, exist_ok=True)
    with replacing(run_dir / STATE_FILE) as tmp:
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
