"""Pure model code: the architectures the pipeline ships or builds. Nothing here knows
about Dagster, MLflow, training configs or evaluation."""
