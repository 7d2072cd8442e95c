import numpy as np
import pytest

from pipeline.analysis import analyze, analyze_slide
from pipeline.io import ImageFormatError, PixelSizeError, read_image, write_calibrated_tiff
from pipeline.slide import Slide
from pipeline.synthetic import make_node


@pytest.fixture(scope="module")
def pyramid(tmp_path_factory):
    node = make_node(size_um=(1100.0, 1100.0), pixel_size_um=0.5, stain="ihc", pattern="cohesive",
                     deposits=[{"diameter_um": 320.0}], seed=321)
    path = tmp_path_factory.mktemp("wsi") / "node.tif"
    write_calibrated_tiff(path, node.rgb, pixel_size_um=0.5, tile=(256, 256), pyramid_levels=3)
    return path, node


def test_slide_reads_regions_and_levels(pyramid):
    path, node = pyramid
    with Slide(path) as s:
        assert s.shape == node.rgb.shape[:2] and len(s.level_shapes) == 4
        assert s.pixel_size_um == pytest.approx(0.5)
        np.testing.assert_array_equal(s.read(100, 300, 50, 90), node.rgb[100:300, 50:90])
        np.testing.assert_array_equal(s[10:20, 30:40], node.rgb[10:20, 30:40])
        assert s.level_pixel_size(2) == pytest.approx(2.0)
        assert s.level_for(4.0) == 3


def test_whole_slide_mode_matches_in_memory(pyramid):
    path, node = pyramid
    rgb, px, _ = read_image(path)
    whole = analyze(rgb, pixel_size_um=px)
    with Slide(path) as s:
        tiled = analyze_slide(s, tile_px=512, workers=2)
    assert tiled.category == whole.category == node.category
    assert tiled.stain == whole.stain == "ihc"
    assert tiled.tumor_cell_count == pytest.approx(whole.tumor_cell_count, rel=0.03)
    assert tiled.largest_deposit_um == pytest.approx(whole.largest_deposit_um, rel=0.03)
    assert tiled.nucleus_count == pytest.approx(whole.nucleus_count, rel=0.03)
    assert tiled.parameters["mode"] == "whole-slide"


def test_slide_errors(tmp_path):
    import tifffile

    plain = tmp_path / "plain.tif"
    tifffile.imwrite(plain, np.zeros((64, 64, 3), np.uint8))
    with pytest.raises(PixelSizeError, match="plain.tif: no pixel size"):
        Slide(plain)
    grey = tmp_path / "grey.tif"
    write_calibrated_tiff(tmp_path / "ok.tif", np.zeros((64, 64, 3), np.uint8), pixel_size_um=1.0)
    tifffile.imwrite(grey, np.zeros((64, 64), np.uint8), resolution=(1e4, 1e4), resolutionunit="CENTIMETER")
    with pytest.raises(ImageFormatError, match="grey.tif"):
        Slide(grey)
    with Slide(tmp_path / "ok.tif") as s:  # glass only
        r = analyze_slide(s)
    assert r.category == "not_assessable" and r.flags == ["no_tissue"]


def test_cli_switches_to_whole_slide_mode_above_the_threshold(pyramid, tmp_path):
    import json

    from typer.testing import CliRunner

    from pipeline.cli import app

    path, node = pyramid
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["analyze", str(path), "--out", str(out), "--wsi-threshold-mp", "1",
                                   "--quiet", "--no-report"])
    assert res.exit_code == 0, res.output
    s = json.loads((out / "node" / "summary.json").read_text())
    assert s["parameters"]["mode"] == "whole-slide"
    assert s["category"] == node.category
    assert (out / "node" / "overlay.png").stat().st_size > 1000
    res = CliRunner().invoke(app, ["analyze", str(path), "--out", str(tmp_path / "mem"), "--quiet", "--no-report"])
    s2 = json.loads((tmp_path / "mem" / "node" / "summary.json").read_text())
    assert "mode" not in s2["parameters"] and s2["category"] == s["category"]


@pytest.mark.slow
def test_slide_tiles_spread_over_a_local_cluster(pyramid):
    distributed = pytest.importorskip("distributed")
    path, _ = pyramid
    with Slide(path) as s:
        local = analyze_slide(s, tile_px=512, workers=1)
        with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, distributed.Client(cluster) as client:
            spread = analyze_slide(s, tile_px=512, client=client)
    pd_testing = pytest.importorskip("pandas").testing
    pd_testing.assert_frame_equal(spread.cells, local.cells)
    assert spread.summary()["largest_deposit_um"] == local.summary()["largest_deposit_um"]


def test_tile_progress_is_reported(pyramid, tmp_path):
    from pipeline.batch import run_batch

    path, _ = pyramid
    seen, chunks = [], []
    run_batch([path], tmp_path / "o", wsi_threshold_mp=1, report=False, geojson=False,
              on_tile=lambda name, done, total: seen.append((name, done, total)),
              on_map=lambda name, done, total: chunks.append((name, done, total)))
    assert seen and seen[-1][0] == "node.tif" and seen[-1][1] == seen[-1][2] > 1
    assert [d for _, d, _ in seen] == list(range(1, seen[-1][2] + 1))
    assert chunks == []  # cytokeratin: no tumour map


def test_tumour_map_progress_of_an_he_slide_comes_before_its_tiles(tmp_path):
    from pipeline.batch import run_batch

    node = make_node(size_um=(1100.0, 1100.0), pixel_size_um=1.0, stain="he", seed=322)
    path = tmp_path / "he.tif"
    write_calibrated_tiff(path, node.rgb, pixel_size_um=1.0, tile=(256, 256), pyramid_levels=2)
    events = []
    report = run_batch([path], tmp_path / "o", wsi_threshold_mp=1, report=False, geojson=False,
                       on_tile=lambda name, done, total: events.append(("tile", name, done, total)),
                       on_map=lambda name, done, total: events.append(("map", name, done, total)))
    assert report.ok and report.rows[0]["stain"] == "he"
    chunks = [e for e in events if e[0] == "map"]
    from pipeline import heatmap

    # 1134 x 1134 model pixels in square chunks, less those with no tissue near (this round
    # node leaves its corner chunks glass: skipped)
    grid = int(np.ceil(1134 / heatmap._CHUNK_PX)) ** 2
    n = chunks[-1][3]
    assert 1 <= n < grid and chunks == [("map", "he.tif", k, n) for k in range(1, n + 1)]
    assert events[:n] == chunks and events[-1][0] == "tile"
    # the same file read whole (under the whole-slide threshold): the same progress, its own tiles
    events.clear()
    run_batch([path], tmp_path / "o2", report=False, geojson=False,
              on_tile=lambda name, done, total: events.append(("tile", name, done, total)),
              on_map=lambda name, done, total: events.append(("map", name, done, total)))
    # (the map skips the chunks with no tissue near: by the full-resolution tissue mask here,
    # by the overview's in the slide, so the counts may differ by a chunk of glass)
    whole = [e for e in events if e[0] == "map"]
    m = whole[-1][3]
    assert 1 <= m < grid and whole == [("map", "he.tif", k, m) for k in range(1, m + 1)]
    tiles = [e for e in events if e[0] == "tile"]
    assert events[:m] == whole and tiles[-1][2] == tiles[-1][3] == len(tiles) > 1
