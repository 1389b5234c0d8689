"""Asset values as plain files: DataFrames as parquet, small records as JSON. Anyone can
open them, and nothing is pickled. Each is written under a temporary name and renamed into
place, so a run reading a value never sees another run's half-written one.

An input declared with `AssetIn(metadata={BY_PARTITION: True})` loads every materialized
partition as {partition key: value}; partitions never materialized (a config this machine
cannot train) are simply absent.
"""

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from bespoke_pipeline.atomic import replacing

BY_PARTITION = "load_by_partition"


class TableIOManager(dg.ConfigurableIOManager):
    base_dir: str

    def _stem(self, context: dg.OutputContext | dg.InputContext) -> Path:
        parts = list(context.asset_key.path)
        if context.has_asset_partitions:
            parts.append(context.asset_partition_key)
        return Path(self.base_dir, *parts)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        stem = self._stem(context)
        if isinstance(obj, pd.DataFrame):
            with replacing(_named(stem, ".parquet")) as tmp:
                obj.to_parquet(tmp, index=False)
        elif isinstance(obj, dict):
            with replacing(_named(stem, ".json")) as tmp:
                tmp.write_text(json.dumps(obj, indent=2, sort_keys=True))
        else:
            raise TypeError(
                f"{context.asset_key.to_user_string()}: cannot store a "
                f"{type(obj).__name__}; return a DataFrame or a dict"
            )

    def load_input(self, context: dg.InputContext) -> object:
        if (context.definition_metadata or {}).get(BY_PARTITION):
            folder = Path(self.base_dir, *context.asset_key.path)
            found = {key: _read(folder / key) for key in context.asset_partition_keys}
            return {key: value for key, value in found.items() if value is not None}
        value = _read(self._stem(context))
        if value is None:
            raise FileNotFoundError(
                f"{context.asset_key.to_user_string()} has not been "
                f"materialized yet (looked for {self._stem(context)}.parquet/.json)"
            )
        return value


def _named(stem: Path, suffix: str) -> Path:
    """The file of a value: the suffix added, never swapped for the partition key's own
    dotted ending (a sweep member's "learning_rate=0.004", a config named "sd1.5")."""
    return stem.with_name(stem.name + suffix)


def _read(stem: Path) -> object | None:
    if _named(stem, ".parquet").exists():
        return pd.read_parquet(_named(stem, ".parquet"))
    if _named(stem, ".json").exists():
        return json.loads(_named(stem, ".json").read_text())
    return None
