from bespoke_pipeline.bench.snap import arts_from, bench_snap


def test_the_snap_benchmark_tells_grid_recovery_from_cell_centre_sampling() -> None:
    table = bench_snap(arts_from(None, synthetic=2), repeats=1, renderings=("box",))
    table = table.set_index(["rendering", "file", "method"])
    png, jpeg = table.loc[("box", "PNG", "snap")], table.loc[("box", "JPEG 75-85", "snap")]
    assert (png["exact mean"] >= 0.98).all()
    assert (jpeg["dE<=2 mean"] >= 0.99).all()
    assert (table.loc[("box", "PNG", "naive"), "exact mean"] < 0.5).all()
    assert set(table["side"]) == {512, 768, 1024}
