import filecmp
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
from mlflow.tracking import MlflowClient
from PIL import Image

from bespoke_pipeline.cli import main
from bespoke_pipeline.defs.instance import dagster_home
from bespoke_pipeline.defs.stale_runs import runs_in_progress
from bespoke_pipeline.evaluation.promotion import PRODUCTION_RECORD
from bespoke_pipeline.paths import PROJECT_DIR, RAW_DIR, production_dir
from bespoke_pipeline.registry import ALIAS, MODEL_NAME


def test_synth_reproduces_the_shipped_demo_dataset(tmp_path, capsys):
    """data/README.md documents this exact command; the shipped files must match it."""
    main(["synth", "--out", str(tmp_path), "--count", "193", "--seed", "2026"])
    assert "wrote 193 portraits" in capsys.readouterr().out
    shipped = sorted(p.name for p in RAW_DIR.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == shipped
    match, mismatch, errors = filecmp.cmpfiles(RAW_DIR, tmp_path, shipped, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_bespoke_run_ends_with_a_registered_production_model(finished_run):
    """What `make run` does, end to end: a fresh runtime folder ends with a production model
    under its alias, and the status commands report it."""
    assert "skipping training config 'sdxl'" in finished_run.stdout
    record = json.loads((production_dir(finished_run.runtime) / PRODUCTION_RECORD).read_text())
    assert record["config"] == "pixel-tiny" and record["epoch"] >= 1
    client = MlflowClient(finished_run.env["MLFLOW_TRACKING_URI"])
    version = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
    assert version.tags["epoch"] == str(record["epoch"])

    status = finished_run.bespoke("status").stdout
    rows = [line.split()[:2] for line in status.splitlines() if line.strip()]
    assert ["checkpoint_scores", "pixel-tiny"] in rows
    assert any(row[:1] == ["production_model"] for row in rows)
    assert f"pixel-tiny epoch {record['epoch']}, MLflow version 1" in status
    runs = finished_run.bespoke("runs").stdout
    assert "SUCCESS" in runs and "pixel-tiny" in runs

    out = finished_run.runtime / "generated" / "punk.png"
    said = finished_run.bespoke("generate", "TOK bespoke, punk, blue background", "--out", str(out))
    assert f"models:/{MODEL_NAME}@{ALIAS}" in said.stdout  # the registered pyfunc model
    assert Image.open(out).size == (24, 24)


def test_status_and_runs_load_no_ml_library():
    """`bespoke status` and `bespoke runs` read files and Dagster's storage; with torch,
    diffusers and peft imported on the way they took 20 s on 2 cores instead of 6."""
    probe = "import sys, bespoke_pipeline.reports; print(sorted(set(sys.modules) & {MODULES}))"
    modules = {"torch", "diffusers", "peft", "transformers"}
    loaded = subprocess.run(
        [sys.executable, "-c", probe.replace("{MODULES}", repr(modules))],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert loaded.strip() == "[]"


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_stops_bespoke_run_and_clears_its_run(tmp_path):
    """Ctrl-C reaches the whole process group; Dagster's own wait for a pool slot ignores
    it, so `bespoke run` ends its Dagster process and clears the run it leaves behind."""
    (tmp_path / "dagster").mkdir()
    env = {
        **os.environ,
        "BESPOKE_HOME": str(tmp_path / "runtime"),
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    script = str(Path(sys.executable).with_name("bespoke"))
    process = subprocess.Popen(
        [script, "run"],
        env=env,
        start_new_session=True,
        # as a terminal starts its foreground job: a suite started in the background by a
        # shell without job control (as CI may be) ignores SIGINT, and children inherit that
        preexec_fn=_default_sigint,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    instance = dg.DagsterInstance.from_config(str(tmp_path / "dagster"))
    deadline = time.monotonic() + 300
    while not any(r.pid for r in runs_in_progress(instance)):  # a run is executing
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.5)
    os.killpg(process.pid, signal.SIGINT)
    process.communicate(timeout=120)
    # Dagster may also end the run itself, when the interrupt lands inside a step, and
    # bespoke then stops on that; either way nothing is left running
    assert process.returncode != 0
    deadline = time.monotonic() + 30
    while runs_in_progress(instance) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert runs_in_progress(instance) == []
    [run] = instance.get_runs()
    assert run.status in (dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED)


def test_the_first_lines_are_ours_not_a_torchvision_notice():
    """Importing diffusers' pipelines made transformers print two notices about image
    processors falling back to PIL, before anything a user asked for."""
    probe = "import bespoke_pipeline; from diffusers import StableDiffusionPipeline, FluxPipeline"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "torchvision" not in done.stderr + done.stdout


def test_the_instance_is_the_repositorys_when_dagster_home_is_unset(monkeypatch):
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    assert dagster_home() == PROJECT_DIR and (PROJECT_DIR / "dagster.yaml").is_file()
    monkeypatch.setenv("DAGSTER_HOME", "/elsewhere")
    assert dagster_home() == Path("/elsewhere")
