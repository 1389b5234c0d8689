"""Two promotions racing on one tracking server end with the better model under the alias."""

from concurrent.futures import ThreadPoolExecutor

from mlflow.tracking import MlflowClient

from bespoke_pipeline.registry import ALIAS, MODEL_NAME, production, settle

DATA = "a" * 64


def register(client: MlflowClient, composite: float, dataset: str = DATA) -> str:
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
    worse = register(client, 0.4)  # A registers; it compared against nothing yet
    better = register(client, 0.6)  # B registers and settles first
    assert settle(client, DATA).version == better
    client.set_registered_model_alias(MODEL_NAME, ALIAS, worse)  # A's late, stale write
    assert settle(client, DATA).version == better  # A checks after writing
    assert production(client).version == better


def test_racing_promoters_end_with_the_best_version(stores):
    client = MlflowClient(stores.tracking_uri)
    client.create_registered_model(MODEL_NAME)
    scores = [0.31, 0.72, 0.55, 0.64, 0.12, 0.70]

    def promote(composite: float) -> None:
        register(client, composite)
        settle(client, DATA)

    with ThreadPoolExecutor(len(scores)) as pool:
        list(pool.map(promote, scores))
    assert production(client).composite == max(scores)


def test_versions_of_other_data_do_not_count(stores):
    client = MlflowClient(stores.tracking_uri)
    client.create_registered_model(MODEL_NAME)
    register(client, 0.9, dataset="b" * 64)
    assert settle(client, DATA) is None
    mine = register(client, 0.3)
    assert settle(client, DATA).version == mine
