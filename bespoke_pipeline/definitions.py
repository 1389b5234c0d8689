"""The one Definitions object for `dagster dev`, `dagster asset materialize -m
bespoke_pipeline` and `dg launch`; tests build the same graph with other resources."""

from collections.abc import Mapping

import dagster as dg

from bespoke_pipeline.defs import checks, dataset
from bespoke_pipeline.defs.resources import default_resources


def build_definitions(resources: Mapping[str, object]) -> dg.Definitions:
    return dg.Definitions(
        assets=dg.load_assets_from_modules([dataset]),
        asset_checks=dg.load_asset_checks_from_modules([checks]),
        resources=resources,
    )


defs = build_definitions(default_resources())
