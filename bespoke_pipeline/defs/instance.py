"""The Dagster instance that `dagster.yaml` in $DAGSTER_HOME describes."""

import os
from pathlib import Path

import dagster as dg
from filelock import FileLock

from bespoke_pipeline.paths import PROJECT_DIR


class NoDagsterHome(RuntimeError):
    pass


def dagster_home() -> Path:
    """$DAGSTER_HOME, or else the repository, whose dagster.yaml is the project's instance
    (what `make` sets): so `bespoke status` works in a fresh shell too."""
    if os.environ.get("DAGSTER_HOME"):
        return Path(os.environ["DAGSTER_HOME"])
    if (PROJECT_DIR / "dagster.yaml").is_file():
        return PROJECT_DIR
    raise NoDagsterHome(
        "DAGSTER_HOME is not set and no dagster.yaml is beside the package: set it to the "
        "folder that holds the instance's dagster.yaml"
    )


def open_instance() -> dg.DagsterInstance:
    """The instance, its SQLite storage created by one process at a time: two first runs
    creating the tables at once fail with "table jobs already exists"."""
    home = str(dagster_home())
    os.environ["DAGSTER_HOME"] = home  # where DagsterInstance.get() looks
    os.chdir(home)  # dagster.yaml's storage paths are relative to it, not to where we stand
    with FileLock(Path(home, ".dagster-instance.lock")):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # touches run, event and schedule storage
    return instance
