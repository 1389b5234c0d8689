"""Runs whose process is gone. A run killed with kill -9 (or on a crashed machine) stays
STARTED for ever, keeps its `gpu` pool slot, so every later training waits on it, and
leaves its MLflow runs RUNNING. The default run launcher has no health checks, so the
daemon's run monitoring never notices: this module does, from the process id that Dagster's
in-process executor records when a run starts executing ("Executing steps in process").

Runs are judged on the machine that executes them: the recorded process must still exist
and be older than the run. A run that has not started executing yet has no process to
judge and is left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import dagster as dg
import psutil
from mlflow.entities import RunStatus
from mlflow.tracking import MlflowClient

IN_PROGRESS = [
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
]
#: Seconds of slack between a process's start and its run's start time.
_CLOCK_SLACK_S = 2.0


@dataclass(frozen=True)
class RunProcess:
    run_id: str
    job: str
    partition: str
    pid: int | None
    alive: bool
    holds_slots: bool

    def describe(self) -> str:
        where = f"pid {self.pid}" if self.pid else "not executing yet"
        state = "running" if self.alive else "process gone"
        slot = ", holds a pool slot" if self.holds_slots else ""
        part = f" [{self.partition}]" if self.partition else ""
        return f"{self.run_id[:8]} {self.job}{part}: {where}, {state}{slot}"


def runs_in_progress(instance: dg.DagsterInstance) -> list[RunProcess]:
    holding = instance.event_log_storage.get_concurrency_run_ids()
    found = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=IN_PROGRESS)):
        run = record.dagster_run
        pid = _executing_pid(instance, run.run_id)
        alive = pid is None or _same_process(pid, record.start_time)
        found.append(
            RunProcess(
                run.run_id,
                run.job_name,
                run.tags.get("dagster/partition", ""),
                pid,
                alive,
                run.run_id in holding,
            )
        )
    return found


def clear_stale_runs(
    instance: dg.DagsterInstance, tracking_uri: str, log: Callable[[str], None]
) -> list[RunProcess]:
    """Fail every run whose process is gone, free its pool slots and end its MLflow runs as
    FAILED; say what was cleared, and which live runs hold a slot this run may wait for."""
    runs = runs_in_progress(instance)
    stale = [r for r in runs if not r.alive]
    for run in stale:
        dagster_run = instance.get_run_by_id(run.run_id)
        instance.report_run_failed(
            dagster_run, "its process is gone (killed or crashed); cleared by bespoke"
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        ended = _end_mlflow_runs(tracking_uri, run.run_id)
        log(f"cleared stale run {run.describe()}: failed, slots freed, {ended} MLflow runs ended")
    for run in runs:
        if run.alive and run.holds_slots:
            log(
                f"run {run.describe()}: a training step of this run waits until it ends "
                f"(`bespoke doctor` lists runs; `dagster run delete -f {run.run_id}` drops it)"
            )
    return stale


def _executing_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    records = instance.get_records_for_run(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT).records
    for record in records:
        data = record.event_log_entry.dagster_event.engine_event_data
        pid = data.metadata.get("pid") if data else None
        if pid is not None:
            return int(pid.value)
    return None


def _same_process(pid: int, run_start: float | None) -> bool:
    """Alive, and not a newer process that reuses the number."""
    try:
        started = psutil.Process(pid).create_time()
    except psutil.NoSuchProcess:
        return False
    return run_start is None or started <= run_start + _CLOCK_SLACK_S


def _end_mlflow_runs(tracking_uri: str, dagster_run_id: str) -> int:
    client = MlflowClient(tracking_uri=tracking_uri)
    experiments = [e.experiment_id for e in client.search_experiments()]
    if not experiments:
        return 0
    running = client.search_runs(
        experiments,
        f"tags.`dagster.run_id` = '{dagster_run_id}' and attributes.status = 'RUNNING'",
    )
    for run in running:
        client.set_terminated(run.info.run_id, RunStatus.to_string(RunStatus.FAILED))
    return len(running)
