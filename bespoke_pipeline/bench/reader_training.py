"""Train the reader's learned part (`pixelart/reader_net.py`): `bespoke reader train`.

Data: CryptoPunks 0-3499, generator portraits and the real pairs of the truth set's
developed-on part (`bench/reader.py`), each shown on a background drawn at random
(flat, gradient, stripes, checks, bricks, speckle: the kinds real art has), mirrored half the
time (which turns a right-facing portrait into a left-facing one, so facing is learned from
the figure, not from the dataset's habit), moved by up to a pixel and with its colour
channels shuffled half the time, so that shapes, not one dataset's palette, decide. Punks
3500-3999 tell how training goes; 4000-4999 and the real held-apart third stay apart for
the bench. The same seed gives
the same weights.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from bespoke_pipeline.bench.reader import TRUTH, held_apart
from bespoke_pipeline.dataset.images import read_pixel_art
from bespoke_pipeline.pixelart.cryptopunks import DEVELOPMENT, Punk, load_punks
from bespoke_pipeline.pixelart.layout import SIZE
from bespoke_pipeline.pixelart.reader_net import EYEWEAR_CLASSES, FLAGS, ReaderNet, as_input
from bespoke_pipeline.pixelart.synth import synth_portraits

TRAIN_PUNKS = range(DEVELOPMENT.start, 3500)
REAL_REPEATS = 10
WATCH_PUNKS = range(3500, DEVELOPMENT.stop)


@dataclass(frozen=True)
class Example:
    """A figure with transparent surroundings and its labels (facing right)."""

    rgba: np.ndarray
    eyewear: int
    flags: tuple[float, ...]  # as FLAGS, right_facing always 1 before mirroring


def _eyewear_class(kind: str | None) -> int:
    see_through = kind in (None, "glasses")
    return EYEWEAR_CLASSES.index(kind or "none" if see_through else "covering")


def punk_example(punk: Punk) -> Example:
    flags = (1.0, float(punk.headwear is not None), float(punk.earring), float(punk.beard))
    return Example(punk.rgba, _eyewear_class(punk.eyewear), flags)


def generator_examples(count: int, seed: int) -> list[Example]:
    """Generator portraits, opaque: they bring their own patterned backgrounds."""
    examples = []
    for image, portrait in synth_portraits(count, seed):
        rgb = np.asarray(image.convert("RGB"))
        alpha = np.full((SIZE, SIZE, 1), 255, np.uint8)
        rgba = np.concatenate([rgb, alpha], axis=2)
        flags = (
            1.0,
            float(portrait.headwear_style is not None),
            float(portrait.earring),
            float(portrait.beard is not None),
        )
        examples.append(Example(rgba, _eyewear_class(portrait.eyewear_style), flags))
    return examples


def real_examples(folders: list[Path], truth: Path = TRUTH) -> list[Example]:
    """The truth set's pairs the reader is developed on (never the held-apart third)."""
    table = pd.read_csv(truth, dtype=str, keep_default_na=False)
    paths = {p.name: p for folder in folders for p in folder.glob("*.png")}
    examples = []
    for row in table.itertuples(index=False):
        if row.file not in paths or held_apart(row.file):
            continue
        rgba = np.asarray(read_pixel_art(paths[row.file]).image.convert("RGBA"))
        kind = None if row.eyewear == "none" else row.eyewear
        flags = (
            float(row.facing == "right"),
            float(row.headwear != "none"),
            float(row.earring == "yes"),
            float(row.beard != "none"),
        )
        examples.append(Example(rgba, _eyewear_class(kind), flags))
    return examples


def random_background(rng: np.random.Generator) -> np.ndarray:
    """(24, 24, 3) uint8 in one of the kinds real backgrounds come in."""
    a, b = rng.integers(0, 256, (2, 3))
    ys, xs = np.mgrid[:SIZE, :SIZE]
    along = xs if rng.random() < 0.5 else ys
    kind = rng.integers(6)
    if kind == 0:
        mix = np.zeros((SIZE, SIZE))
    elif kind == 1:
        mix = along / (SIZE - 1)
    elif kind == 2:
        mix = (along // int(rng.integers(1, 4))) % 2
    elif kind == 3:
        cell = int(rng.integers(1, 4))
        mix = ((xs // cell) + (ys // cell)) % 2
    elif kind == 4:
        mix = ((ys % 3 == 2) | (((xs + 2 * ((ys // 3) % 2)) % 4) == 3)).astype(float)
    else:
        mix = (rng.random((SIZE, SIZE)) < 0.15).astype(float)
    pixels = a[None, None, :] * (1 - mix[..., None]) + b[None, None, :] * mix[..., None]
    return np.round(pixels).astype(np.uint8)


def augmented(
    examples: list[Example], rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One pass over the examples as the net sees them: inputs, eyewear classes, flags."""
    images, eyewear, flags = [], [], []
    for example in examples:
        rgba = np.roll(example.rgba, tuple(rng.integers(-1, 2, 2)), axis=(0, 1))
        alpha = rgba[..., 3:4].astype(np.float32) / 255
        rgb = rgba[..., :3] * alpha + random_background(rng) * (1 - alpha)
        labels = list(example.flags)
        if rng.random() < 0.5:
            rgb = rgb[:, ::-1]
            labels[0] = 1.0 - labels[0]
        if rng.random() < 0.5:
            rgb = rgb[..., rng.permutation(3)]
        images.append(np.round(rgb).astype(np.uint8))
        eyewear.append(example.eyewear)
        flags.append(labels)
    return as_input(np.stack(images)), torch.tensor(eyewear), torch.tensor(flags)


def train_reader_net(
    real: list[Path],
    epochs: int = 20,
    generated: int = 1500,
    seed: int = 0,
    report: Callable[[str], None] = print,
    punks: range = TRAIN_PUNKS,
) -> ReaderNet:
    """Train from scratch; `report` gets one line per epoch with the watch punks' figures.
    The real pairs in `real` that the truth set holds (its developed-on part) are shown
    `REAL_REPEATS` times an epoch, each time differently augmented: they are few, and the
    only art of the kind the reader is for."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    examples = [punk_example(p) for p in load_punks(punks)]
    examples += generator_examples(generated, seed)
    examples += real_examples(real) * REAL_REPEATS
    watch = [punk_example(p) for p in load_punks(WATCH_PUNKS)]
    watch_inputs = augmented(watch, np.random.default_rng(seed + 1))
    net = ReaderNet()
    optimiser = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(
        optimiser, max_lr=2e-3, total_steps=epochs * -(-len(examples) // 128)
    )
    for epoch in range(1, epochs + 1):
        net.train()
        inputs, eyewear, flags = augmented(examples, rng)
        order = torch.from_numpy(rng.permutation(len(examples)))
        for batch in order.split(128):
            loss = _loss(net(inputs[batch]), eyewear[batch], flags[batch])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
        report(f"epoch {epoch:2d}: " + _watch_line(net, *watch_inputs))
    return net.eval()


def _loss(logits: torch.Tensor, eyewear: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
    split = len(EYEWEAR_CLASSES)
    return nn.functional.cross_entropy(
        logits[:, :split], eyewear
    ) + nn.functional.binary_cross_entropy_with_logits(logits[:, split:], flags)


def _watch_line(
    net: ReaderNet, inputs: torch.Tensor, eyewear: torch.Tensor, flags: torch.Tensor
) -> str:
    net.eval()
    with torch.inference_mode():
        logits = net(inputs)
    split = len(EYEWEAR_CLASSES)
    figures = {"eyewear": (logits[:, :split].argmax(1) == eyewear).float().mean()}
    guessed = logits[:, split:] > 0
    for i, name in enumerate(FLAGS):
        figures[name] = (guessed[:, i] == flags[:, i].bool()).float().mean()
    return ", ".join(f"{name} {float(value):.3f}" for name, value in figures.items())
