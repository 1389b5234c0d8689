"""`bespoke bench gpu` at tiny size on a CPU: it runs both steps and its figures add up."""

import pytest
import torch

from bespoke_pipeline.bench.gpu import bench_family, markdown, peak_flops
from bespoke_pipeline.bench.random_models import flux_transformer, sdxl_unet, vae


def test_the_benchmark_times_both_steps_and_counts_flops():
    rows = []
    figures = bench_family(
        "flux", "tiny", side=48, batch_sizes=(1, 2), steps=2, warmup=1, on_row=rows.append
    )
    # every row handed on as it was measured, the stock runs first
    assert [(r.batch, r.variant) for r in rows] == [
        (1, "stock"),
        (2, "stock"),
        (1, "ours"),
        (2, "ours"),
    ]
    assert [(f.batch, f.variant) for f in figures] == [
        (1, "stock"),
        (1, "ours"),
        (2, "stock"),
        (2, "ours"),
    ]
    assert all(f.ms_per_step > 0 and f.side == 48 for f in figures)
    one, two = figures[1].flops_per_step, figures[3].flops_per_step
    assert one > 0 and 1.8 < two / one < 2.2  # FLOPs grow with the batch
    assert figures[1].numerics < 1e-5  # float32 on a CPU: the same loss
    table = markdown(figures)
    assert table.count("\n") == 1 + len(figures) and "| flux | 48 | 2 | ours |" in table


@pytest.mark.parametrize(
    ("build", "parameters"),
    [
        (lambda: sdxl_unet("full"), 2_567_463_684),  # stable-diffusion-xl-base-1.0 unet
        (lambda: flux_transformer("full"), 11_901_408_320),  # FLUX.1-dev transformer
        (lambda: vae("sdxl", "full"), 83_653_863),
        (lambda: vae("flux", "full"), 83_819_683),
    ],
)
def test_full_size_architectures_match_the_published_models(build, parameters):
    """Built on the meta device (no memory, no weights): the benchmark's full-size models
    have exactly the published parameter counts."""
    with torch.device("meta"):
        model = build()
    assert sum(p.numel() for p in model.parameters()) == parameters


def test_the_peak_is_the_card_present():
    assert peak_flops("NVIDIA H100 PCIe") == 756e12  # not the SXM part's 989
    assert peak_flops("NVIDIA H100 80GB HBM3") == 989e12
    assert peak_flops("NVIDIA H200") == 989e12 and peak_flops("NVIDIA H100 NVL") == 835e12
    assert peak_flops("Tesla T4") is None
