"""What `bespoke status` and `bespoke runs` print: read from the Dagster instance and the
production folder, without loading the pipeline code (so they answer in about a second)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from bespoke_pipeline.evaluation.promotion import missed_targets, read_production

#: Shown next to the production model; all scores are in production.json and the card.
HEADLINE_SCORES = ("composite", "eyes_placed", "right_facing", "background", "skin_color")


def asset_status(instance: dg.DagsterInstance) -> pd.DataFrame:
    """The latest materialization of every asset, and of every partition of partitioned ones."""
    rows = []
    for record in sorted(instance.get_asset_records(), key=lambda r: r.asset_entry.asset_key):
        key = record.asset_entry.asset_key
        partitions = sorted(instance.get_materialized_partitions(key)) or [None]
        for partition in partitions:
            found = instance.fetch_materializations(
                dg.AssetRecordsFilter(key, asset_partitions=[partition] if partition else None),
                limit=1,
            ).records
            if found:
                rows.append(
                    {
                        "asset": key.to_user_string(),
                        "partition": partition or "",
                        "materialized": _when(found[0].timestamp),
                        "run": found[0].run_id[:8],
                    }
                )
    return pd.DataFrame(rows, columns=["asset", "partition", "materialized", "run"])


def production_summary(folder: Path) -> str:
    record = read_production(folder)
    if record is None:
        return f"no production model yet ({folder} is empty): run `make run`"
    scores = "  ".join(f"{k} {record['scores'][k]:.3f}" for k in HEADLINE_SCORES)
    missed = missed_targets(record["scores"])
    verdict = f"but misses the targets {', '.join(missed)}" if missed else "and meets every target"
    return (
        f"{record['config']} epoch {record['epoch']}, MLflow version "
        f"{record.get('mlflow_model_version', '?')}, guidance {record['guidance_scale']}, "
        f"{record['steps']} steps\n"
        f"  passed every quality gate (so it is in production) {verdict}\n"
        f"  {scores}\n  {folder}"
    )


def recent_runs(instance: dg.DagsterInstance, limit: int = 10) -> pd.DataFrame:
    rows = []
    for record in instance.get_run_records(limit=limit):
        run = record.dagster_run
        started, ended = record.start_time, record.end_time
        rows.append(
            {
                "run": run.run_id[:8],
                "job": run.job_name,
                "partition": run.tags.get("dagster/partition", ""),
                "status": run.status.value,
                "started": _when(started) if started else "",
                "seconds": round(ended - started) if started and ended else "",
                "trigger": run.tags.get("bespoke/trigger")
                or run.tags.get("dagster/schedule_name")
                or run.tags.get("dagster/sensor_name")
                or "manual",
            }
        )
    return pd.DataFrame(
        rows, columns=["run", "job", "partition", "status", "started", "seconds", "trigger"]
    )


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
