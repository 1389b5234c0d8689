"""A tracking server that is down fails a run in seconds, naming the setting to fix."""

import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import dagster as dg
import pytest

import bespoke_pipeline.training.config as training_config
from bespoke_pipeline import cli
from bespoke_pipeline.definitions import build_definitions
from bespoke_pipeline.defs.resources import default_resources
from bespoke_pipeline.tracking import TrackingServerUnreachable, check_tracking_server


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_closed_port_is_reported_with_the_setting_and_without_credentials():
    uri = f"http://alice:s3cret@127.0.0.1:{closed_port()}"
    with pytest.raises(TrackingServerUnreachable) as caught:
        check_tracking_server(uri)
    message = str(caught.value)
    assert "MLFLOW_TRACKING_URI" in message and "127.0.0.1" in message
    assert "s3cret" not in message


def test_a_server_that_never_answers_fails_after_the_timeout():
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        with pytest.raises(TrackingServerUnreachable, match="within 0.3 s"):
            check_tracking_server(f"http://127.0.0.1:{silent.getsockname()[1]}", timeout=0.3)


def test_a_server_that_answers_passes_and_local_stores_need_no_server(tmp_path):
    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            self.send_response(200 if self.path == "/health" else 404)
            self.end_headers()
            self.wfile.write(b"OK")

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        check_tracking_server(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    check_tracking_server(f"sqlite:///{tmp_path / 'mlflow.db'}")


def test_a_dagster_run_against_a_dead_server_fails_before_any_step(tmp_path):
    resources = default_resources(tmp_path, tmp_path, f"http://127.0.0.1:{closed_port()}")
    job = build_definitions(resources).resolve_job_def("dataset_job")
    with pytest.raises(dg.DagsterResourceFunctionError) as caught:
        job.execute_in_process(instance=dg.DagsterInstance.ephemeral())
    assert isinstance(caught.value.__cause__, TrackingServerUnreachable)


def test_bespoke_run_names_a_broken_config_before_doing_any_work(tmp_path, monkeypatch):
    (tmp_path / "good.yaml").write_text("family: pixel\nbase_model: x\nsteps: 1\n")
    (tmp_path / "typo.yaml").write_text("family: pixel\nbase_model: x\nsteps: 1\nlora_rnk: 8\n")
    real = training_config.trainability
    monkeypatch.setattr(training_config, "trainability", lambda cuda: real(cuda, tmp_path))
    started = []

    def popen(*args: object, **kwargs: object) -> None:  # what starts the Dagster run
        started.append(args)
        raise AssertionError("a run was started")

    monkeypatch.setattr(cli.subprocess, "Popen", popen)
    with pytest.raises(SystemExit) as caught:
        cli.main(["run"])
    assert "typo.yaml" in str(caught.value) and "nothing was run" in str(caught.value)
    assert started == []
    # and with the typo fixed the same call does start the run, through Popen
    (tmp_path / "typo.yaml").write_text("family: pixel\nbase_model: x\nsteps: 1\n")
    monkeypatch.setenv("BESPOKE_HOME", str(tmp_path / "runtime"))  # its stores, not the repo's
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # opening the instance moves there; restored afterwards
    with pytest.raises(AssertionError, match="a run was started"):
        cli.main(["run"])
    assert len(started) == 1


def test_per_step_metrics_never_wait_on_the_tracking_store(tmp_path, monkeypatch):
    """A slow store: the training thread queues losses and goes on; the run's end waits
    until every queued value is written."""
    from types import SimpleNamespace

    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore

    from bespoke_pipeline.defs.recording import TrainingRecorder
    from bespoke_pipeline.tracking import tracked_run
    from bespoke_pipeline.training.lora import Progress

    writers: list[str] = []
    slow_write = SqlAlchemyStore.log_batch

    def log_batch(self, *args, **kwargs):
        writers.append(threading.current_thread().name)
        return slow_write(self, *args, **kwargs)

    monkeypatch.setattr(SqlAlchemyStore, "log_batch", log_batch)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    context = SimpleNamespace(log=SimpleNamespace(info=lambda message: None))
    with tracked_run(uri, "async", "lora", {}) as run:
        recorder = TrainingRecorder(context, run, "loss")
        for step in range(1, 6):
            recorder.progress(Progress(1, 1, step, 5, 1.0 / step, 1e-3, 0.0))
    assert writers and threading.main_thread().name not in writers
    history = run.client.get_metric_history(run.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5]
