"""Pure dataset code: reading and validating the user's raw files, captioning them and
packaging them for trainers. Nothing here knows about Dagster or MLflow."""
