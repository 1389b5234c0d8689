import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
import yaml

from bespoke_pipeline.paths import PROJECT_DIR
from bespoke_pipeline.pixelart.synth import write_dataset
from bespoke_pipeline_tests.stores import BACKENDS, Stores, stores_for

# No test may download anything. huggingface_hub reads this once, when first imported: the
# imports above must not reach it (diffusers, transformers and the training code do).
os.environ.setdefault("HF_HUB_OFFLINE", "1")


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist each worker, and every process its tests start, gets its share of
    the cores: with torch's default of one thread per core in every worker, two workers on
    2 cores spent twice the CPU time and took 28 min where one worker took 19."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0"))
    if workers:
        threads = max(1, (os.cpu_count() or 1) // workers)
        os.environ["OMP_NUM_THREADS"] = str(threads)
        torch.set_num_threads(threads)


#: Whole-chain tests (Dagster runs, subprocesses, browsers): `make test` runs them,
#: `make test-fast` (`-m "not slow"`) leaves them out. Each took 20 s to 4 min here.
SLOW_MODULES = {
    "test_browser.py",
    "test_concurrency.py",
    "test_sweeps.py",
    "test_evaluation_assets.py",
    "test_gpu_partitions.py",
}
SLOW_FIXTURES = {"finished_run", "pipeline"}
SLOW_TESTS = {"test_ctrl_c_stops_bespoke_run_and_clears_its_run"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tests that read the one end-to-end run go to one xdist worker (`--dist
    loadgroup`), so it is built once, not on every worker; whole-chain tests are `slow`."""
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        if "finished_run" in fixtures:
            item.add_marker(pytest.mark.xdist_group("finished_run"))
        if item.path.name in SLOW_MODULES or fixtures & SLOW_FIXTURES or item.name in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def raw_dir(tmp_path: Path) -> Path:
    """A small raw folder of generated portraits with their captions."""
    folder = tmp_path / "raw"
    write_dataset(folder, count=24, seed=11)
    return folder


@pytest.fixture(params=BACKENDS)
def stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Stores]:
    """Dagster storage and an MLflow store: SQLite, and PostgreSQL too where CI has one."""
    with stores_for(request.param, tmp_path) as found:
        yield found


@dataclass(frozen=True)
class FinishedRun:
    """`bespoke run` (what `make run` does) done once, in its own Dagster and MLflow homes."""

    env: dict[str, str]
    runtime: Path
    stdout: str

    def bespoke(self, *args: str) -> subprocess.CompletedProcess:
        script = str(Path(sys.executable).with_name("bespoke"))  # the console script
        done = subprocess.run(
            [script, *args], env=self.env, capture_output=True, text=True, timeout=900
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return done


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> FinishedRun:
    """The whole chain on the shipped data, base model and configs, shared by the tests that
    need a materialized pipeline. `pixel-tiny` trains 3 of its 20 epochs: the same steps as
    `make run` in 1.5 min instead of about 3.5 on 2 cores (the full run is timed for the
    README), saving epochs 2 and 3 so that two trained epochs are scored."""
    root = tmp_path_factory.mktemp("finished_run")
    (root / "dagster").mkdir()
    configs = shutil.copytree(PROJECT_DIR / "configs", root / "configs")
    shipped = yaml.safe_load((configs / "pixel-tiny.yaml").read_text())
    (configs / "pixel-tiny.yaml").write_text(
        yaml.safe_dump(
            {**shipped, "num_train_epochs": 3, "save_every_n_epochs": 2, "validation_epochs": 2}
        )
    )
    env = {
        **os.environ,
        "BESPOKE_CONFIG_DIR": str(configs),
        "BESPOKE_HOME": str(root / "runtime"),
        "DAGSTER_HOME": str(root / "dagster"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
    }
    run = FinishedRun(env, root / "runtime", "")
    return FinishedRun(env, root / "runtime", run.bespoke("run").stdout)


@pytest.fixture(scope="session")
def tiny_bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Random-weight SD 1.5, SDXL and FLUX.1 pipelines at toy size, saved as diffusers folders like
    the real base models (built in code: nothing is downloaded)."""
    from bespoke_pipeline.bench.random_models import (
        tiny_flux_pipeline,
        tiny_sd15_pipeline,
        tiny_sdxl_pipeline,
    )

    root = tmp_path_factory.mktemp("tiny_bases")
    folders = {}
    builds = {"sd15": tiny_sd15_pipeline, "sdxl": tiny_sdxl_pipeline, "flux": tiny_flux_pipeline}
    for family, build in builds.items():
        torch.manual_seed(0)
        folders[family] = root / family
        build().save_pretrained(folders[family])
    return folders


def tiny_family_config(base: Path, family: str, **overrides: object) -> dict[str, object]:
    """A config of the sd15, sdxl or flux family that trains in seconds on a CPU."""
    return {
        "family": family,
        "base_model": str(base),
        "allow_cpu": True,
        "num_train_epochs": 2,
        "batch_size": 4,
        "learning_rate": 2e-3,
        "lora_rank": 4,
        "lora_alpha": 4,
        "resolution": 48,
        "seed": 7,
        **overrides,
    }
