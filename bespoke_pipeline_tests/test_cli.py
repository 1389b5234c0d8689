import filecmp
import json
import os
import subprocess
import sys
from pathlib import Path

from mlflow.tracking import MlflowClient

from bespoke_pipeline.cli import main
from bespoke_pipeline.defs.evaluation import ALIAS, MODEL_NAME
from bespoke_pipeline.evaluation.promotion import PRODUCTION_RECORD
from bespoke_pipeline.paths import RAW_DIR, production_dir


def test_synth_reproduces_the_shipped_demo_dataset(tmp_path, capsys):
    """data/README.md documents this exact command; the shipped files must match it."""
    main(["synth", "--out", str(tmp_path), "--count", "193", "--seed", "2026"])
    assert "wrote 193 portraits" in capsys.readouterr().out
    shipped = sorted(p.name for p in RAW_DIR.iterdir())
    assert sorted(p.name for p in tmp_path.iterdir()) == shipped
    match, mismatch, errors = filecmp.cmpfiles(RAW_DIR, tmp_path, shipped, shallow=False)
    assert (mismatch, errors) == ([], [])


def test_bespoke_run_ends_with_a_registered_production_model(tmp_path):
    """What `make run` does, end to end on the shipped data and base model (about 1.5 min
    on 2 cores): a fresh runtime folder ends with a production model under its alias."""
    runtime, dagster_home = tmp_path / "runtime", tmp_path / "dagster"
    dagster_home.mkdir()
    env = {
        **os.environ,
        "BESPOKE_HOME": str(runtime),
        "DAGSTER_HOME": str(dagster_home),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
    }
    done = subprocess.run(
        [str(Path(sys.executable).with_name("bespoke")), "run"],  # the console script
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "skipping training config 'sdxl'" in done.stdout
    record = json.loads((production_dir(runtime) / PRODUCTION_RECORD).read_text())
    assert record["config"] == "pixel-tiny" and record["epoch"] >= 1
    version = MlflowClient(env["MLFLOW_TRACKING_URI"]).get_model_version_by_alias(MODEL_NAME, ALIAS)
    assert version.tags["epoch"] == str(record["epoch"])
