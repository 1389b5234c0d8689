"""The `bespoke` command: project tools that are not pipeline runs."""

from __future__ import annotations

import argparse
from pathlib import Path

from bespoke_pipeline.pixelart.caption import DEFAULT_TRIGGER
from bespoke_pipeline.pixelart.synth import write_dataset


def _synth(args: argparse.Namespace) -> None:
    written = write_dataset(args.out, args.count, args.seed, args.trigger)
    print(f"wrote {len(written)} portraits with captions to {args.out}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bespoke", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    synth = commands.add_parser(
        "synth", help="write procedural 24x24 bespoke punks with captions (deterministic)"
    )
    synth.add_argument("--out", type=Path, required=True, help="output folder")
    synth.add_argument("--count", type=int, default=193, help="number of portraits")
    synth.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    synth.add_argument("--trigger", default=DEFAULT_TRIGGER, help="caption trigger word")
    synth.set_defaults(run=_synth)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.run(args)
