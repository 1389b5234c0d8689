"""`bespoke bench gpu` at tiny size on a CPU: it runs both steps and its figures add up."""

from bespoke_pipeline.training.gpu_bench import bench_family, markdown


def test_the_benchmark_times_both_steps_and_counts_flops():
    figures = bench_family("flux", "tiny", side=48, batch_sizes=(1, 2), steps=2, warmup=1)
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
