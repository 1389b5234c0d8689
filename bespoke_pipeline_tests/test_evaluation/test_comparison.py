"""`bespoke compare`: only the settings that differ, and the scores that moved beyond the
noise, read back from what the runs recorded in MLflow."""

import re

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from bespoke_pipeline.cli import main
from bespoke_pipeline.evaluation.comparison import (
    ScoredCheckpoint,
    config_diff,
    report,
    score_diff,
)
from bespoke_pipeline.scored_runs import NoScoredRun, scored_checkpoint
from bespoke_pipeline.tracking import EXPERIMENT, tracked_run

#: The finding for the planted effect: background right far more often on the second side.
MOVED = r"background: \+0\.\d\d \+/- 0\.\d\d"
SETTINGS = {"config_name": "a", "lora_rank": "32", "learning_rate": "0.0001", "seed": "42"}


def images(background: list[float], rng: np.random.Generator, n: int = 40) -> pd.DataFrame:
    """Per-image metrics at one sampler setting: `background` drawn from the given
    chances, hair colour right half the time on both sides."""
    return pd.DataFrame(
        {
            "background": rng.random(n) < background[0],
            "hair_color": rng.random(n) < 0.5,
            "eye_color": np.nan,  # not asked of these prompts
        }
    ).astype({"background": float, "hair_color": float})


def checkpoint(label: str, config: dict, frame: pd.DataFrame) -> ScoredCheckpoint:
    return ScoredCheckpoint(label, config, frame, composite=0.5, composite_ci=0.05)


def test_only_the_settings_that_differ_are_listed():
    a = checkpoint("a", SETTINGS, pd.DataFrame())
    b = checkpoint("b", {**SETTINGS, "config_name": "b", "lora_rank": "64", "extra": "1"}, a.images)
    diff = config_diff(a, b)
    assert diff.to_dict("records") == [
        {"setting": "extra", "a": "-", "b": "1"},
        {"setting": "lora_rank", "a": "32", "b": "64"},
    ]
    assert report(a, a).startswith("a: a\nb: a\n\nthe same settings")


def test_a_planted_effect_is_found_and_an_equal_one_is_not():
    rng = np.random.default_rng(0)
    a = checkpoint("lr 1e-4", SETTINGS, images([0.1], rng))
    b = checkpoint("lr 4e-4", SETTINGS, images([0.9], rng))
    scores = score_diff(a, b).set_index("metric")
    assert scores.loc["background", "beyond_noise"]
    assert scores.loc["background", "difference"] > 0.5
    assert not scores.loc["hair_color", "beyond_noise"]
    assert not scores.loc["composite", "beyond_noise"]  # 0.5 against 0.5
    assert "eye_color" not in scores.index  # asked of neither
    printed = report(a, b)
    assert printed.startswith("a: lr 1e-4\nb: lr 4e-4\n")
    assert re.search(rf"^{MOVED} from a to b$", printed, re.M)


def log_scored_run(uri: str, partition: str, rank: str, background: float) -> None:
    """What the `lora` and `checkpoint_scores` assets record for one config."""
    tags = {"dagster.asset_key": "lora", "dagster.partition": partition}
    with tracked_run(uri, EXPERIMENT, "lora", tags) as run:
        run.log_params({**SETTINGS, "config_name": partition, "lora_rank": rank})
    rows = [
        {"epoch": e, "composite": c, "composite_ci": 0.02, "guidance_scale": 1.0, "steps": 10}
        | {"passes_gates": e == 2}
        for e, c in ((0, 0.2), (1, 0.6), (2, 0.5))
    ]
    rng = np.random.default_rng(1)
    per_image = pd.concat(
        [images([background], rng).assign(epoch=e, guidance_scale=1.0, steps=10) for e in (1, 2)]
    )
    tags = {"dagster.asset_key": "checkpoint_scores", "dagster.partition": partition}
    with tracked_run(uri, EXPERIMENT, "checkpoint_scores", tags) as run:
        run.log_table(pd.DataFrame(rows), "scores.csv")
        run.log_table(per_image, "scores_per_image.csv")
        run.log_image(Image.new("RGB", (48, 24), "#446688"), "comparison.png")


def test_compare_reads_both_runs_back_from_mlflow(tmp_path, monkeypatch, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    log_scored_run(uri, "rank32", "32", background=0.1)
    log_scored_run(uri, "rank64", "64", background=0.9)

    chosen, grid = scored_checkpoint(uri, EXPERIMENT, "rank32")
    assert chosen.label == "rank32 epoch 2"  # the best that passes the gates, not epoch 1
    assert (chosen.composite, len(chosen.images), grid.size) == (0.5, 40, (48, 24))
    assert scored_checkpoint(uri, EXPERIMENT, "rank32:1")[0].composite == 0.6
    with pytest.raises(NoScoredRun, match="no scored run of 'rank16'"):
        scored_checkpoint(uri, EXPERIMENT, "rank16")

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    main(["compare", "rank32", "rank64", "--out", str(tmp_path / "compare.png")])
    printed = capsys.readouterr().out
    assert "settings that differ (1):" in printed
    assert "lora_rank" in printed and "learning_rate" not in printed
    assert printed.startswith("a: rank32 epoch 2\nb: rank64 epoch 2\n")
    assert re.search(rf"^{MOVED} from a to b$", printed, re.M)
    assert Image.open(tmp_path / "compare.png").size == (96, 44)
