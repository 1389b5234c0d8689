"""MLflow runs for pipeline steps, with every recorded value passed through `redact`.

Uses an explicit `MlflowClient` (not the global fluent API) so that concurrent steps in one
process never share an "active run".
"""

from __future__ import annotations

import hashlib
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from filelock import FileLock
from mlflow.entities import Metric, Param
from mlflow.exceptions import MlflowException
from mlflow.tracking import MlflowClient
from PIL import Image

from bespoke_pipeline.redaction import redact

#: The MLflow experiment every materialization records into (the resource may name another).
EXPERIMENT = "bespoke-punks"
#: The experiment tag by which MLflow's UI tells model training from GenAI work.
_EXPERIMENT_KIND = "mlflow.experimentKind"
_MODEL_TRAINING = "custom_model_development"

_MAX_PARAM_CHARS = 6000  # MLflow's limit on a param value
#: How long the start of a run waits for a tracking server: one that is up answers in
#: milliseconds, while MLflow's own retries take minutes to give up on one that is down.
SERVER_TIMEOUT_S = 5.0


class TrackingServerUnreachable(RuntimeError):
    pass


def check_tracking_server(uri: str, timeout: float = SERVER_TIMEOUT_S) -> None:
    """Fail at once, naming the setting to fix, when a remote tracking server does not
    answer. Local stores (sqlite, file paths) need no check."""
    parts = urllib.parse.urlsplit(uri)
    if parts.scheme not in ("http", "https"):
        return
    # credentials belong in MLFLOW_TRACKING_USERNAME/PASSWORD: never echoed, never sent here
    address = parts._replace(netloc=parts.netloc.rpartition("@")[2], query="", fragment="")
    shown = address.geturl()
    try:
        with urllib.request.urlopen(f"{shown.rstrip('/')}/health", timeout=timeout):
            return
    except urllib.error.HTTPError:
        return  # it answered (a proxy may ask for credentials): the server is there
    except (OSError, ValueError) as error:
        reason = getattr(error, "reason", error)
        raise TrackingServerUnreachable(
            f"the MLflow tracking server {shown} (MLFLOW_TRACKING_URI) did not answer "
            f"within {timeout:g} s: {reason}. Start it, or unset MLFLOW_TRACKING_URI to "
            "track into the local SQLite store"
        ) from None


def open_tracking_store(uri: str) -> None:
    """Make the store ready before a run uses it. A remote server must answer (see
    `check_tracking_server`). A database store (SQLite, PostgreSQL) creates its tables and
    migrates them on first use, and two first runs doing that at once break each other
    ("table _alembic_tmp_metrics already exists", "alembic_version already exists"), so the
    first use on this machine takes a lock named after the store."""
    if urllib.parse.urlsplit(uri).scheme in ("http", "https"):
        check_tracking_server(uri)
        return
    if uri.startswith("sqlite:///"):
        Path(uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    name = hashlib.sha256(uri.encode()).hexdigest()[:16]
    with FileLock(Path(tempfile.gettempdir(), f"bespoke-mlflow-{name}.lock")):
        MlflowClient(tracking_uri=uri).search_experiments(max_results=1)


class TrackedRun:
    def __init__(self, client: MlflowClient, run_id: str) -> None:
        self.client = client
        self.run_id = run_id

    def log_params(self, params: Mapping[str, object]) -> None:
        clean = redact(dict(params))
        self.client.log_batch(
            self.run_id,
            params=[Param(k, str(v)[:_MAX_PARAM_CHARS]) for k, v in sorted(clean.items())],
        )

    def log_metrics(
        self, metrics: Mapping[str, float], step: int = 0, synchronous: bool = True
    ) -> None:
        """`synchronous=False` queues them (MLflow sends queued metrics in batches, and
        ending the run waits for the queue): per-step training metrics never wait on a
        slow tracking server."""
        now = int(time.time() * 1000)
        self.client.log_batch(
            self.run_id,
            metrics=[Metric(k, float(v), now, step) for k, v in sorted(metrics.items())],
            synchronous=synchronous,
        )

    def log_image(self, image: Image.Image, artifact_file: str) -> None:
        self.client.log_image(self.run_id, image, artifact_file=artifact_file)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, str(redact(text)), artifact_file)

    def log_table(self, frame: pd.DataFrame, artifact_file: str) -> None:
        """As CSV, which anyone can open; the MLflow UI previews it."""
        self.log_text(frame.to_csv(index=False), artifact_file)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)


def ensure_experiment(client: MlflowClient, name: str, artifact_location: str | None) -> str:
    """The experiment's id, created if missing; two first runs may race to create it, and
    the one that loses takes the winner's. It is marked as model training, so the MLflow UI
    shows runs, metrics and models rather than its GenAI evaluation pages."""
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        if experiment.tags.get(_EXPERIMENT_KIND) != _MODEL_TRAINING:  # made before the mark
            client.set_experiment_tag(experiment.experiment_id, _EXPERIMENT_KIND, _MODEL_TRAINING)
        return experiment.experiment_id
    location = artifact_location
    if location and "://" not in location:
        location = Path(location).resolve().as_uri()
    try:
        return client.create_experiment(
            name, artifact_location=location, tags={_EXPERIMENT_KIND: _MODEL_TRAINING}
        )
    except MlflowException:
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            raise
        return experiment.experiment_id


@contextmanager
def tracked_run(
    tracking_uri: str,
    experiment: str,
    run_name: str,
    tags: Mapping[str, str],
    artifact_location: str | None = None,
) -> Iterator[TrackedRun]:
    """A run that ends FINISHED, or FAILED if the block raises."""
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = ensure_experiment(client, experiment, artifact_location)
    run = client.create_run(
        experiment_id, run_name=run_name, tags={k: str(v) for k, v in redact(dict(tags)).items()}
    )
    run_id = run.info.run_id
    try:
        yield TrackedRun(client, run_id)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
