"""Two scored checkpoints side by side: exactly which settings differ, and which scores
moved beyond the noise of the evaluation, so "why did this run work and that one fail"
is read off a table instead of guessed.

A metric's interval is the 95% interval of its mean over the checkpoint's images at its
best sampler setting; a difference is beyond the noise when it exceeds the interval of
the difference, the two intervals combined (as promotion judges a lead).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from bespoke_pipeline.evaluation.promotion import noise
from bespoke_pipeline.evaluation.scoring import WEIGHTS

#: Rows of the score comparison: the composite, then every metric it weighs.
COMPARED = ["composite", *WEIGHTS]
#: Recorded with a training run but not chosen by the user: its name, what follows from
#: its settings (epochs from steps, sides from resolution) and from the machine (attention
#: kernel, whether encodings came from the cache). Runs differing only in these have the
#: same settings, and a pair differing in num_train_epochs is still a clean pair.
NOT_SETTINGS = {"config_name", "epochs", "training_sides", "attention", "encoded_data"}


@dataclass(frozen=True)
class ScoredCheckpoint:
    label: str  # e.g. "pixel-tiny epoch 8"
    config: dict[str, str]  # the training settings, as recorded
    images: pd.DataFrame  # its per-image metrics at its best sampler setting
    composite: float  # as the score table has it (of the metrics' means) ...
    composite_ci: float  # ... with the interval promotion judges it by


def told_apart(
    a: ScoredCheckpoint, b: ScoredCheckpoint, spec_a: str, spec_b: str
) -> tuple[ScoredCheckpoint, ScoredCheckpoint]:
    """One checkpoint scored in two runs gets the two specs into its labels."""
    if a.label != b.label:
        return a, b
    return replace(a, label=f"{a.label} ({spec_a})"), replace(b, label=f"{b.label} ({spec_b})")


def config_diff(a: ScoredCheckpoint, b: ScoredCheckpoint) -> pd.DataFrame:
    """One row per setting whose value differs (a setting only one side has counts), with
    a's value and b's."""
    keys = sorted((set(a.config) | set(b.config)) - NOT_SETTINGS)
    rows = [
        {"setting": key, "a": a.config.get(key, "-"), "b": b.config.get(key, "-")}
        for key in keys
        if a.config.get(key) != b.config.get(key)
    ]
    return pd.DataFrame(rows, columns=["setting", "a", "b"])


def score_diff(a: ScoredCheckpoint, b: ScoredCheckpoint) -> pd.DataFrame:
    """Per metric: each side's mean (a, b), the difference b - a, its 95% interval, whether
    the difference is beyond it. Metrics neither side was asked about are left out."""
    rows = []
    for metric in COMPARED:
        (mean_a, ci_a), (mean_b, ci_b) = (
            mean_and_interval(a, metric),
            mean_and_interval(b, metric),
        )
        if math.isnan(mean_a) or math.isnan(mean_b):
            continue
        interval = noise(ci_a, ci_b)
        rows.append(
            {
                "metric": metric,
                "a": mean_a,
                "b": mean_b,
                "difference": mean_b - mean_a,
                "interval": interval,
                "beyond_noise": abs(mean_b - mean_a) > interval,
            }
        )
    return pd.DataFrame(rows)


def mean_and_interval(side: ScoredCheckpoint, metric: str) -> tuple[float, float]:
    if metric == "composite":
        return side.composite, side.composite_ci
    if metric not in side.images:  # a metric added after that run was scored
        return math.nan, math.nan
    values = side.images[metric].dropna()
    if values.empty:
        return math.nan, math.nan
    spread = values.std(ddof=1) if len(values) > 1 else 0.0
    return float(values.mean()), float(1.96 * np.nan_to_num(spread) / math.sqrt(len(values)))


def findings(scores: pd.DataFrame) -> list[str]:
    """The moves beyond the noise, in words, largest first."""
    moved = scores[scores["beyond_noise"]].sort_values("difference", key=abs, ascending=False)
    return [
        f"{row.metric}: {row.difference:+.2f} +/- {row.interval:.2f} from a to b"
        for row in moved.itertuples()
    ]


def report(a: ScoredCheckpoint, b: ScoredCheckpoint) -> str:
    """What `bespoke compare` prints: the settings that differ, every score with its
    interval, and the moves beyond the noise in words."""
    settings, scores = config_diff(a, b), score_diff(a, b)
    lines = [f"a: {a.label}", f"b: {b.label}", ""]
    lines.append(
        f"settings that differ ({len(settings)}):" if len(settings) else "the same settings"
    )
    if len(settings):
        lines.append(settings.to_string(index=False))
    lines += [
        "",
        f"scores at each checkpoint's best sampler setting ({len(a.images)} and "
        f"{len(b.images)} images; interval: 95% of the difference):",
        scores.to_string(index=False, float_format=lambda v: f"{v:.3f}"),
        "",
        *(findings(scores) or ["no score moved beyond the noise"]),
    ]
    return "\n".join(lines)
