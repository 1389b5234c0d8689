"""What each training setting did to each score, read off every scored run together: the
question the artist could never answer when eleven settings changed between a good run
and a bad one.

An effect is estimated from pairs of runs that differ in that one setting and nothing else
(a sweep makes such pairs): the inverse-variance mean of the paired differences, each
difference's variance from the two runs' measurement intervals, widened to the spread of
the differences when that is larger (the setting does not act alike everywhere). Where no
such pair exists, the two groups' means are compared and the row says which other
settings also differ between them: a lead to test, not a finding.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from bespoke_pipeline.evaluation.comparison import (
    COMPARED,
    NOT_SETTINGS,
    ScoredCheckpoint,
    mean_and_interval,
)

_Z = 1.96
COLUMNS = [
    "setting",
    "from_value",
    "to_value",
    "metric",
    "effect",
    "interval",
    "runs",
    "paired",
    "beyond_noise",
    "also_differ",
]


def setting_effects(runs: Sequence[ScoredCheckpoint]) -> pd.DataFrame:
    """One row per setting, pair of its values and metric: the effect of going from one
    value to the other, its 95% interval, how many runs (or pairs) it rests on."""
    varying = _varying(runs)
    rows = []
    for setting in varying:
        others = [s for s in varying if s != setting]
        for low, high in itertools.combinations(_ordered(_values(runs, setting)), 2):
            at_low = [r for r in runs if _value(r, setting) == low]
            at_high = [r for r in runs if _value(r, setting) == high]
            pairs = [
                (a, b)
                for a in at_low
                for b in at_high
                if all(_value(a, s) == _value(b, s) for s in others)
            ]
            also = [s for s in others if _values(at_low, s) != _values(at_high, s)]
            for metric in COMPARED:
                estimate = _paired(pairs, metric) if pairs else _unpaired(at_low, at_high, metric)
                if estimate is None:
                    continue
                effect, interval, count = estimate
                rows.append(
                    {
                        "setting": setting,
                        "from_value": low,
                        "to_value": high,
                        "metric": metric,
                        "effect": effect,
                        "interval": interval,
                        "runs": count,
                        "paired": bool(pairs),
                        "beyond_noise": abs(effect) > interval,
                        "also_differ": "" if pairs else ", ".join(also),
                    }
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def findings(effects: pd.DataFrame) -> list[str]:
    """The effects beyond the noise in words, the surest first, e.g. "lora_rank 32 -> 64:
    background -0.31 +/- 0.08 over 4 paired runs"."""
    moved = effects[effects["beyond_noise"].astype(bool)]  # typed even with no rows
    moved = moved.assign(sureness=moved["effect"].abs() / moved["interval"].clip(lower=1e-9))
    lines = []
    for row in moved.sort_values(["paired", "sureness"], ascending=False).itertuples():
        basis = (
            f"over {row.runs} paired runs"
            if row.paired
            else f"over {row.runs} runs, not paired: they also differ in {row.also_differ}"
        )
        lines.append(
            f"{row.setting} {row.from_value} -> {row.to_value}: {row.metric} "
            f"{row.effect:+.2f} +/- {row.interval:.2f} {basis}"
        )
    return lines


def _varying(runs: Sequence[ScoredCheckpoint]) -> list[str]:
    keys = sorted({k for r in runs for k in r.config} - NOT_SETTINGS)
    return [k for k in keys if len(_values(runs, k)) > 1]


def _value(run: ScoredCheckpoint, setting: str) -> str:
    return run.config.get(setting, "-")


def _values(runs: Sequence[ScoredCheckpoint], setting: str) -> set[str]:
    return {_value(r, setting) for r in runs}


def _ordered(values: set[str]) -> list[str]:
    """Unset first ("None", or "-" where a run did not record the setting), then numbers
    by size, then text: effects read from off to on, and from the smaller value up."""

    def key(value: str) -> tuple[int, float, str]:
        if value in ("None", "-"):
            return (0, 0.0, value)
        try:
            return (1, float(value), value)
        except ValueError:
            return (2, 0.0, value)

    return sorted(values, key=key)


def _paired(
    pairs: list[tuple[ScoredCheckpoint, ScoredCheckpoint]], metric: str
) -> tuple[float, float, int] | None:
    diffs, variances = [], []
    for a, b in pairs:
        (mean_a, ci_a), (mean_b, ci_b) = mean_and_interval(a, metric), mean_and_interval(b, metric)
        if math.isnan(mean_a) or math.isnan(mean_b):
            continue
        diffs.append(mean_b - mean_a)
        variances.append((ci_a / _Z) ** 2 + (ci_b / _Z) ** 2)
    if not diffs:
        return None
    d, v = np.array(diffs), np.array(variances)
    weights = 1 / np.maximum(v, 1e-12)
    effect = float(np.sum(weights * d) / np.sum(weights))
    interval = _Z * math.sqrt(1 / np.sum(weights)) if np.all(v > 0) else 0.0
    if len(d) > 1:  # the spread between contexts, when it says more than the noise does
        spread = stats.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / math.sqrt(len(d))
        interval = max(interval, float(spread))
    return effect, interval, len(d)


def _unpaired(
    low: list[ScoredCheckpoint], high: list[ScoredCheckpoint], metric: str
) -> tuple[float, float, int] | None:
    sides = []
    for group in (low, high):
        measured = [mean_and_interval(r, metric) for r in group]
        measured = [(m, ci) for m, ci in measured if not math.isnan(m)]
        if not measured:
            return None
        means = np.array([m for m, _ in measured])
        noise = np.mean([(ci / _Z) ** 2 for _, ci in measured]) / len(means)
        between = means.var(ddof=1) / len(means) if len(means) > 1 else 0.0
        sides.append((float(means.mean()), max(noise, between), len(means)))
    (mean_low, var_low, n_low), (mean_high, var_high, n_high) = sides
    return mean_high - mean_low, _Z * math.sqrt(var_low + var_high), n_low + n_high
