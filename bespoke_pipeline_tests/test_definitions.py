import inspect
import json

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
        "setting_effects",
        "run_comparison",
    }
    assert found[0].resolve_job_def("training_job").partitions_def.get_partition_keys() == [
        "flux-dev",
        "pixel-tiny",
        "sd15-kohya",
        "sdxl",
    ]


def test_the_k8s_profile_runs_steps_as_pods_and_gives_training_a_gpu():
    from dagster_k8s import k8s_job_executor

    from bespoke_pipeline.definitions import build_definitions
    from bespoke_pipeline.defs.resources import default_resources

    defs = build_definitions(default_resources(), profile="k8s")
    job = defs.resolve_job_def("training_job")
    assert job.executor_def is k8s_job_executor
    gpu = {}
    for node in job.graph.node_defs:
        config = json.loads(node.tags.get("dagster-k8s/config", "{}"))  # tags are strings
        resources = (config.get("container_config") or {}).get("resources", {})
        gpu[node.name] = resources.get("limits", {}).get("nvidia.com/gpu")
    assert gpu["lora"] == "1" and gpu["checkpoint_scores"] == "1"
    assert gpu["production_model"] is None  # no GPU node for bookkeeping
