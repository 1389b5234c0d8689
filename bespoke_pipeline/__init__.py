"""Pipeline-as-code for LoRA training on 24x24 pixel-art portraits ("bespoke punks").

`dagster ... -m bespoke_pipeline` finds the Definitions object here, under a name no
subpackage uses (`defs` is the wiring subpackage). It is built on first access, so the
`bespoke` command and the pure packages start without loading Dagster, MLflow and torch.
"""

import logging
from typing import Any

__version__ = "0.1.0"


class _NoImageProcessorFallbackNotice(logging.Filter):
    """transformers warns, when diffusers' pipelines are imported, that two image
    processors fall back to PIL without torchvision. Nothing here uses an image
    processor, and the first lines every `bespoke` command printed were those."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision (not installed)" not in record.getMessage()


logging.getLogger("transformers.utils.import_utils").addFilter(_NoImageProcessorFallbackNotice())


def __getattr__(name: str) -> Any:
    if name == "pipeline_definitions":
        from bespoke_pipeline.definitions import defs

        return defs
    raise AttributeError(f"module 'bespoke_pipeline' has no attribute {name!r}")


def __dir__() -> list[str]:
    return ["__version__", "pipeline_definitions"]
