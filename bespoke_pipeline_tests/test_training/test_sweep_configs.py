"""Sweep files: lists where one value goes expand into members, each a partition with a
readable name and its own settings; lists that are one value (target_modules) do not;
`members:` lists combinations outright; mistakes name the file and the setting."""

import pytest
import yaml

from bespoke_pipeline.training.config import (
    CONFIG_DIR,
    ConfigError,
    config_names,
    config_path,
    load_config,
    load_named,
    partitions_named,
    trainability,
)

BASE = {"family": "pixel", "base_model": "data/base/pixel-punk-base", "num_train_epochs": 4}


def write(folder, name: str, settings: dict) -> None:
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(settings, sort_keys=False))


def test_a_grid_sweep_expands_into_one_partition_per_combination(tmp_path):
    write(tmp_path, "rank", {**BASE, "lora_rank": [8, 32], "text_encoder_lr": [None, 0.002]})
    write(tmp_path, "plain", BASE)
    assert config_names(tmp_path) == [
        "plain",
        "rank@lora_rank=32+text_encoder_lr=0.002",
        "rank@lora_rank=32+text_encoder_lr=none",
        "rank@lora_rank=8+text_encoder_lr=0.002",
        "rank@lora_rank=8+text_encoder_lr=none",
    ]
    member = load_named("rank@lora_rank=32+text_encoder_lr=none", tmp_path)
    assert (member.lora_rank, member.text_encoder_lr, member.num_train_epochs) == (32, None, 4)
    assert config_path("rank@lora_rank=8+text_encoder_lr=0.002", tmp_path).name == "rank.yaml"
    assert load_named("plain", tmp_path).lora_rank == 16
    assert len(partitions_named(["rank"], tmp_path)) == 4  # a sweep by its file's name
    assert partitions_named(["plain"], tmp_path) == ["plain"]
    assert len(trainability(cuda=False, config_dir=tmp_path).trainable) == 5


def test_a_list_that_is_one_value_is_not_a_sweep_and_a_list_of_lists_is(tmp_path):
    write(tmp_path, "one", {**BASE, "target_modules": ["to_q", "to_v"]})
    write(tmp_path, "two", {**BASE, "target_modules": [["to_q", "to_v"], ["to_k"]]})
    assert load_config(tmp_path / "one.yaml").target_modules == ("to_q", "to_v")
    names = [n for n in config_names(tmp_path) if n.startswith("two")]
    assert names == ["two@target_modules=to_k", "two@target_modules=to_q-to_v"]
    assert load_named(names[1], tmp_path).target_modules == ("to_q", "to_v")


def test_members_list_their_combinations_outright(tmp_path):
    members = [{"lora_rank": 8, "learning_rate": 0.001}, {"lora_rank": 32, "learning_rate": 0.004}]
    write(tmp_path, "next", {**BASE, "members": members})
    assert config_names(tmp_path) == [
        "next@lora_rank=32+learning_rate=0.004",
        "next@lora_rank=8+learning_rate=0.001",
    ]
    assert load_named("next@lora_rank=8+learning_rate=0.001", tmp_path).learning_rate == 0.001


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({**BASE, "lora_rank": [], "seed": 1}, "lora_rank: an empty list sweeps nothing"),
        (
            {**BASE, "lora_rank": [8], "members": [{"seed": 1}]},
            "give either lists of values (lora_rank) or `members:`, not both",
        ),
        ({**BASE, "learning_rate": [0.001, 1e-3]}, "two members are both named"),
        ({**BASE, "members": [{"seed": 1}, {"lora_rank": 4}]}, "set by some members only"),
    ],
)
def test_a_sweep_that_cannot_expand_names_the_file_and_why(tmp_path, settings, message):
    write(tmp_path, "bad", settings)
    assert config_names(tmp_path) == ["bad"]  # still listed, so the error shows when used
    with pytest.raises(ConfigError) as error:
        load_named("bad", tmp_path)
    assert str(error.value).startswith("bad.yaml: ") and message in str(error.value)


def test_a_bad_value_in_one_member_names_the_file_and_the_member(tmp_path):
    write(tmp_path, "rank", {**BASE, "lora_rank": [8, 0]})
    assert load_named("rank@lora_rank=8", tmp_path).lora_rank == 8
    with pytest.raises(ConfigError, match=r"rank\.yaml \(member rank@lora_rank=0\): lora_rank"):
        load_named("rank@lora_rank=0", tmp_path)
    with pytest.raises(ConfigError, match="a sweep of 2 configs; load a member by its name"):
        load_config(tmp_path / "rank.yaml")
    assert len(trainability(cuda=False, config_dir=tmp_path).broken) == 1


def test_the_shipped_example_sweep_has_eight_valid_members():
    folder = CONFIG_DIR / "examples"
    names = config_names(folder)
    assert len(names) == 8 and all(n.startswith("pixel-sweep@lora_rank=") for n in names)
    assert {load_named(n, folder).text_encoder_lr for n in names} == {None, 0.002}
    assert not any(n.startswith("pixel-sweep") for n in config_names())  # not in make run
