"""Pipeline runs in their own process, as `bespoke run` makes them (the dataset, then each
config's training, scores and promotion), on micro settings: the concurrency test starts
several at once against one Dagster instance, runtime folder and tracking store; the sweep
test runs a sweep's members, which are partitions only where $BESPOKE_CONFIG_DIR names
their folder before the pipeline is imported.

    python -m bespoke_pipeline_tests.concurrent_run ROOT RAW CONFIGS TRACKING_URI PARTITION...
"""

import sys
from pathlib import Path

from bespoke_pipeline.definitions import build_definitions
from bespoke_pipeline.defs.instance import open_instance
from bespoke_pipeline.defs.resources import TrainingResource, default_resources
from bespoke_pipeline_tests.test_defs.conftest import QUICK_EVALUATION


def main(
    root: Path, raw_dir: Path, config_dir: Path, tracking_uri: str, partitions: list[str]
) -> None:
    resources = {
        **default_resources(root / "runtime", raw_dir, tracking_uri),
        "training": TrainingResource(config_dir=str(config_dir)),
        "evaluation": QUICK_EVALUATION,
    }
    defs = build_definitions(resources)
    instance = open_instance()  # $DAGSTER_HOME: shared by every process
    runs = [("dataset_job", None), *(("training_job", key) for key in partitions)]
    for job, key in runs:
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, partition_key=key, raise_on_error=False
        )
        if not result.success:
            sys.exit(f"{job} {key}: failed")


if __name__ == "__main__":
    main(*(Path(a) for a in sys.argv[1:4]), sys.argv[4], sys.argv[5:])
