"""Pipeline-as-code for LoRA training on 24x24 pixel-art portraits ("bespoke punks").

`dagster ... -m bespoke_pipeline` finds the Definitions object here, under a name no
subpackage uses (`defs` is the wiring subpackage). It is built on first access, so the
`bespoke` command and the pure packages start without loading Dagster, MLflow and torch.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "pipeline_definitions":
        from bespoke_pipeline.definitions import defs

        return defs
    raise AttributeError(f"module 'bespoke_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["__version__", "pipeline_definitions"]
