import json
import shutil
from pathlib import Path

import mlflow.pyfunc
import numpy as np
import pandas as pd
from mlflow.tracking import MlflowClient

from bespoke_pipeline.defs.resources import EvaluationResource
from bespoke_pipeline.evaluation.promotion import MODEL_CARD, PRODUCTION_RECORD
from bespoke_pipeline.generate import generate
from bespoke_pipeline.paths import production_dir
from bespoke_pipeline.pixelart.colors import rgb_to_hex
from bespoke_pipeline.pixelart.snap import snap_to_grid
from bespoke_pipeline.registry import ALIAS, MODEL_NAME
from bespoke_pipeline_tests.test_defs.conftest import Pipeline
from bespoke_pipeline_tests.test_defs.test_training_assets import micro_configs  # noqa: F401
from bespoke_pipeline_tests.test_training.conftest import tiny_base  # noqa: F401

IMPOSSIBLE = EvaluationResource(
    held_out_prompts=1, samples_per_prompt=2, steps=[2], gates={"min_right_facing": 1.1}
)


def set_registered_composite(client: MlflowClient, version, composite: float) -> None:
    """Make the registry hold a version as if it had scored `composite`."""
    client.set_model_version_tag(MODEL_NAME, version.version, "composite", str(composite))


def test_scores_every_checkpoint_and_promotes_through_the_gates(
    tmp_path,
    raw_dir,
    stores,
    micro_configs,  # noqa: F811
    monkeypatch,
):
    pipeline = Pipeline(tmp_path, raw_dir, stores.tracking_uri)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", pipeline.tracking_uri)  # where generate looks
    pipeline.materialize()
    folder = production_dir(pipeline.root / "runtime")
    client = MlflowClient(pipeline.tracking_uri)

    refused = pipeline.train(micro_configs, evaluation=IMPOSSIBLE)
    scores: pd.DataFrame = refused.output_for_node("checkpoint_scores")
    assert list(scores.epoch) == [0, 1, 2]  # the base model is epoch 0
    assert not scores.passes_gates.any()
    assert scores.gate_failures.str.contains("right_facing").iloc[1:].all()
    assert not (folder / PRODUCTION_RECORD).exists()  # nothing was promoted ...
    assert not client.search_registered_models()
    # ... and the run says why, in words, where a user looks: the check and the asset
    [check] = [
        c
        for c in refused.get_asset_check_evaluations()
        if c.check_name == "a_checkpoint_passes_the_gates"
    ]
    verdict = refused.output_for_node("production_model")["verdict"]
    assert not check.passed and check.severity.value == "WARN"
    assert check.description == verdict
    assert "right_facing" in verdict and "< 1.1" in verdict and "no production model" in verdict

    first = pipeline.train(micro_configs)
    assert first.success
    record = json.loads((folder / PRODUCTION_RECORD).read_text())
    assert record["config"] == "pixel-tiny" and record["epoch"] in (1, 2)
    assert record["guidance_scale"] in (1.0, 2.0) and record["steps"] == 2
    assert (folder / "pytorch_lora_weights.safetensors").is_file()
    assert "previous production" in (folder / MODEL_CARD).read_text()
    # bespoke generate loads the registered pyfunc model, with its sampler settings and
    # palette; any MLflow user gets the same image from the same prompt and seed.
    prompt = "TOK bespoke, 24x24 pixel grid portrait, female"
    made = generate(prompt, seed=3)
    assert made.steps == record["steps"] and made.guidance_scale == record["guidance_scale"]
    model = mlflow.pyfunc.load_model(f"models:/{MODEL_NAME}@{ALIAS}")
    [image] = model.predict(pd.DataFrame({"prompt": [prompt]}), params={"seed": 3})
    assert image.size == (24, 24) and image.tobytes() == made.image.tobytes()
    [other] = model.predict(pd.DataFrame({"prompt": [prompt]}), params={"seed": 4})
    assert other.tobytes() != image.tobytes()

    def on_palette(image) -> int:
        return sum(rgb_to_hex(c) in record["palette"] for c in np.asarray(image).reshape(-1, 3))

    assert on_palette(made.image) > on_palette(snap_to_grid(made.raw))
    version = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
    assert str(version.version) == "1" and version.tags["previous_production_version"] == "none"

    # The registry, not the local folder, says how good production is: a local record
    # claiming better changes nothing ...
    (folder / PRODUCTION_RECORD).write_text(json.dumps({**record, "composite": 99.0}))
    # ... and production that the registry records as worse gives way.
    set_registered_composite(client, version, -1.0)
    assert pipeline.train(micro_configs).success
    moved = client.get_model_version_by_alias(MODEL_NAME, ALIAS)
    assert str(moved.version) == "2" and moved.tags["previous_production_version"] == "1"
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == 2

    # After `make clean` with a shared tracking server, the same scores are still not
    # better: production stays, and the local folder comes back as the registry's version.
    for path in (pipeline.root / "runtime").iterdir():
        if path.name != "mlflow":  # stands in for the shared server's artifact store
            shutil.rmtree(path) if path.is_dir() else path.unlink()
    pipeline.materialize()
    assert pipeline.train(micro_configs).success
    assert str(client.get_model_version_by_alias(MODEL_NAME, ALIAS).version) == "2"
    assert len(client.search_model_versions(f"name='{MODEL_NAME}'")) == 2  # a tie registers nothing
    assert str(json.loads((folder / PRODUCTION_RECORD).read_text())["mlflow_model_version"]) == "2"
    assert (folder / "pytorch_lora_weights.safetensors").is_file()

    # New data: production's scores were made on other data and do not count, so a model
    # of the new data takes over even against a production recorded as far better.
    set_registered_composite(client, moved, 99.0)
    next(pipeline.raw_dir.glob("*.png")).unlink()
    pipeline.materialize()
    assert pipeline.train(micro_configs).success
    assert str(client.get_model_version_by_alias(MODEL_NAME, ALIAS).version) == "3"

    run = next(
        r for r in pipeline.mlflow_runs() if r.data.tags["dagster.asset_key"] == "checkpoint_scores"
    )
    composite = client.get_metric_history(run.info.run_id, "composite")
    assert sorted({m.step for m in composite}) == [0, 1, 2]  # quality over epochs
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"comparison.png", "scores.csv"} <= artifacts


def test_generate_renders_a_snapped_portrait_with_a_checkpoint(pipeline, micro_configs):  # noqa: F811
    pipeline.materialize()
    checkpoints = pipeline.train(micro_configs).output_for_node("lora_checkpoints")
    folder = Path(checkpoints.diffusers_file.iloc[-1]).parent
    result = generate("TOK bespoke, 24x24 pixel grid portrait, male", seed=1, checkpoint=folder)
    assert result.image.size == (24, 24)
    again = generate("TOK bespoke, 24x24 pixel grid portrait, male", seed=1, checkpoint=folder)
    assert again.image.tobytes() == result.image.tobytes()
