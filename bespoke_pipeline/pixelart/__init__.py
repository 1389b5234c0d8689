"""Pure pixel-art domain code: the bespoke layout, the color vocabulary, the generator,
analysis and captions. Nothing here knows about Dagster or MLflow."""
