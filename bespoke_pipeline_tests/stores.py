"""Where the storage-sensitive tests (concurrency, promotion, the registry, resume) keep
Dagster's and MLflow's records: SQLite files, and PostgreSQL as well when
BESPOKE_TEST_POSTGRES_URL names a server (`.ci/run` starts one on loopback). Each test gets
fresh databases, dropped afterwards."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

POSTGRES_URL = os.environ.get("BESPOKE_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES_URL else [])]


@dataclass(frozen=True)
class Stores:
    dagster_storage: dict  # the `storage:` section of a dagster.yaml
    tracking_uri: str


def dagster_url(server: str) -> str:
    """dagster-postgres speaks psycopg2's SQL, while SQLAlchemy 2.1 picks psycopg 3 for a
    plain postgresql:// URL: name the driver (the Makefile does the same)."""
    return server.replace("postgresql://", "postgresql+psycopg2://", 1)


@contextmanager
def stores_for(backend: str, root: Path) -> Iterator[Stores]:
    if backend == "sqlite":
        yield Stores(
            {"sqlite": {"base_dir": str(root / "dagster-storage")}},
            f"sqlite:///{root / 'mlflow.db'}",
        )
        return
    import psycopg2

    names = [f"bespoke_test_{uuid.uuid4().hex[:12]}_{part}" for part in ("dagster", "mlflow")]
    admin = psycopg2.connect(f"{POSTGRES_URL}/postgres")
    admin.autocommit = True
    try:
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f'CREATE DATABASE "{name}"')
        yield Stores(
            {"postgres": {"postgres_url": f"{dagster_url(POSTGRES_URL)}/{names[0]}"}},
            f"{POSTGRES_URL}/{names[1]}",
        )
    finally:
        with admin.cursor() as cursor:
            for name in names:
                cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
