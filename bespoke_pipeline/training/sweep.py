"""Sweeps: one config file that names several trainings. A list where a setting takes one
value (`lora_rank: [16, 32]`) sweeps it, and lists of several settings combine as a grid;
`members:` lists the combinations outright (what `bespoke suggest` writes). Each member is
a partition of its own, named by the file and the values it sets, so the base settings
stay in one file and every run says what it tried.

This module works on the settings as read from YAML; `config` validates each member."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import yaml

#: Joins a sweep's file name to its member's values, and the values to each other. Neither
#: may appear in a partition key's Dagster range syntax ("...", ",", "[", "]").
MEMBER_MARK = "@"
VALUE_JOIN = "+"
MEMBERS_KEY = "members"


@dataclass(frozen=True)
class SweepSpace:
    """A grid sweep's declared ranges: what `bespoke suggest` chooses from."""

    base: dict[str, Any]  # the settings every member shares
    choices: dict[str, list]  # setting -> the values declared for it

    def combinations(self) -> list[dict[str, Any]]:
        return _grid(self.choices)

    def members_file(self, members: list[dict[str, Any]], origin: str) -> str:
        """A sweep config listing `members` outright over the shared settings, so the
        combinations `bespoke suggest` picked train like any partition."""
        header = f"# Written by `bespoke suggest`: the combinations to run next, from {origin}.\n"
        return header + yaml.safe_dump({**self.base, MEMBERS_KEY: members}, sort_keys=False)


class SweepError(ValueError):
    """A sweep that cannot be expanded; the message says which setting and why."""


def swept(settings: dict[str, Any], sequence_fields: Iterable[str]) -> dict[str, list]:
    """The settings given as a list of values to try. A setting whose value is itself a
    list (target_modules, resolution) is swept by a list of lists."""
    sequences = set(sequence_fields)
    return {
        key: value
        for key, value in settings.items()
        if key != MEMBERS_KEY
        and isinstance(value, list)
        and (key not in sequences or (value and all(isinstance(v, list) for v in value)))
    }


def expand(
    stem: str, settings: dict[str, Any], sequence_fields: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Member name -> the file's settings with that member's values in place; a file that
    sweeps nothing is the one config named `stem`."""
    grid = swept(settings, sequence_fields)
    listed = settings.get(MEMBERS_KEY)
    if listed is not None and grid:
        raise SweepError(
            f"give either lists of values ({', '.join(grid)}) or `{MEMBERS_KEY}:`, not both"
        )
    if listed is None and not grid:
        return {stem: settings}
    combos = _listed(listed, settings) if listed is not None else _grid(grid)
    base = {k: v for k, v in settings.items() if k != MEMBERS_KEY and k not in grid}
    members: dict[str, dict[str, Any]] = {}
    for combo in combos:
        name = member_name(stem, combo)
        if name in members:
            raise SweepError(f"two members are both named '{name}'")
        members[name] = {**base, **combo}
    return members


def member_name(stem: str, values: dict[str, Any]) -> str:
    """e.g. pixel-sweep@lora_rank=16+learning_rate=0.004: readable on the command line, in
    the Dagster UI and as a folder name."""
    return stem + MEMBER_MARK + VALUE_JOIN.join(f"{k}={shown_value(v)}" for k, v in values.items())


def _grid(grid: dict[str, list]) -> list[dict[str, Any]]:
    for key, values in grid.items():
        if not values:
            raise SweepError(f"{key}: an empty list sweeps nothing")
    return [dict(zip(grid, combo, strict=True)) for combo in itertools.product(*grid.values())]


def _listed(listed: object, settings: dict[str, Any]) -> list[dict[str, Any]]:
    if not isinstance(listed, list) or not listed or not all(isinstance(m, dict) for m in listed):
        raise SweepError(f"`{MEMBERS_KEY}:` is a list of mappings of settings, one per member")
    keys = list(dict.fromkeys(key for member in listed for key in member))
    for key in keys:
        if key not in settings and not all(key in member for member in listed):
            raise SweepError(f"{key}: set by some members only and not in the file's settings")
    return [{key: member.get(key, settings.get(key)) for key in keys} for member in listed]


def shown_value(value: Any) -> str:
    """A value as a member's name shows it (and as `bespoke suggest` tells values apart)."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return "-".join(map(shown_value, value))
    return "none" if value is None else str(value)
