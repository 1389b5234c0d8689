"""Dagster wiring only: assets call into the pure packages, record what happened, return."""
