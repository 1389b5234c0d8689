"""Where things live by default. Everything a run writes goes under one gitignored runtime
folder (`.bespoke/`, or $BESPOKE_HOME), never into data/raw."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = PROJECT_DIR / "data"
RAW_DIR = DATA_DIR / "raw"
#: The pretraining state behind the shipped base weights (model, optimizer, EMA, RNG,
#: tokenizer): committed while pretraining is unfinished, so any machine can go on from it.
PRETRAIN_STATE_DIR = DATA_DIR / "base" / "pixel-punk-base-state"


def runtime_dir() -> Path:
    return Path(os.environ.get("BESPOKE_HOME", PROJECT_DIR / ".bespoke")).resolve()


def default_tracking_uri() -> str:
    """$MLFLOW_TRACKING_URI when set (a team server), else a local SQLite store."""
    return (
        os.environ.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{runtime_dir() / 'mlflow' / 'mlflow.db'}"
    )


def mlflow_artifact_location(tracking_uri: str, runtime: Path | None = None) -> str | None:
    """Where MLflow keeps run artifacts and registered models: $BESPOKE_MLFLOW_ARTIFACTS when
    set (a shared folder or bucket, beside a shared database); a tracking server decides for
    itself; a local store keeps them in the runtime folder, which `make clean` empties with
    the store. A database shared by several machines needs the shared setting, or its
    registry would point at files only one machine has."""
    if os.environ.get("BESPOKE_MLFLOW_ARTIFACTS"):
        return os.environ["BESPOKE_MLFLOW_ARTIFACTS"]
    if tracking_uri.startswith(("http://", "https://", "databricks")):
        return None
    return str((runtime or runtime_dir()) / "mlflow" / "artifacts")


def production_dir(runtime: Path | None = None) -> Path:
    """The stable folder holding the promoted model, its settings and model card."""
    return (runtime or runtime_dir()) / "production"
