"""The one Definitions object for `dagster dev`, `dagster asset materialize -m
bespoke_pipeline` and `dg launch`."""

import dagster as dg

from bespoke_pipeline.defs import checks, dataset
from bespoke_pipeline.defs.resources import default_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([dataset]),
    asset_checks=dg.load_asset_checks_from_modules([checks]),
    resources=default_resources(),
)
