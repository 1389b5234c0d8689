"""Does `bespoke suggest` get there in fewer runs than a grid? Replayed on a sweep whose every
combination has been scored: each strategy picks the next combination to run, its score is
looked up instead of trained (training is deterministic for a seed, so it is what a run
would give), and we count the runs until one reaches the target composite."""

from __future__ import annotations

import random
from collections.abc import Callable

import pandas as pd

from bespoke_pipeline.evaluation.suggestions import combination_key, suggest
from bespoke_pipeline.training.sweep import SweepSpace

Key = tuple[str, ...]


def runs_to_reach(
    next_key: Callable[[dict[Key, float]], Key], truth: dict[Key, float], target: float
) -> int:
    done: dict[Key, float] = {}
    while True:
        key = next_key(done)
        done[key] = truth[key]
        if done[key] >= target or len(done) == len(truth):
            return len(done)


def bench_suggest(
    space: SweepSpace, truth: dict[Key, float], target: float, repeats: int
) -> pd.DataFrame:
    """Runs needed per strategy: the grid in the file's order, the grid in random orders
    (random search), and TPE as `bespoke suggest` runs it, one run at a time."""
    in_order = [combination_key(space, v) for v in space.combinations()]

    def grid(order: list[Key]) -> Callable[[dict[Key, float]], Key]:
        return lambda done: order[len(done)]

    def tpe(seed: int) -> Callable[[dict[Key, float]], Key]:
        return lambda done: combination_key(space, suggest(space, done, 1, seed=seed)[0].values)

    shuffled = [random.Random(r).sample(in_order, len(in_order)) for r in range(repeats)]
    counts = {
        "grid, the file's order": [runs_to_reach(grid(in_order), truth, target)],
        "grid, random order": [runs_to_reach(grid(o), truth, target) for o in shuffled],
        "bespoke suggest (TPE)": [runs_to_reach(tpe(r), truth, target) for r in range(repeats)],
    }
    return pd.DataFrame(
        [
            {
                "strategy": name,
                "repeats": len(runs),
                "mean_runs": sum(runs) / len(runs),
                "median_runs": float(pd.Series(runs).median()),
                "worst_runs": max(runs),
            }
            for name, runs in counts.items()
        ]
    )
