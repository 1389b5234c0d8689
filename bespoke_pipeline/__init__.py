"""Pipeline-as-code for LoRA training on 24x24 pixel-art portraits ("bespoke punks").

`dagster ... -m bespoke_pipeline` finds the Definitions object `defs` here. It is built on
first access, so the `bespoke` command and the pure packages start without loading Dagster,
MLflow and the training stack.
"""

from typing import Any

__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "defs":
        from bespoke_pipeline.definitions import defs

        # importing the `defs/` subpackage bound that name to it; the Definitions win
        globals()["defs"] = defs
        return defs
    raise AttributeError(f"module 'bespoke_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["__version__", "defs"]
