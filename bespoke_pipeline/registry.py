"""The production model in the MLflow registry: what is in production is what the alias
says, for every machine that shares the tracking server; the local production folder is
only a copy of it.

Each version is tagged with its composite score and the dataset it was scored on. The
alias is never set directly to a new version: `settle` points it at the best version of the
current data and reads it back until it stays there. Two promotions that race both settle
after registering, so whichever writes last also sees both versions, and the better model
ends under the alias.
"""

from __future__ import annotations

import tempfile
from contextlib import suppress
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import mlflow.pyfunc
from filelock import FileLock
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models.signature import ModelSignature
from mlflow.tracking import MlflowClient
from mlflow.types.schema import ColSpec, ParamSchema, ParamSpec, Schema

from bespoke_pipeline.evaluation.promotion import read_production, replace_folder, save_record
from bespoke_pipeline.serving import FOLDER_ARTIFACT, PunkModel
from bespoke_pipeline.tracking import TrackedRun

MODEL_NAME = "bespoke-punk-lora"
ALIAS = "production"
PRODUCTION_URI = f"models:/{MODEL_NAME}@{ALIAS}"
#: Where a version's pyfunc model lies in its run's artifacts.
MODEL_ARTIFACT = "model"
#: Each round finds the alias on the best version or moves it there; only a promoter
#: writing at the same moment undoes that, and it settles in turn. Rounds beyond a few
#: mean something keeps moving the alias.
_SETTLE_ROUNDS = 20
#: What the pyfunc model needs installed besides the bespoke_pipeline package itself.
_REQUIREMENTS = ("mlflow", "torch", "diffusers", "transformers", "peft", "safetensors", "pillow")


@dataclass(frozen=True)
class Registered:
    version: str
    composite: float
    composite_ci: float  # half-width of its 95% interval (0 for versions tagged before it)
    dataset_sha256: str
    run_id: str

    @classmethod
    def of(cls, version: ModelVersion) -> Registered:
        return cls(
            str(version.version),
            float(version.tags.get("composite", "nan")),
            float(version.tags.get("composite_ci", "0")),
            version.tags.get("dataset_sha256", ""),
            version.run_id,
        )


def production(client: MlflowClient) -> Registered | None:
    try:
        return Registered.of(client.get_model_version_by_alias(MODEL_NAME, ALIAS))
    except MlflowException:
        return None  # no model, or no version under the alias yet


def best_version(client: MlflowClient, dataset_sha256: str) -> Registered | None:
    """The highest composite among versions scored on this data; ties go to the earlier."""
    versions = [
        Registered.of(v)
        for v in client.search_model_versions(f"name='{MODEL_NAME}'")
        if v.tags.get("dataset_sha256") == dataset_sha256
    ]
    ranked = sorted(versions, key=lambda r: (-r.composite, int(r.version)))
    return ranked[0] if ranked else None


def settle(client: MlflowClient, dataset_sha256: str) -> Registered | None:
    """Point the alias at the best version of this data, and check that it stayed."""
    for _ in range(_SETTLE_ROUNDS):
        best = best_version(client, dataset_sha256)
        holder = production(client)
        if best is None or (holder is not None and holder.version == best.version):
            return best
        # another promoter may create the alias at the same moment: then look again
        with suppress(MlflowException):
            client.set_registered_model_alias(MODEL_NAME, ALIAS, best.version)
    raise RuntimeError(f"the '{ALIAS}' alias of {MODEL_NAME} kept moving; promote again")


def register(run: TrackedRun, folder: Path, record: dict, tags: dict[str, str]) -> Registered:
    """Log the production `folder` as a pyfunc model of `run` and register it as a new
    version (the alias is `settle`'s business)."""
    client = run.client
    with tempfile.TemporaryDirectory() as staging:
        mlflow.pyfunc.save_model(
            Path(staging, MODEL_ARTIFACT),
            python_model=PunkModel(),
            artifacts={FOLDER_ARTIFACT: str(folder)},
            signature=_signature(record),
            pip_requirements=[f"{p}=={metadata.version(p)}" for p in _REQUIREMENTS],
        )
        client.log_artifacts(run.run_id, str(Path(staging, MODEL_ARTIFACT)), MODEL_ARTIFACT)
    _ensure_registered_model(client)
    source = f"{client.get_run(run.run_id).info.artifact_uri}/{MODEL_ARTIFACT}"
    version = client.create_model_version(
        MODEL_NAME,
        source,
        run_id=run.run_id,
        tags={
            **tags,
            "composite": repr(float(record["composite"])),  # exact: a tie must compare equal
            "composite_ci": repr(float(record["scores"].get("composite_ci", 0.0))),
            "dataset_sha256": record["dataset_sha256"],
        },
    )
    return Registered.of(version)


def sync_folder(client: MlflowClient, folder: Path) -> dict | None:
    """The record of the version under the alias, with `folder` made a copy of that version
    when it holds another (after `make clean`, or when another machine promoted)."""
    holder = production(client)
    if holder is None:
        return None
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(folder.with_name(folder.name + ".lock")):
        local = read_production(folder)
        if local is not None and str(local.get("mlflow_model_version")) == holder.version:
            return local
        with tempfile.TemporaryDirectory(dir=folder.parent) as download:
            path = f"{MODEL_ARTIFACT}/artifacts/{FOLDER_ARTIFACT}"
            copy = Path(client.download_artifacts(holder.run_id, path, download))
            record = {**read_production(copy), "mlflow_model_version": holder.version}
            save_record(copy, record)
            replace_folder(copy, folder)
    return record


def _ensure_registered_model(client: MlflowClient) -> None:
    """Two first promotions may both find no model: the loser's create fails harmlessly."""
    if not client.search_registered_models(f"name='{MODEL_NAME}'"):
        try:
            client.create_registered_model(MODEL_NAME)
        except MlflowException:
            client.get_registered_model(MODEL_NAME)  # created meanwhile; anything else raises


def _signature(record: dict) -> ModelSignature:
    """Prompts in; seed and sampler settings as parameters, defaulting to the measured best."""
    return ModelSignature(
        inputs=Schema([ColSpec("string", "prompt")]),
        params=ParamSchema(
            [
                ParamSpec("seed", "long", 0),
                ParamSpec("guidance_scale", "double", float(record["guidance_scale"])),
                ParamSpec("steps", "long", int(record["steps"])),
            ]
        ),
    )
