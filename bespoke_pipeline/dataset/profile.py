"""Where the features of a dataset actually are, against where its captions say they are.

Real bespoke art has its pupils one column right of the template's "(8,12) and (13,12)"
in most images. That is one finding about the set ("captions say pupils at (8,12)/(13,12);
160 of 193 images have them at (9,12)/(14,12)"), not 193 per-image errors, and the profile
is what evaluation should judge eye placement against.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import pandas as pd

#: feature -> (key in the found layout, key in the stated layout, pixels or rows)
_FEATURES: dict[str, tuple[str, str, str]] = {
    "pupils": ("pupils", "pupils", "pixels"),
    "irises": ("irises", "irises", "pixels"),
    "nose": ("nose", "nose", "pixels"),
    "mouth row": ("mouth_row", "mouth_rows", "rows"),
    "collar top row": ("collar_top", "collar_rows", "rows"),
}


@dataclass(frozen=True)
class FeatureProfile:
    feature: str
    position: str | None  # most common position found, as the template writes it
    images: int  # images that have it at that position
    found_in: int  # images where the feature was found at all
    stated: str | None  # most common position the captions state
    stated_by: int  # captions stating that
    agrees: bool | None  # None when the captions state nothing

    def finding(self) -> str | None:
        if self.stated is None or self.position is None or self.agrees:
            return None
        return (
            f"captions say {self.feature} at {self.stated} ({self.stated_by} captions); "
            f"{self.images} of {self.found_in} images have them at {self.position}"
        )


def layout_profile(frame: pd.DataFrame) -> list[FeatureProfile]:
    """The profile of a captions frame (`captions.captions_frame`)."""
    found = [json.loads(v) for v in frame.layout]
    stated = [json.loads(v) for v in frame.stated_layout]
    profile = []
    for feature, (found_key, stated_key, kind) in _FEATURES.items():
        positions = Counter(
            _format(f[found_key], kind) for f in found if f.get(found_key) is not None
        )
        claims = Counter(_format(s[stated_key], kind) for s in stated if stated_key in s)
        position, images = positions.most_common(1)[0] if positions else (None, 0)
        claim, stated_by = claims.most_common(1)[0] if claims else (None, 0)
        agrees = None
        if claim is not None and position is not None:
            agrees = _covers(claim, position)
        profile.append(
            FeatureProfile(
                feature, position, images, sum(positions.values()), claim, stated_by, agrees
            )
        )
    return profile


def _format(value: object, kind: str) -> str:
    """Pixels as the template writes them, "(9,12)/(14,12)"; rows as "y=17" or "y=15-16"."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if kind == "pixels":
        return "/".join(f"({x},{y})" for x, y in zip(values[::2], values[1::2], strict=True))
    return "y=" + "-".join(str(v) for v in values)


def _covers(claim: str, position: str) -> bool:
    """A stated row range covers a found row; anything else must match exactly."""
    if claim.startswith("y=") and position.startswith("y="):
        low, _, high = claim[2:].partition("-")
        return int(low) <= int(position[2:]) <= int(high or low)
    return claim == position


def profile_frame(profile: list[FeatureProfile]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "feature": p.feature,
                "found at": p.position,
                "images": p.images,
                "found in": p.found_in,
                "share": round(p.images / p.found_in, 3) if p.found_in else None,
                "captions say": p.stated,
                "captions": p.stated_by,
                "agrees": p.agrees,
            }
            for p in profile
        ]
    )
