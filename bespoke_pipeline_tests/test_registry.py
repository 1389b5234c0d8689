"""Two promotions racing on one tracking server end with the better model under the alias."""

from concurrent.futures import ThreadPoolExecutor

import pandas as pd
from mlflow.tracking import MlflowClient

from bespoke_pipeline.evaluation.promotion import beats
from bespoke_pipeline.registry import (
    ALIAS,
    MODEL_NAME,
    best_version,
    production,
    register,
    settle,
)
from bespoke_pipeline.tracking import tracked_run

DATA = "a" * 64


def add_version(client: MlflowClient, composite: float, dataset: str = DATA) -> str:
    run = client.create_run(client.create_experiment(f"e{composite}-{dataset[:4]}"))
    version = client.create_model_version(
        MODEL_NAME,
        "file:///nowhere",
        run_id=run.info.run_id,
        tags={"composite": str(composite), "dataset_sha256": dataset},
    )
    return str(version.version)


def test_a_stale_alias_write_is_undone_by_the_promoter_that_made_it(stores):
    client = MlflowClient(stores.tracking_uri)
    client.create_registered_model(MODEL_NAME)
    worse = add_version(client, 0.4)  # A registers; it compared against nothing yet
    better = add_version(client, 0.6)  # B registers and settles first
    assert settle(client, DATA).version == better
    client.set_registered_model_alias(MODEL_NAME, ALIAS, worse)  # A's late, stale write
    assert settle(client, DATA).version == better  # A checks after writing
    assert production(client).version == better


def test_racing_promoters_end_with_the_best_version(stores):
    client = MlflowClient(stores.tracking_uri)
    client.create_registered_model(MODEL_NAME)
    scores = [0.31, 0.72, 0.55, 0.64, 0.12, 0.70]

    def promote(composite: float) -> None:
        add_version(client, composite)
        settle(client, DATA)

    with ThreadPoolExecutor(len(scores)) as pool:
        list(pool.map(promote, scores))
    assert production(client).composite == max(scores)


def test_versions_of_other_data_do_not_count(stores):
    client = MlflowClient(stores.tracking_uri)
    client.create_registered_model(MODEL_NAME)
    add_version(client, 0.9, dataset="b" * 64)
    assert settle(client, DATA) is None
    mine = add_version(client, 0.3)
    assert settle(client, DATA).version == mine


def test_a_model_as_good_as_production_is_not_registered_again(stores, tmp_path):
    """The composite goes through the version tag exactly (it was once rounded to six
    places, so retraining the same model after `make clean` registered a "better" copy)."""
    folder = tmp_path / "production"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"not read here")
    composite = 0.6771252893518519
    record = {
        "composite": composite,
        "guidance_scale": 1.0,
        "steps": 10,
        "dataset_sha256": DATA,
        "scores": {"composite": composite, "composite_ci": 0.02},
    }
    with tracked_run(stores.tracking_uri, "bespoke-punks", "production_model", {}) as run:
        registered = register(run, folder, record, {})
    client = MlflowClient(stores.tracking_uri)
    assert settle(client, DATA).version == registered.version
    production = best_version(client, DATA)
    assert production.composite_ci == 0.02
    again = pd.Series({"composite": composite, "composite_ci": 0.02})
    assert not beats(again, production.composite, production.composite_ci)
