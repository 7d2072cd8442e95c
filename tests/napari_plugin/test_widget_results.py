"""A result belongs to the image layer it was computed on (issue 12, item 7).

Choosing another image shows that image's own result or an empty panel; choosing
the first again brings its result (and the edits on its layers) back; closing an
image drops its result and its result layers; Export writes the chosen image's
result only. Most results are made with :func:`pipeline.stages.measure_node`
(no analysis); the Run tests analyse the IHC sample, which needs no H&E model.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from napari_plugin import _layers
from pipeline.heatmap import TumourMap
from pipeline.options import AnalysisOptions
from pipeline.stages import measure_node

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings(
        "ignore:System theme detection requires a Qt6 backend:UserWarning"),
]

SHAPE = (400, 400)  # pixels of 1 µm
ALL_RESULT_LAYERS = (*_layers.RESULT_LAYERS, _layers.TUMOUR_MAP_LAYER)


def _result(image, *, n_scattered=30, seed=0):
    """An H&E result (with a tumour map) on a 400 x 400 µm image called ``image``."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:6, 0:6] * 14.0
    yx = np.vstack([np.c_[yy.ravel() + 60, xx.ravel() + 60],
                    rng.uniform(150, 380, (n_scattered, 2))])
    cells = pd.DataFrame({"y_um": yx[:, 0], "x_um": yx[:, 1], "radius_um": 5.0,
                          "tumor_probability": rng.uniform(0.5, 1.0, len(yx))})
    tmap = TumourMap(rng.uniform(0, 1, (48, 48)).astype(np.float32), 8.0, (4.0, 4.0))
    return measure_node(cells, pixel_size_um=1.0, stain="he", image=image, shape=SHAPE,
                        tumour_map=tmap, options=AnalysisOptions(stain="he"))


def _image(viewer, name):
    """An RGB image layer (chosen in the panel, as a newly added image is)."""
    rgb = np.full((*SHAPE, 3), 200, np.uint8)
    return viewer.add_image(rgb, rgb=True, name=name, scale=(1.0, 1.0), units=("µm", "µm"),
                            metadata={"pixel_size_um": 1.0})


def _show(viewer, widget, result, name):
    """An image layer with ``result`` shown on it, as a Run leaves them."""
    layer = _image(viewer, name)
    assert widget.selected_layer() is layer
    widget.image_layer, widget.image = layer, np.asarray(layer.data)
    widget.show_result(result)
    return layer


def _assert_cleared(viewer, widget):
    assert widget.result is None and widget.review is None and widget.image is None
    assert widget.table.rowCount() == 0
    assert "Category" not in widget.results_label.text()
    for button in (widget.export_button, widget.remeasure_button, widget.add_cells_button,
                   widget.exclude_button, widget.delete_deposit_button):
        assert not button.isEnabled()
    assert [name for name in ALL_RESULT_LAYERS if name in viewer.layers] == []


def test_choosing_another_image_clears_the_panel_and_back(viewer_widget, sample_data, tmp_path):
    viewer, widget = viewer_widget
    rgb, kwargs, _ = sample_data("micro_ilc_ihc")
    a = viewer.add_image(rgb, **dict(kwargs, name="A"))
    result = widget.run(sync=True)
    assert result is not None, widget.status_label.text()
    text = widget.results_label.text()
    assert result.category in text and widget.export_button.isEnabled()

    b = _image(viewer, "B")  # a new image is chosen when it is added
    assert widget.selected_layer() is b and widget.image_layer is b
    _assert_cleared(viewer, widget)
    assert "No result for B" in widget.results_label.text()
    assert result.category not in widget.results_label.text()
    with pytest.raises(RuntimeError, match="nothing to export"):
        widget.export(tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert widget.remeasure() is None and "Run the analysis first" in widget.status_label.text()

    widget.select_layer(a)
    assert widget.result is result and widget.image_layer is a
    assert widget.results_label.text() == text
    assert widget.table.rowCount() == len(result.deposits)
    assert widget.export_button.isEnabled() and widget.remeasure_button.isEnabled()
    assert len(viewer.layers[_layers.CELLS_LAYER].data) == len(result.cells)
    assert viewer.layers[_layers.DEPOSITS_LAYER].nshapes == len(result.deposits)


def test_each_image_shows_its_own_result_and_keeps_its_edits(viewer_widget):
    viewer, widget = viewer_widget
    ra, rb = _result("node_a"), _result("node_b", n_scattered=5, seed=1)
    a = _show(viewer, widget, ra, "A")
    points = viewer.layers[_layers.CELLS_LAYER]
    points.selected_data = {0, 1, 2}
    points.remove_selected()  # not re-measured yet
    viewer.layers[_layers.EXCLUDE_LAYER].add_polygons(
        [np.array([[150.0, 150.0], [150.0, 390.0], [390.0, 390.0]])])
    nest = int(ra.cells["deposit_id"].iloc[0])  # the 6 x 6 nest, deleted with its button
    widget.select_deposit(nest)
    n_nest = widget.delete_selected_deposit()
    assert n_nest > 0 and nest not in widget.table_deposit_ids()
    b = _show(viewer, widget, rb, "B")
    assert widget.result is rb
    assert len(viewer.layers[_layers.CELLS_LAYER].data) == len(rb.cells)
    assert viewer.layers[_layers.EXCLUDE_LAYER].nshapes == 0  # B has no exclusion
    assert widget.table.rowCount() == len(rb.deposits)

    widget.select_layer(a)  # A's result, with the edits left on its layers
    assert widget.result is ra and widget.image_layer is a
    assert len(viewer.layers[_layers.CELLS_LAYER].data) == len(ra.cells) - 3 - n_nest
    assert viewer.layers[_layers.EXCLUDE_LAYER].nshapes == 1
    assert nest not in widget.table_deposit_ids()
    assert nest not in viewer.layers[_layers.DEPOSITS_LAYER].features["deposit_id"].tolist()
    after = widget.remeasure()
    assert after.review["cells_removed"] == 3 + n_nest and after.review["excluded_regions"] == 1
    assert after.image == "node_a"

    widget.select_layer(b)
    assert widget.result is rb and widget.review.record is None
    widget.select_layer(a)
    assert widget.result is after  # the re-measured result is A's now


def test_export_writes_the_chosen_images_result_only(viewer_widget, tmp_path):
    viewer, widget = viewer_widget
    ra, rb = _result("node_a"), _result("node_b", n_scattered=5, seed=1)
    a = _show(viewer, widget, ra, "A")
    b = _show(viewer, widget, rb, "B")
    widget.select_layer(a)
    out = widget.export(tmp_path / "a")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["image"] == "node_a"
    assert len(pd.read_csv(out / "cells.csv")) == len(ra.cells) != len(rb.cells)
    widget.select_layer(b)
    out = widget.export(tmp_path / "b")
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["image"] == "node_b"
    assert len(pd.read_csv(out / "cells.csv")) == len(rb.cells)
    _image(viewer, "C")  # no result: nothing to export
    assert not widget.export_button.isEnabled()
    with pytest.raises(RuntimeError, match="nothing to export"):
        widget.export(tmp_path / "c")


def test_closing_the_shown_image_drops_its_result_and_layers(viewer_widget):
    viewer, widget = viewer_widget
    a = _show(viewer, widget, _result("node_a"), "A")
    b = _image(viewer, "B")
    widget.select_layer(a)
    assert widget.result is not None and _layers.TUMOUR_MAP_LAYER in viewer.layers
    viewer.layers.remove(a)
    assert widget.selected_layer() is b
    _assert_cleared(viewer, widget)
    assert widget.results.get(a) is None and len(widget.results) == 0
    assert len(widget.trainer.session) == 0


def test_closing_another_image_keeps_the_shown_result(viewer_widget):
    viewer, widget = viewer_widget
    ra, rb = _result("node_a"), _result("node_b", n_scattered=5, seed=1)
    a = _show(viewer, widget, ra, "A")
    b = _show(viewer, widget, rb, "B")
    viewer.layers.remove(a)
    assert widget.selected_layer() is b and widget.result is rb
    assert widget.results.get(a) is None and widget.results.get(b) is not None
    assert len(viewer.layers[_layers.CELLS_LAYER].data) == len(rb.cells)
    assert widget.export_button.isEnabled()
    viewer.layers.remove(b)  # the last image: an empty panel
    assert widget.selected_layer() is None
    _assert_cleared(viewer, widget)


def test_a_run_finishing_after_another_image_was_chosen(viewer_widget, sample_data, qtbot):
    viewer, widget = viewer_widget
    rgb, kwargs, _ = sample_data("micro_ilc_ihc")
    a = viewer.add_image(rgb, **dict(kwargs, name="A"))
    b = _image(viewer, "B")
    widget.select_layer(a)
    assert widget.run() is not None  # a thread_worker
    widget.select_layer(b)
    qtbot.waitUntil(lambda: not widget.running and widget.run_button.isEnabled(), timeout=60000)
    assert widget.result is None, "A's result must not be shown on B"
    _assert_cleared(viewer, widget)
    assert "choose it to see the result" in widget.status_label.text()
    record = widget.results.get(a)
    assert record is not None and record.result.stain == "ihc"
    widget.select_layer(a)
    assert widget.result is record.result and widget.export_button.isEnabled()
    assert len(viewer.layers[_layers.CELLS_LAYER].data) == len(record.result.cells)


def test_not_assessable_is_shown_in_grey_with_its_reason(viewer_widget):
    viewer, widget = viewer_widget
    result = _result("node_a").replace(category="not_assessable",
                                       category_reason="too little tissue", pn_category="pNX")
    _show(viewer, widget, result, "A")
    text = widget.results_label.text()
    assert "not assessable: too little tissue" in text and "#9e9e9e" in text and "pNX" in text
