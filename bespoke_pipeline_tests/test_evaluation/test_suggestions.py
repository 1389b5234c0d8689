"""`bespoke suggest`: past runs count as trials by their settings, suggestions are new
combinations from the declared ranges, TPE moves toward what scored well, and what it
writes is a sweep config the pipeline trains."""

import pandas as pd
import pytest
import yaml

from bespoke_pipeline.bench.suggest import runs_to_reach
from bespoke_pipeline.cli import main
from bespoke_pipeline.evaluation.comparison import ScoredCheckpoint
from bespoke_pipeline.evaluation.suggestions import combination_key, suggest, tried
from bespoke_pipeline.training.config import TrainingConfig, config_names, load_named
from bespoke_pipeline.training.sweep import SweepSpace

BASE = {"family": "pixel", "base_model": "data/base/pixel-punk-base", "num_train_epochs": 4}
CHOICES = {
    "lora_rank": [4, 8, 16, 32],
    "learning_rate": [0.001, 0.004],
    "text_encoder_lr": [None, 0.002],
}
SPACE = SweepSpace(BASE, CHOICES)


def planted(values: dict) -> float:
    """The learning rate decides; nothing else matters."""
    return 0.3 + 0.4 * (values["learning_rate"] == 0.004)


def as_run(values: dict, composite: float, name: str) -> ScoredCheckpoint:
    """A scored run as MLflow gives it back: every setting as the string it was logged as."""
    config = TrainingConfig.model_validate({**BASE, **values}).model_dump(mode="json")
    recorded = {
        "config_name": name,
        "dataset_sha256": "abc",
        **{k: str(v) for k, v in config.items()},
    }
    return ScoredCheckpoint(name, recorded, pd.DataFrame(), composite, 0.05)


def test_past_runs_count_by_their_settings_not_their_names():
    first, second = SPACE.combinations()[:2]
    runs = [
        as_run(first, 0.61, "pixel-tiny"),  # newest first: its latest scoring
        as_run(first, 0.40, "sweep@lora_rank=4+learning_rate=0.001+text_encoder_lr=none"),
        as_run({**second, "seed": 7}, 0.9, "other"),  # a setting outside the sweep differs
    ]
    found = tried(SPACE, runs)
    assert list(found) == [combination_key(SPACE, first)]
    assert found[combination_key(SPACE, first)].composite == 0.61


def test_suggestions_are_new_combinations_and_lean_to_what_scored_well():
    done = {
        combination_key(SPACE, v): planted(v)
        for v in SPACE.combinations()
        if v["lora_rank"] in (4, 8)
    }
    rates = []
    for seed in range(5):  # not one lucky seed
        found = suggest(SPACE, done, count=3, seed=seed)
        keys = [combination_key(SPACE, s.values) for s in found]
        assert len(set(keys)) == 3 and not set(keys) & set(done)
        rates += [s.values["learning_rate"] for s in found]
    assert rates.count(0.004) >= 12  # of 15; untried at random, half would be


def test_nothing_is_suggested_once_every_combination_is_scored():
    done = {combination_key(SPACE, v): planted(v) for v in SPACE.combinations()}
    assert suggest(SPACE, done, count=3) == []


def test_the_replay_counts_runs_until_the_target_is_reached():
    truth = {combination_key(SPACE, v): planted(v) for v in SPACE.combinations()}
    order = list(truth)  # the file's order: lr 0.004 first shows at the third combination
    assert runs_to_reach(lambda done: order[len(done)], truth, 0.7) == 3
    assert runs_to_reach(lambda done: order[len(done)], truth, 0.99) == len(truth)  # never


def test_suggest_writes_a_sweep_config_the_pipeline_trains(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    sweep = tmp_path / "ranges.yaml"
    sweep.write_text(yaml.safe_dump({**BASE, **CHOICES}, sort_keys=False))
    out = tmp_path / "configs" / "next.yaml"
    out.parent.mkdir()
    main(["suggest", str(sweep), "--count", "3", "--write", str(out)])
    printed = capsys.readouterr().out
    assert "ranges.yaml: 0 of 16 combinations scored so far" in printed
    names = config_names(out.parent)
    assert len(names) == 3 and all(n.startswith("next@lora_rank=") for n in names)
    configs = [load_named(n, out.parent) for n in names]
    assert {c.num_train_epochs for c in configs} == {4}
    assert all(c.lora_rank in CHOICES["lora_rank"] for c in configs)


def test_a_file_without_ranges_is_refused_with_what_to_write(tmp_path):
    plain = tmp_path / "plain.yaml"
    plain.write_text(yaml.safe_dump(BASE))
    with pytest.raises(SystemExit, match=r"plain\.yaml: declares no values to choose from"):
        main(["suggest", str(plain)])
