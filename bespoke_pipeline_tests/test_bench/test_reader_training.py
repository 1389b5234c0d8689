"""The reader's learned part trains the same way every time and learns from its data."""

import torch

from bespoke_pipeline.bench.reader_training import train_reader_net
from bespoke_pipeline.pixelart.reader_net import WEIGHTS, ReaderNet
from bespoke_pipeline_tests.punks import needs_punks

pytestmark = needs_punks


def test_the_same_seed_trains_the_same_weights_and_the_loss_goes_down():
    lines: list[list[str]] = [[], []]
    nets = [
        train_reader_net([], epochs=2, generated=40, report=lines[i].append, punks=range(0, 160))
        for i in range(2)
    ]
    first, second = (n.state_dict() for n in nets)
    assert all(torch.equal(first[k], second[k]) for k in first)
    assert lines[0] == lines[1]
    untrained = ReaderNet().state_dict()
    assert not torch.equal(first["head.4.weight"], untrained["head.4.weight"])


def test_the_shipped_weights_load_without_unpickling():
    from safetensors.torch import load_file

    net = ReaderNet()
    net.load_state_dict(load_file(WEIGHTS))  # a mismatch in any tensor raises
    assert WEIGHTS.stat().st_size < 1_000_000
