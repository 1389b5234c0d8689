"""Pure training code: configs, the embedded base model, the LoRA loop and checkpoint files.
Nothing here knows about Dagster or MLflow; progress goes through a callback."""
