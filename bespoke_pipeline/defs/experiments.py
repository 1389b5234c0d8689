"""setting_effects and run_comparison: every scored run read together, so that what a
setting did, and what differed between two runs, is read off a table instead of guessed.
Both read MLflow, where every scored run of every config and data version is kept."""

import dagster as dg
import pandas as pd
from pydantic import Field

from bespoke_pipeline.defs.evaluation import checkpoint_scores
from bespoke_pipeline.defs.recording import record
from bespoke_pipeline.defs.resources import MlflowResource
from bespoke_pipeline.evaluation.comparison import config_diff, findings, score_diff, told_apart
from bespoke_pipeline.evaluation.effects import findings as effect_findings
from bespoke_pipeline.evaluation.effects import setting_effects as estimate_effects
from bespoke_pipeline.scored_runs import (
    NoScoredRun,
    recent_scored_runs,
    scored_checkpoint,
    scored_runs,
)
from bespoke_pipeline.training.plots import effects_chart, titled_columns

GROUP = "experiments"


@dg.asset(group_name=GROUP, code_version="1", deps=[checkpoint_scores])
def setting_effects(
    context: dg.AssetExecutionContext, mlflow: MlflowResource
) -> dg.Output[pd.DataFrame]:
    """Per setting that varied between scored runs, its effect on every score with a 95%
    interval: paired where runs differ in that setting alone (a sweep's members do),
    otherwise a comparison of groups that names what else differs. Brought up to date
    after every training run."""
    runs = scored_runs(mlflow.tracking_uri, mlflow.experiment)
    effects = estimate_effects(runs)
    said = effect_findings(effects)
    context.log.info(
        f"{len(runs)} scored runs, {effects['setting'].nunique()} settings varied"
        + "".join(f"\n{line}" for line in said)
    )
    shown = effects.round({"effect": 3, "interval": 3})
    metadata = record(
        context,
        mlflow,
        params={"scored_runs": len(runs)},
        metrics={"settings_varied": effects["setting"].nunique(), "findings": len(said)},
        images={"effects.png": effects_chart(effects)} if not effects.empty else {},
        tables={"effects.csv": shown},
        texts={"findings.txt": "\n".join(said) or "no effect beyond the noise yet"},
    )
    metadata["findings_in_words"] = dg.MetadataValue.md(
        "\n".join(f"- {line}" for line in said)
        or "no effect beyond the noise yet: runs must differ in a setting (a sweep does)"
    )
    return dg.Output(effects, metadata=metadata)


class ComparisonConfig(dg.Config):
    a: str = Field(
        default="",
        description="A config (its latest scored run at its best epoch), config:epoch, or a "
        "checkpoint_scores run id[:epoch]; empty: the scored run before the latest",
    )
    b: str = Field(default="", description="As a; empty: the latest scored run")


@dg.asset(group_name=GROUP, code_version="1", deps=[checkpoint_scores])
def run_comparison(
    context: dg.AssetExecutionContext, config: ComparisonConfig, mlflow: MlflowResource
) -> dg.Output[dict]:
    """Two scored runs side by side, as `bespoke compare` prints them: only the settings
    that differ, every score with the interval of its difference, and both comparison
    grids on the same prompts and seeds."""
    latest = recent_scored_runs(mlflow.tracking_uri, mlflow.experiment)
    specs = [config.a or (latest[1:2] or [""])[0], config.b or (latest[:1] or [""])[0]]
    if not all(specs):
        context.log.info("fewer than two scored runs, and none named: nothing to compare yet")
        return dg.Output(
            {"a": specs[0], "b": specs[1], "settings_that_differ": 0, "findings": []},
            metadata={"decision": dg.MetadataValue.text("nothing to compare yet")},
        )
    try:
        (a, grid_a), (b, grid_b) = (
            scored_checkpoint(mlflow.tracking_uri, mlflow.experiment, s) for s in specs
        )
    except NoScoredRun as error:
        raise dg.Failure(description=str(error)) from error
    a, b = told_apart(a, b, *specs)
    settings, scores = config_diff(a, b), score_diff(a, b)
    said = findings(scores)
    metadata = record(
        context,
        mlflow,
        params={"a": specs[0], "b": specs[1], "a_checkpoint": a.label, "b_checkpoint": b.label},
        images={"grids.png": titled_columns([(a.label, grid_a), (b.label, grid_b)])},
        tables={"settings_that_differ.csv": settings, "scores.csv": scores.round(3)},
        texts={"findings.txt": "\n".join(said) or "no score moved beyond the noise"},
    )
    metadata["findings_in_words"] = dg.MetadataValue.md(
        "\n".join(f"- {line}" for line in said) or "no score moved beyond the noise"
    )
    return dg.Output(
        {"a": a.label, "b": b.label, "settings_that_differ": len(settings), "findings": said},
        metadata=metadata,
    )
