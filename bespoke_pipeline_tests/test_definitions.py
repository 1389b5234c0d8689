import inspect

import dagster as dg

import bespoke_pipeline
import bespoke_pipeline.definitions  # noqa: F401  (binds the `defs` subpackage name first)


def test_dagster_finds_one_definitions_object_in_the_package():
    """What `dagster ... -m bespoke_pipeline` does: scan the module's members for Definitions."""
    found = [v for _, v in inspect.getmembers(bespoke_pipeline) if isinstance(v, dg.Definitions)]
    assert len(found) == 1
    graph = found[0].resolve_asset_graph()
    assert {k.to_user_string() for k in graph.get_all_asset_keys()} == {
        "raw_images",
        "captions",
        "dataset_profile",
        "training_package",
        "lora",
        "lora_checkpoints",
        "base_model",
        "checkpoint_scores",
        "production_model",
    }
    assert found[0].resolve_job_def("training_job").partitions_def.get_partition_keys() == [
        "flux-dev",
        "pixel-tiny",
        "sdxl",
    ]
