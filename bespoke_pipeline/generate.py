"""`bespoke generate`: one prompt rendered by the registered production model, loaded as
any MLflow user would load it, or by a checkpoint folder given explicitly."""

from __future__ import annotations

from pathlib import Path

import mlflow.pyfunc

from bespoke_pipeline.paths import default_tracking_uri
from bespoke_pipeline.registry import PRODUCTION_URI
from bespoke_pipeline.serving import Generated, PunkModel, Renderer


def generate(
    prompt: str,
    seed: int,
    checkpoint: Path | None = None,
    guidance_scale: float | None = None,
    steps: int | None = None,
    model_uri: str = PRODUCTION_URI,
) -> Generated:
    """Without `checkpoint`, the registered production model (`model_uri`, by default the
    alias on the configured tracking server); sampler settings are its evaluated best
    unless given explicitly."""
    if checkpoint is not None:
        return Renderer(checkpoint)(prompt, seed, guidance_scale, steps)
    mlflow.set_tracking_uri(default_tracking_uri())
    try:
        model = mlflow.pyfunc.load_model(model_uri)
    except mlflow.exceptions.MlflowException as error:
        raise FileNotFoundError(
            f"no production model at {model_uri} on {default_tracking_uri()}: run `make run` "
            f"first, or pass --checkpoint PATH ({error.message.splitlines()[0]})"
        ) from None
    punks: PunkModel = model.unwrap_python_model()
    return punks.renderer(prompt, seed, guidance_scale, steps)
