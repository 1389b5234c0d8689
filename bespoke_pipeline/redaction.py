"""Keeping credentials out of everything we record.

Secrets live only in environment variables (REPLICATE_API_TOKEN, WANDB_API_KEY, ...). Any
value that could reach MLflow params/tags, Dagster metadata or a log line passes through
`redact`, so a token pasted into a caption or a config still never leaves the machine.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

#: Environment variables holding credentials (REPLICATE_API_TOKEN, WANDB_API_KEY, ...).
_SECRET_ENV = re.compile(r"_(TOKEN|KEY|SECRET|PASSWORD)$", re.IGNORECASE)
#: Mapping keys whose values are credentials, whatever they hold ("asset_key" is not one).
_SECRET_FIELD = re.compile(
    r"(token|secret|password|api_?key|access_key|private_key)$", re.IGNORECASE
)
REDACTED = "***"


def secret_values(environ: Mapping[str, str] | None = None) -> list[str]:
    env = os.environ if environ is None else environ
    # Very short values would redact ordinary words and numbers.
    return sorted(
        {v for k, v in env.items() if _SECRET_ENV.search(k) and len(v) >= 6}, key=len, reverse=True
    )


def redact(value: object, environ: Mapping[str, str] | None = None) -> object:
    """The value with every secret's text replaced, recursing into dicts and lists; dict
    entries whose key names a secret are masked whatever their value."""
    secrets = secret_values(environ)

    def clean(item: object) -> object:
        if isinstance(item, str):
            for secret in secrets:
                item = item.replace(secret, REDACTED)
            return item
        if isinstance(item, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and _SECRET_FIELD.search(k) else clean(v)
                for k, v in item.items()
            }
        if isinstance(item, (list, tuple)):
            return type(item)(clean(i) for i in item)
        return item

    return clean(value)
