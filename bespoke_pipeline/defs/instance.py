"""The Dagster instance that `dagster.yaml` in $DAGSTER_HOME describes."""

import os
from pathlib import Path

import dagster as dg
from filelock import FileLock


class NoDagsterHome(RuntimeError):
    pass


def open_instance() -> dg.DagsterInstance:
    """The instance, its SQLite storage created by one process at a time: two first runs
    creating the tables at once fail with "table jobs already exists"."""
    home = os.environ.get("DAGSTER_HOME")
    if not home:
        raise NoDagsterHome(
            "DAGSTER_HOME is not set: run `export DAGSTER_HOME=$PWD` in the repository"
        )
    os.chdir(home)  # dagster.yaml's storage paths are relative to it, not to where we stand
    with FileLock(Path(home, ".dagster-instance.lock")):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # touches run, event and schedule storage
    return instance
