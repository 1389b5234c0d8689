"""Pure evaluation code: how good generated portraits are. Nothing here knows about Dagster."""
