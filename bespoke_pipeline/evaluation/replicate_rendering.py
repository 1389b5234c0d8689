"""The evaluation rendered by Replicate predictions of the trained version, for a LoRA
trained there with `score_with_predictions`: an artist without a GPU (or without 24 GB of
FLUX weights) still gets the score table, judged by the same metrics as a local run.

Each image is one prediction at a fixed seed (the evaluation's seed plus the image's
index), cached on disk under the hash of everything sent, so re-scoring, a retried run or
a second config on the same version pays nothing twice. The base model is the same
version at `lora_scale` 0, which both of Replicate's LoRA trainers' predictors take.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import replicate
from PIL import Image

from bespoke_pipeline.evaluation.checkpoint_scores import BASE_EPOCH, evaluation_prompts
from bespoke_pipeline.evaluation.scoring import EvaluationSettings, images_per_checkpoint
from bespoke_pipeline.training.checkpoints import read_sidecar
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.families import Renderer, family_for
from bespoke_pipeline.training.replicate_trainer import RemoteError, call_replicate, download


def checked_prediction_count(
    config: TrainingConfig, settings: EvaluationSettings, captions: list[str]
) -> int:
    """The predictions scoring one checkpoint takes; more than the config's bound fails
    here, before any is paid for."""
    settings = settings.for_family(family_for(config))
    prompts = evaluation_prompts(settings, captions, config.trigger_word)
    needed = images_per_checkpoint(settings, prompts)
    bound = config.replicate.max_predictions_per_checkpoint
    if needed > bound:
        raise RemoteError(
            f"scoring needs {needed} predictions per checkpoint ({len(prompts)} prompts x "
            f"{settings.samples_per_prompt} samples x "
            f"{len(settings.guidance_scales) * len(settings.steps)} sampler settings), over "
            f"max_predictions_per_checkpoint {bound}: raise it, or score fewer prompts or "
            "settings (EvaluationResource)"
        )
    return needed


class ReplicateRendering:
    """`for_epoch(epoch)` is the Renderer of that checkpoint; `made` and `reused` count
    the predictions paid for and those taken from the cache."""

    def __init__(
        self,
        config: TrainingConfig,
        checkpoints: Mapping[int, Path],
        client: replicate.Client,
        cache_dir: Path,
    ) -> None:
        self.config, self.client, self.cache_dir = config, client, cache_dir
        self.versions = {
            epoch: read_sidecar(folder)["replicate_version"]
            for epoch, folder in checkpoints.items()
        }
        self.made = self.reused = 0

    def for_epoch(self, epoch: int) -> Renderer:
        base = epoch == BASE_EPOCH
        version = self.versions[max(self.versions) if base else epoch]

        def render(texts: list[str], steps: int, guidance: float, generator) -> list[Image.Image]:
            seed = generator.initial_seed()
            return [
                self._image(version, self._inputs(text, seed + i, steps, guidance, base))
                for i, text in enumerate(texts)
            ]

        return render

    def _inputs(self, prompt: str, seed: int, steps: int, guidance: float, base: bool) -> dict:
        inputs = {
            "prompt": prompt,
            "seed": seed,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "lora_scale": 0.0 if base else 1.0,
            "num_outputs": 1,
        }
        if self.config.family == "flux":  # the FLUX predictor takes an aspect ratio
            return {**inputs, "aspect_ratio": "1:1", "output_format": "png"}
        side = max(self.config.resolution)
        return {**inputs, "width": side, "height": side}

    def _image(self, version: str, inputs: dict) -> Image.Image:
        request = json.dumps({"version": version, "input": inputs}, sort_keys=True)
        cached = self.cache_dir / hashlib.sha256(request.encode()).hexdigest()
        if cached.exists():
            self.reused += 1
            return Image.open(cached).convert("RGB")
        version_id = version.rsplit(":", 1)[-1]
        prediction = call_replicate(
            lambda: self.client.predictions.create(version=version_id, input=inputs),
            f"rendering on {version}",
        )
        call_replicate(prediction.wait, f"waiting for prediction {prediction.id}")
        self.made += 1
        if prediction.status != "succeeded":
            raise RemoteError(
                f"prediction {prediction.id} on {version} {prediction.status}: {prediction.error}"
            )
        output = prediction.output
        url = output[0] if isinstance(output, list) else output
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        download(url, cached)
        try:
            return Image.open(cached).convert("RGB")
        except OSError as error:  # PIL's "cannot identify image file" is one
            cached.unlink(missing_ok=True)
            raise RemoteError(f"prediction {prediction.id}: {url} is not an image") from error
