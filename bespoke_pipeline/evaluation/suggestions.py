"""What to try next: Optuna's TPE, fed every scored run whose settings are a combination a
sweep declares, proposes the combinations to run next. The artist asked to converge in
10-15 experiments instead of 50; a grid runs every combination whatever the ones before
it showed, while TPE moves toward the values that scored well so far.

A past run counts as a trial of the sweep when every setting it was trained with is a
member's, whatever its partition was called (pixel-tiny and the sweep member with the
same settings are one trial), at its latest scoring."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

import optuna

from bespoke_pipeline.evaluation.comparison import ScoredCheckpoint
from bespoke_pipeline.training.config import TrainingConfig
from bespoke_pipeline.training.sweep import SweepSpace, shown_value

#: Random combinations before TPE models what scored well: few, as the budget is small.
STARTUP_TRIALS = 4
#: Asks per wanted suggestion before giving up on finding one not yet run.
_ASKS = 50


def combination_key(space: SweepSpace, values: dict[str, Any]) -> tuple[str, ...]:
    return tuple(shown_value(values[setting]) for setting in space.choices)


def tried(
    space: SweepSpace, runs: list[ScoredCheckpoint]
) -> dict[tuple[str, ...], ScoredCheckpoint]:
    """Combination -> its latest scored run, for the combinations run."""
    recorded = {}
    for values in space.combinations():
        config = TrainingConfig.model_validate({**space.base, **values})
        recorded[combination_key(space, values)] = {
            k: str(v) for k, v in config.model_dump(mode="json").items()
        }
    found: dict[tuple[str, ...], ScoredCheckpoint] = {}
    for run in runs:  # newest first: the first match is the latest scoring
        for key, settings in recorded.items():
            if key not in found and all(run.config.get(k) == v for k, v in settings.items()):
                found[key] = run
    return found


@dataclass(frozen=True)
class Suggestion:
    values: dict[str, Any]
    why: str  # "TPE", or how it was ranked once TPE only proposes what was run


def suggest(
    space: SweepSpace,
    scores: dict[tuple[str, ...], float],
    count: int,
    seed: int = 0,
    startup: int = STARTUP_TRIALS,
) -> list[Suggestion]:
    """Up to `count` combinations not run yet (fewer when the sweep has fewer left): those
    TPE proposes, then, once it keeps proposing combinations already run (it has settled
    on them), the untried ones whose values did best so far, setting by setting."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    by_key = {combination_key(space, v): v for v in space.combinations()}
    wanted = min(count, len(by_key) - len(scores))
    distributions = {
        setting: optuna.distributions.CategoricalDistribution(
            sorted({shown_value(v) for v in values})
        )
        for setting, values in space.choices.items()
    }
    with warnings.catch_warnings():  # multivariate TPE is marked experimental
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        sampler = optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=startup, constant_liar=True, multivariate=True
        )
    study = optuna.create_study(direction="maximize", sampler=sampler)
    for key, value in scores.items():
        study.add_trial(
            optuna.trial.create_trial(
                params=dict(zip(space.choices, key, strict=True)),
                distributions=distributions,
                value=value,
            )
        )
    chosen: list[tuple[str, ...]] = []
    for _ in range(wanted * _ASKS):
        if len(chosen) == wanted:
            break
        trial = study.ask(distributions)
        key = tuple(trial.params[s] for s in space.choices)
        if key in scores or key in chosen:
            study.tell(trial, state=optuna.trial.TrialState.FAIL)  # ignored by TPE: ask again
            continue
        chosen.append(key)  # left running: constant_liar steers the next ask away from it
    suggestions = [Suggestion(by_key[k], "TPE") for k in chosen]
    rest = [k for k in by_key if k not in scores and k not in chosen]
    rest.sort(key=lambda k: _value_scores(k, scores), reverse=True)
    return suggestions + [
        Suggestion(by_key[k], "the best values so far, setting by setting")
        for k in rest[: wanted - len(chosen)]
    ]


def _value_scores(key: tuple[str, ...], scores: dict[tuple[str, ...], float]) -> float:
    """How well the combination's values did, each over the runs that had it (a value
    never run counts as the mean of all runs): TPE's picture reduced to one number."""
    overall = sum(scores.values()) / max(len(scores), 1)
    total = 0.0
    for position, value in enumerate(key):
        had = [score for other, score in scores.items() if other[position] == value]
        total += sum(had) / len(had) if had else overall
    return total
