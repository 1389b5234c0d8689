"""A sweep through the pipeline: one config file with two lists trains four partitions, each
named by what it sets and kept apart on disk and in MLflow; `setting_effects` then reads
them together, and `run_comparison` lists only what two of them set differently."""

import dagster as dg
import mlflow
import pandas as pd
import yaml
from mlflow.tracking import MlflowClient

from bespoke_pipeline.defs.experiments import run_comparison
from bespoke_pipeline.defs.resources import MlflowResource
from bespoke_pipeline.tracking import EXPERIMENT
from bespoke_pipeline.training.config import config_names
from bespoke_pipeline_tests.stores import stores_for
from bespoke_pipeline_tests.test_defs.test_training_assets import micro_configs  # noqa: F401
from bespoke_pipeline_tests.test_training.conftest import tiny_base  # noqa: F401
from bespoke_pipeline_tests.workers import Workers


def test_a_two_by_two_sweep_trains_four_partitions_read_together(
    tmp_path,
    raw_dir,
    micro_configs,  # noqa: F811
):
    micro = yaml.safe_load((micro_configs / "pixel-tiny.yaml").read_text())
    shared = {k: v for k, v in micro.items() if k not in ("lora_rank", "learning_rate")}
    sweeps = tmp_path / "sweeps"
    sweeps.mkdir()
    (sweeps / "micro.yaml").write_text(
        yaml.safe_dump(
            {**shared, "lora_rank": [2, 4], "learning_rate": [1e-9, 3e-3]}, sort_keys=False
        )
    )
    members = config_names(sweeps)  # named in the file's order, sorted by name
    assert members == [
        "micro@lora_rank=2+learning_rate=0.003",
        "micro@lora_rank=2+learning_rate=1e-09",
        "micro@lora_rank=4+learning_rate=0.003",
        "micro@lora_rank=4+learning_rate=1e-09",
    ]
    with stores_for("sqlite", tmp_path) as stores:
        workers = Workers(tmp_path, raw_dir, sweeps, stores)
        run = workers.start(*members, env={"BESPOKE_CONFIG_DIR": str(sweeps)})
        _, error = run.communicate(timeout=900)
        assert run.returncode == 0, error[-3000:]

        scores = tmp_path / "runtime" / "assets" / "checkpoint_scores"
        assert sorted(p.name for p in scores.iterdir()) == sorted(f"{m}.parquet" for m in members)
        client = MlflowClient(stores.tracking_uri)
        experiment = client.get_experiment_by_name(EXPERIMENT).experiment_id
        trained = {
            r.data.tags["dagster.partition"]: r.data.params
            for r in client.search_runs([experiment], "tags.`dagster.asset_key` = 'lora'")
        }
        assert {m: (p["lora_rank"], p["learning_rate"]) for m, p in trained.items()} == {
            members[0]: ("2", "0.003"),
            members[1]: ("2", "1e-09"),
            members[2]: ("4", "0.003"),
            members[3]: ("4", "1e-09"),
        }

        [latest, *_] = client.search_runs(
            [experiment],
            "tags.`dagster.asset_key` = 'setting_effects'",
            order_by=["attributes.start_time DESC"],
        )
        assert latest.data.params["scored_runs"] == "4"
        effects = pd.read_csv(
            mlflow.artifacts.download_artifacts(
                run_id=latest.info.run_id,
                artifact_path="effects.csv",
                tracking_uri=stores.tracking_uri,
            )
        ).set_index(["setting", "metric"])
        assert set(effects.index.get_level_values("setting")) == {"learning_rate", "lora_rank"}
        composite = effects.loc[("learning_rate", "composite")]
        assert (composite["from_value"], composite["to_value"]) == (1e-09, 0.003)  # small to large
        assert composite["paired"] and composite["runs"] == 2

        compared = dg.materialize(
            [run_comparison],
            resources={"mlflow": MlflowResource(tracking_uri=stores.tracking_uri)},
            run_config={"ops": {"run_comparison": {"config": {"a": members[0], "b": members[2]}}}},
        )
        value = compared.output_for_node("run_comparison")
        assert value["settings_that_differ"] == 1  # lora_rank; the rest of the file is shared
        table = compared.get_asset_materialization_events()[0].materialization.metadata
        rows = table["settings_that_differ"].value.records
        assert [r.data["setting"] for r in rows] == ["lora_rank"]
