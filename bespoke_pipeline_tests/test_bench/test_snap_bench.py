from bespoke_pipeline.bench.snap import arts_from, bench_snap


def test_the_snap_benchmark_tells_grid_recovery_from_cell_centre_sampling() -> None:
    arts = arts_from(None, synthetic=2)
    table = bench_snap(arts, repeats=1, renderings=("box", "bilinear"))
    table = table.set_index(["rendering", "file", "method"])
    # JPEG costs a bilinear rendering a little more: at 512 px its 21 px cells are each
    # mixed from four, and JPEG's halved colour resolution blurs them further
    for rendering, within_sight in (("box", 0.99), ("bilinear", 0.98)):
        png = table.loc[(rendering, "PNG", "snap")]
        jpeg = table.loc[(rendering, "JPEG 75-85", "snap")]
        assert (png["exact mean"] >= 0.98).all()
        assert (jpeg["dE<=2 mean"] >= within_sight).all()
        assert (table.loc[(rendering, "PNG", "naive"), "exact mean"] < 0.5).all()
    assert set(table["side"]) == {512, 768, 1024}
