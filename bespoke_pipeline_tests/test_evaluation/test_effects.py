"""Setting effects over many runs: a planted effect is found, named and sized; a setting
that does nothing is not reported; runs that change two settings at once are not passed
off as a measurement of either."""

import numpy as np
import pandas as pd

from bespoke_pipeline.evaluation.comparison import ScoredCheckpoint
from bespoke_pipeline.evaluation.effects import findings, setting_effects

#: The planted effect: a learning rate too small to learn leaves the background at the
#: base model's 10%; one that learns gets it right 80% of the time.
BACKGROUND_AT = {"1e-09": 0.1, "0.004": 0.8}


def scored(settings: dict[str, str], rng: np.random.Generator, n: int = 48) -> ScoredCheckpoint:
    frame = pd.DataFrame(
        {
            "background": rng.random(n) < BACKGROUND_AT[settings["learning_rate"]],
            "hair_color": rng.random(n) < 0.6,  # the same whatever the settings
        }
    ).astype(float)
    per_image = frame.mean(axis=1)
    return ScoredCheckpoint(
        label=str(settings),
        config={"config_name": "sweep", "epochs": "10", "seed": "42", **settings},
        images=frame,
        composite=float(per_image.mean()),
        composite_ci=float(1.96 * per_image.std(ddof=1) / np.sqrt(n)),
    )


def sweep(rng: np.random.Generator) -> list[ScoredCheckpoint]:
    return [
        scored({"lora_rank": rank, "learning_rate": lr}, rng)
        for rank in ("4", "16")
        for lr in BACKGROUND_AT
    ]


def test_a_learning_rate_that_never_learns_is_found_in_a_two_by_two_sweep():
    effects = setting_effects(sweep(np.random.default_rng(1)))
    row = effects.set_index(["setting", "metric"]).loc[("learning_rate", "background")]
    assert row["from_value"] == "1e-09" and row["to_value"] == "0.004"  # read from small to large
    assert row["paired"] and row["runs"] == 2 and row["beyond_noise"]
    assert 0.5 < row["effect"] < 0.9
    rank = effects[effects["setting"] == "lora_rank"]
    assert not rank["beyond_noise"].any()
    assert set(effects["setting"]) == {"learning_rate", "lora_rank"}  # seed, epochs never vary
    said = findings(effects)
    assert said[0].startswith("learning_rate 1e-09 -> 0.004: ")
    assert "over 2 paired runs" in said[0]
    assert not any(line.startswith("lora_rank") for line in said)


def test_effects_read_from_unset_to_set_and_from_small_to_large():
    rng = np.random.default_rng(5)
    runs = [
        scored({"learning_rate": "0.004", "text_encoder_lr": value}, rng)
        for value in ("0.002", "None", "1e-05")
    ]
    effects = setting_effects(runs)
    steps = set(zip(effects["from_value"], effects["to_value"], strict=True))
    assert steps == {("None", "1e-05"), ("None", "0.002"), ("1e-05", "0.002")}


def test_runs_that_all_share_their_settings_have_no_effects_to_report():
    rng = np.random.default_rng(4)
    same = [scored({"lora_rank": "4", "learning_rate": "0.004"}, rng) for _ in range(2)]
    for runs in ([], same[:1], same):
        effects = setting_effects(runs)
        assert effects.empty and findings(effects) == []


def test_settings_changed_together_are_reported_as_unpaired_with_the_confounder_named():
    rng = np.random.default_rng(2)
    runs = [  # rank and learning rate always change together, as in the artist's history
        scored({"lora_rank": "4", "learning_rate": "1e-09"}, rng),
        scored({"lora_rank": "16", "learning_rate": "0.004"}, rng),
    ]
    effects = setting_effects(runs)
    rank = effects.set_index(["setting", "metric"]).loc[("lora_rank", "background")]
    assert not rank["paired"] and rank["also_differ"] == "learning_rate"
    said = findings(effects)
    assert any("not paired: they also differ in learning_rate" in line for line in said)


def test_the_interval_widens_when_paired_differences_disagree():
    rng = np.random.default_rng(3)
    agree = setting_effects(sweep(rng))
    runs = sweep(rng)
    # the same pairs, but at rank 16 the learning rate does nothing
    runs[3] = ScoredCheckpoint(
        runs[3].label, runs[3].config, runs[2].images, runs[2].composite, runs[2].composite_ci
    )
    disagree = setting_effects(runs)

    def interval(effects: pd.DataFrame) -> float:
        return effects.set_index(["setting", "metric"]).loc[
            ("learning_rate", "background"), "interval"
        ]

    assert interval(disagree) > 3 * interval(agree)
