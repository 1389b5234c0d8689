"""What is in the raw folder, by content: the retrain sensor compares these, so a copy that
only touches a file (new modification time, same bytes) changes nothing."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bespoke_pipeline.dataset.images import file_digest

Fingerprint = dict[str, str]  # file name -> sha256 of its bytes


def fingerprint(folder: Path) -> Fingerprint:
    """Every visible file directly in `folder` (what the raw_images scan reads)."""
    return {
        p.name: file_digest(p)
        for p in sorted(folder.iterdir())
        if p.is_file() and not p.name.startswith(".")
    }


def digest(prints: Fingerprint) -> str:
    return hashlib.sha256(json.dumps(prints, sort_keys=True).encode()).hexdigest()


def describe_change(before: Fingerprint, after: Fingerprint) -> str:
    """ "2 added (punk_0194.png, ...), 1 changed (...), 1 removed (...)"."""
    groups = {
        "added": sorted(after.keys() - before.keys()),
        "changed": sorted(k for k in after.keys() & before.keys() if after[k] != before[k]),
        "removed": sorted(before.keys() - after.keys()),
    }
    parts = []
    for label, names in groups.items():
        if names:
            shown = ", ".join(names[:3]) + (", ..." if len(names) > 3 else "")
            parts.append(f"{len(names)} {label} ({shown})")
    return "; ".join(parts) or "no change"
