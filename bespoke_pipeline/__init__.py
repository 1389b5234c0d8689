"""Pipeline-as-code for LoRA training on 24x24 pixel-art portraits ("bespoke punks").

`dagster ... -m bespoke_pipeline` finds the Definitions object `defs` here.
"""

__version__ = "0.1.0"

from bespoke_pipeline.definitions import defs  # noqa: E402

__all__ = ["__version__", "defs"]
