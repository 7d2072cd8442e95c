"""The "Analyze lymph node" widget, driven through its methods (napari viewer under Xvfb).

Tests that analyse the H&E samples ask for the ``he_model`` fixture: they skip
while the shipped H&E model is not installed.
"""

from __future__ import annotations

import html
import json
import time

import numpy as np
import pandas as pd
import pytest

from napari_plugin import _layers
from napari_plugin._widget import AnalyzeWidget

pytestmark = [
    pytest.mark.gui,
    # napari 0.9 with a Qt5 binding warns that it cannot follow the system theme
    pytest.mark.filterwarnings(
        "ignore:System theme detection requires a Qt6 backend:UserWarning"),
]


def _open(viewer, sample_data, key):
    rgb, kwargs, _ = sample_data(key)
    return viewer.add_image(rgb, **kwargs)


def _points(viewer):
    return viewer.layers[_layers.CELLS_LAYER]


def _remove_points(points, mask):
    points.selected_data = set(np.flatnonzero(mask).tolist())
    points.remove_selected()


def test_pixel_size_prefilled_from_the_layer(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    layer = _open(viewer, sample_data, "itc_he")
    assert widget.selected_layer() is layer
    assert float(widget.pixel_edit.text()) == 0.5
    assert widget.link_spin.value() == 75.0


@pytest.mark.usefixtures("he_model")
def test_run_refuses_without_pixel_size(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    rgb = sample_data("itc_he")[0]
    layer = viewer.add_image(rgb, rgb=True, name="uncalibrated")  # e.g. a plain PNG
    assert widget.selected_layer() is layer
    assert widget.pixel_edit.text() == ""
    assert "no pixel size" in widget.status_label.text()
    assert widget.run(sync=True) is None
    assert "Pixel size is missing" in widget.status_label.text()
    assert widget.run_button.isEnabled()
    assert _layers.CELLS_LAYER not in viewer.layers
    widget.pixel_edit.setText("abc")
    assert widget.run(sync=True) is None
    assert "not a number" in widget.status_label.text()
    widget.pixel_edit.setText("0.5")
    result = widget.run(sync=True)
    assert result is not None
    # the image now sits in µm under the µm result layers
    assert tuple(layer.scale) == (0.5, 0.5)
    assert layer.metadata["pixel_size_um"] == 0.5


@pytest.mark.usefixtures("he_model")
def test_run_shows_layers_panel_and_table(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    result = widget.run(sync=True)
    assert widget.run_button.isEnabled()
    assert widget.progress.value() == widget.progress.maximum()
    points = _points(viewer)
    assert len(points.data) == len(result.cells)
    assert tuple(points.scale) == (1.0, 1.0)
    assert str(points.units[0]) == "micrometer"
    assert viewer.scale_bar.visible  # on by default once results are shown, in µm
    assert {"cell_id", "deposit_id", "group_size", "degree", "dispersed"} <= set(points.features)
    deposits = viewer.layers[_layers.DEPOSITS_LAYER]
    assert deposits.nshapes == len(result.deposits)
    assert viewer.layers[_layers.CALIPER_LAYER].shape_type == ["line"]
    assert _layers.EXCLUDE_LAYER in viewer.layers
    text = widget.results_label.text()
    summary = result.summary()
    for expected in (summary["category"], html.escape(summary["category_reason"]),
                     summary["pn_category"],
                     f"{summary['largest_deposit_um'] / 1000:.3f} mm",
                     summary["growth_pattern"]):
        assert expected in text
    assert widget.table.rowCount() == len(result.deposits)
    assert widget.table.isSortingEnabled()
    ids = widget.table_deposit_ids()  # largest first by default
    diameters = result.deposits.set_index("deposit_id").loc[ids, "longest_diameter_um"]
    assert list(diameters) == sorted(diameters, reverse=True)


@pytest.mark.usefixtures("he_model")
def test_table_selection_centres_the_camera(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    result = widget.run(sync=True)
    big = result.deposits.loc[result.deposits["longest_diameter_um"].idxmax()]
    camera = viewer.scene.camera
    camera.center, camera.zoom = (0.0, 0.0), 0.1
    widget.select_deposit(int(big["deposit_id"]))
    outline = np.asarray(big["outline"])
    np.testing.assert_allclose(camera.center[-2:], (outline.min(0) + outline.max(0)) / 2)
    assert camera.zoom > 0.1


@pytest.mark.usefixtures("he_model")
def test_an_image_layer_reports_the_map_then_the_tiles(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "itc_he")
    events = []
    widget.map_chunk_done.connect(lambda done, total: events.append(("map", done, total)))
    widget.tile_done.connect(lambda done, total: events.append(("tile", done, total)))
    widget.run(sync=True)
    from qtpy.QtWidgets import QApplication

    QApplication.processEvents()  # the tiles' signals come from worker threads: queued
    assert widget.status_label.text().startswith("Done:")  # late counts never hide the outcome
    maps = [e for e in events if e[0] == "map"]
    tiles = [e for e in events if e[0] == "tile"]
    assert maps and maps[-1][1] == maps[-1][2] and tiles and tiles[-1][1] == tiles[-1][2] > 1
    assert events == maps + tiles  # the map is made before the tiles
    assert [d for _, d, _ in tiles] == list(range(1, len(tiles) + 1))


@pytest.mark.usefixtures("he_model")
def test_delete_all_points_gives_negative(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "itc_he")
    before = widget.run(sync=True)
    assert len(before.cells) > 0
    points = _points(viewer)
    _remove_points(points, np.ones(len(points.data), bool))
    after = widget.remeasure()
    assert after.category == "negative" and after.pn_category == "pN0"
    assert after.review == {"reviewed": True, "cells_added": 0,
                            "cells_removed": len(before.cells), "cells_excluded": 0,
                            "deposits_before": len(before.deposits), "deposits_after": 0,
                            "excluded_regions": 0}
    assert after.summary()["review"]["reviewed"] is True
    assert "negative" in widget.results_label.text()
    assert widget.table.rowCount() == 0
    assert len(viewer.layers[_layers.CALIPER_LAYER].data) == 0


@pytest.mark.usefixtures("he_model")
def test_remeasure_without_edits_reproduces_the_analysis(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    before = widget.run(sync=True)
    after = widget.remeasure()
    assert after.category == before.category
    assert after.largest_deposit_um == pytest.approx(before.largest_deposit_um)
    np.testing.assert_array_equal(after.cells["deposit_id"], before.cells["deposit_id"])
    assert after.review["cells_added"] == after.review["cells_removed"] == 0
    assert after.nucleus_count == before.nucleus_count
    assert after.tissue_area_mm2 == before.tissue_area_mm2


@pytest.mark.usefixtures("he_model")
def test_deleting_half_a_micrometastasis_shrinks_it(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    before = widget.run(sync=True)
    assert before.category == "micrometastasis"
    big = int(before.deposits.loc[before.deposits["longest_diameter_um"].idxmax(), "deposit_id"])
    points = _points(viewer)
    in_big = points.features["deposit_id"].to_numpy() == big
    x = np.asarray(points.data)[:, 1]
    half = in_big & (x < np.median(x[in_big]))
    _remove_points(points, half)
    after = widget.remeasure()
    assert after.largest_deposit_um < before.largest_deposit_um - 50
    assert after.review["cells_removed"] == int(half.sum())
    assert f"{after.largest_deposit_um / 1000:.3f} mm" in widget.results_label.text()


@pytest.mark.usefixtures("he_model")
def test_add_points_creates_a_new_deposit(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    before = widget.run(sync=True)
    points = _points(viewer)
    widget.start_adding_cells()
    assert points.mode == "add"
    far = np.array([[20.0, 20.0], [20.0, 32.0]])  # a corner far from any deposit
    points.add(far)
    assert points.features["cell_id"].tolist()[-2:] == [-1, -1]
    after = widget.remeasure()
    assert after.review["cells_added"] == 2
    assert len(after.deposits) == len(before.deposits) + 1
    added = after.cells[after.cells["cell_id"] > before.cells["cell_id"].max()]
    assert len(added) == 2
    median = float(np.median(before.cells["radius_um"]))
    np.testing.assert_allclose(added["radius_um"], median)
    assert added["deposit_id"].nunique() == 1
    # the added points are now coloured like their new deposit
    colours = _layers.deposit_colours(added["deposit_id"])
    np.testing.assert_allclose(points.border_color[-2:], colours)
    # the second re-measure still counts the added cells relative to the analysis
    again = widget.remeasure()
    assert again.review["cells_added"] == 2 and again.review["cells_removed"] == 0


@pytest.mark.usefixtures("he_model")
def test_exclude_region_drops_its_cells(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    before = widget.run(sync=True)
    widget.start_exclude_region()
    exclude = viewer.layers[_layers.EXCLUDE_LAYER]
    assert exclude.mode == "add_polygon"
    y, x = before.cells["y_um"].to_numpy(), before.cells["x_um"].to_numpy()
    ys = np.unique(y)  # the cut half-way between two cells' rows: no cell on the edge
    ymid = float(ys[len(ys) // 2 - 1] + ys[len(ys) // 2]) / 2
    box = np.array([[y.min() - 20, x.min() - 20], [y.min() - 20, x.max() + 20],
                    [ymid, x.max() + 20], [ymid, x.min() - 20]])
    exclude.add_polygons([box])
    expected = int((y < ymid).sum())
    after = widget.remeasure()
    assert after.review["excluded_regions"] == 1
    assert after.review["cells_excluded"] == expected
    assert len(after.cells) == len(before.cells) - expected
    assert (after.cells["y_um"] >= ymid).all()


@pytest.mark.usefixtures("he_model")
def test_delete_selected_deposit(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    before = widget.run(sync=True)
    assert widget.delete_selected_deposit() == 0
    assert "Select a deposit" in widget.status_label.text()
    big = int(before.deposits.loc[before.deposits["longest_diameter_um"].idxmax(), "deposit_id"])
    n_big = int((before.cells["deposit_id"] == big).sum())
    widget.select_deposit(big)
    widget.delete_deposit_button.click()
    assert len(_points(viewer).data) == len(before.cells) - n_big
    assert big not in widget.table_deposit_ids()
    after = widget.remeasure()
    assert after.review["cells_removed"] == n_big
    assert after.review["deposits_after"] == len(before.deposits) - 1


@pytest.mark.usefixtures("he_model")
def test_export_matches_the_reviewed_result(viewer_widget, sample_data, tmp_path):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "micro_idc_he")
    widget.run(sync=True)
    points = _points(viewer)
    x = np.asarray(points.data)[:, 1]
    _remove_points(points, x < np.median(x))
    result = widget.remeasure()
    out = widget.export(tmp_path / "export")
    names = sorted(p.name for p in out.iterdir())
    assert names == ["cells.csv", "deposits.csv", "objects.geojson", "overlay.png",
                     "review_labels.csv", "summary.json"]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["category"] == result.category
    assert summary["category"] in widget.results_label.text()
    assert summary["largest_deposit_um"] == pytest.approx(result.largest_deposit_um)
    assert summary["review"] == result.review
    deposits = pd.read_csv(out / "deposits.csv")
    assert len(deposits) == len(result.deposits) == widget.table.rowCount()
    assert deposits["longest_diameter_um"].max() == pytest.approx(result.largest_deposit_um,
                                                                  abs=1e-3)
    assert len(pd.read_csv(out / "cells.csv")) == len(result.cells)
    geo = json.loads((out / "objects.geojson").read_text(encoding="utf-8"))
    kinds = [f["properties"]["objectType"] for f in geo["features"]]
    assert kinds.count("annotation") == len(result.deposits)
    assert kinds.count("detection") == len(result.cells)


def test_remeasure_3000_cells_is_fast(viewer_widget, record_property):
    """Re-measure of ~3000 cells (no segmentation) takes well under a second."""
    from pipeline.analysis import measure_node

    viewer, widget = viewer_widget
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:40, 0:50] * 14.0
    nest = np.c_[yy.ravel() + 200, xx.ravel() + 200]
    scattered = np.c_[rng.uniform(1000, 2500, 1000), rng.uniform(100, 2500, 1000)]
    yx = np.vstack([nest, scattered])
    cells = pd.DataFrame({"y_um": yx[:, 0], "x_um": yx[:, 1],
                          "radius_um": rng.uniform(4, 7, len(yx))})
    result = measure_node(cells, pixel_size_um=0.5, stain="he", image="synthetic",
                          shape=(5200, 5200))
    viewer.add_image(np.zeros((64, 64, 3), np.uint8), rgb=True, scale=(0.5, 0.5),
                     units=("µm", "µm"), metadata={"pixel_size_um": 0.5})
    widget.image_layer = widget.selected_layer()
    widget.show_result(result)
    points = _points(viewer)
    widget.remeasure()  # warm-up: first call imports and builds caches
    _remove_points(points, np.arange(len(points.data)) % 100 == 0)
    t0 = time.perf_counter()
    after = widget.remeasure()
    elapsed = time.perf_counter() - t0
    record_property("remeasure_3000_cells_s", elapsed)
    print(f"\nre-measure of {len(after.cells)} cells: {elapsed:.3f} s")
    assert len(after.cells) == 2970  # the time is reported, not asserted (speed lives in bench/)


def test_controls_take_choices_and_defaults_from_the_options(viewer_widget):
    from pipeline.options import RULES, STAINS, AnalysisOptions, option_help

    _, widget = viewer_widget
    defaults = AnalysisOptions()
    combo_values = [[c.itemData(i) for i in range(c.count())]
                    for c in (widget.stain_combo, widget.rule_combo)]
    assert combo_values == [list(STAINS), list(RULES)]
    assert widget.parameters() == {"stain": defaults.stain, "rule": defaults.rule,
                                   "link_um": defaults.link_um, "model": defaults.model,
                                   "tumour_threshold": defaults.tumour_threshold}
    assert widget.options() == defaults
    assert widget.link_spin.suffix().strip() == option_help("link_um")["unit"]
    widget.base_options = AnalysisOptions(dab_threshold=0.2)
    widget.rule_combo.setCurrentIndex(widget.rule_combo.findData("contiguous"))
    assert widget.options() == AnalysisOptions(dab_threshold=0.2, rule="contiguous")


@pytest.mark.usefixtures("he_model")
def test_points_off_the_image_are_refused(viewer_widget, sample_data):
    viewer, widget = viewer_widget
    _open(viewer, sample_data, "itc_he")
    before = widget.run(sync=True)
    _points(viewer).add(np.array([[-50.0, 20.0]]))
    assert widget.remeasure() is None
    assert "outside the image" in widget.status_label.text()
    assert widget.result is before


@pytest.fixture
def slide_file(sample_data, tmp_path):
    """The micro_idc_he sample (1800 x 1800 pixels) as a calibrated pyramidal TIFF."""
    from pipeline.io import write_calibrated_tiff

    rgb = sample_data("micro_idc_he")[0]
    path = tmp_path / "micro.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.5, tile=(256, 256), pyramid_levels=2)
    return path, rgb


def _open_file(viewer, path):
    [layer] = viewer.open(path, plugin="nodescope")
    assert layer.metadata["path"] == str(path)
    return layer


def _close(layer):
    for level in layer.data if layer.multiscale else []:
        store = getattr(level, "store", None)
        if store is not None:
            store.close()


@pytest.mark.usefixtures("he_model")
def test_file_layer_is_analysed_from_its_file_like_the_cli(viewer_widget, slide_file,
                                                            monkeypatch):
    from pipeline import analysis

    viewer, widget = viewer_widget
    path, rgb = slide_file
    real, calls = analysis.analyze_file, []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis, "analyze_file", spy)
    layer = _open_file(viewer, path)
    try:
        result = widget.run(sync=True)
    finally:
        _close(layer)
    [(args, kwargs)] = calls
    assert args == (path,) and kwargs["options"] == widget.options()
    assert kwargs["pixel_size_um"] is None  # the file's own calibration, as the CLI reads it
    expected, _ = real(path)
    assert result.image == expected.image == "micro.tif"
    assert result.pixel_size_source == expected.pixel_size_source == "tiff-resolution"
    assert result.category == expected.category == "micrometastasis"
    assert result.largest_deposit_um == pytest.approx(expected.largest_deposit_um)
    np.testing.assert_array_equal(widget.image, rgb)
    # a pixel size typed in the panel overrides the file's and is recorded as given
    widget.pixel_edit.setText("0.4")
    assert widget.run(sync=True).pixel_size_source == "argument"
    assert calls[-1][1]["pixel_size_um"] == 0.4


@pytest.mark.usefixtures("he_model")
def test_large_file_layer_is_analysed_tile_by_tile(make_napari_viewer, qtbot, slide_file,
                                                    tmp_path):
    from pipeline.options import AnalysisOptions

    viewer = make_napari_viewer()
    widget = AnalyzeWidget(viewer)
    qtbot.addWidget(widget)
    path, _ = slide_file
    layer = _open_file(viewer, path)
    widget.base_options = AnalysisOptions(wsi_threshold_mp=1.0)  # 3.2 MP: a "whole slide" here
    tiles, events = [], []
    widget.tile_done.connect(lambda done, total: tiles.append((done, total)))
    widget.tile_done.connect(lambda done, total: events.append("tile"))
    widget.map_chunk_done.connect(lambda done, total: events.append(("map", done, total)))
    try:
        assert widget.run() is not None  # in a thread_worker
        qtbot.waitUntil(lambda: not widget.running and widget.run_button.isEnabled(),
                        timeout=60000)
    finally:
        _close(layer)
    result = widget.result
    assert result is not None, widget.status_label.text()
    assert result.parameters["mode"] == "whole-slide"
    assert tiles and tiles[-1][0] == tiles[-1][1]
    # an H&E slide: the tumour map's chunks are reported first, one by one, then the tiles
    chunks = [e for e in events if e != "tile"]
    n = chunks[-1][2]
    assert n >= 2 and chunks == [("map", k, n) for k in range(1, n + 1)]
    assert events[:n] == chunks
    widget.run_button.setEnabled(False)  # as while an analysis runs
    widget.map_chunk_done.emit(2, n)
    assert f"tumour map 2 / {n}" in widget.status_label.text()
    widget.run_button.setEnabled(True)
    assert widget.image is result.overview and widget.image.shape == (450, 450, 3)
    assert result.category == "micrometastasis"
    assert widget.progress.value() == widget.progress.maximum()
    after = widget.remeasure()
    assert after.overview is result.overview and after.parameters["mode"] == "whole-slide"
    out = widget.export(tmp_path / "export")
    assert (out / "overlay.png").is_file()
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["review"] == after.review and summary["image"] == "micro.tif"
