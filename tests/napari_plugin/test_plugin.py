"""End to end through the npe2 manifest: sample data, reader, dock widget, threaded Run."""

from __future__ import annotations

import numpy as np
import pytest

from napari_plugin import _layers
from napari_plugin._sample_data import SAMPLES

pytestmark = [
    pytest.mark.gui,
    pytest.mark.filterwarnings(
        "ignore:System theme detection requires a Qt6 backend:UserWarning"),
]

WIDGET = "Analyze lymph node"


def _wait_for_run(qtbot, widget):
    qtbot.waitUntil(lambda: not widget.running and widget.run_button.isEnabled(), timeout=60000)


def test_ihc_single_file_sample_through_the_manifest(make_napari_viewer, qtbot):
    from pipeline.analysis import analyze

    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("nodescope", WIDGET)
    [layer] = viewer.open_sample("nodescope", "micro_ilc_ihc")
    assert widget.selected_layer() is layer
    assert tuple(layer.scale) == (0.5, 0.5)
    assert str(layer.units[0]) == "micrometer"
    truth = layer.metadata["truth"]
    assert truth["category"] == "micrometastasis" and truth["growth_pattern"] == "single_file"

    widget.stain_combo.setCurrentIndex(widget.stain_combo.findData("auto"))
    worker = widget.run()
    assert worker is not None
    assert not widget.run_button.isEnabled()  # disabled while it runs
    _wait_for_run(qtbot, widget)
    result = widget.result
    assert result is not None, widget.status_label.text()

    expected = analyze(np.asarray(layer.data), pixel_size_um=0.5, stain="auto",
                       image_name=layer.name)
    assert result.stain == expected.stain == "ihc"
    assert result.category == expected.category == truth["category"]
    assert result.largest_deposit_um == pytest.approx(expected.largest_deposit_um)
    assert result.largest_deposit_um == pytest.approx(truth["largest_deposit_um"], rel=0.1)
    assert len(viewer.layers[_layers.CELLS_LAYER].data) == len(expected.cells)
    assert viewer.layers[_layers.DEPOSITS_LAYER].nshapes == len(expected.deposits)
    assert result.category in widget.results_label.text()
    assert widget.progress.value() == widget.progress.maximum()


def test_every_sample_opens_in_um(make_napari_viewer, record_property):
    import time

    expected = {"negative_he": "negative", "itc_he": "itc", "micro_idc_he": "micrometastasis",
                "micro_ilc_ihc": "micrometastasis"}
    assert set(SAMPLES) == set(expected)
    viewer = make_napari_viewer()
    for key, category in expected.items():
        t0 = time.perf_counter()
        [layer] = viewer.open_sample("nodescope", key)
        record_property(f"open_sample_{key}_s", time.perf_counter() - t0)  # timed in bench/, not here
        assert layer.rgb and tuple(layer.scale) == (0.5, 0.5)
        assert layer.metadata["pixel_size_um"] == 0.5
        assert layer.metadata["truth"]["category"] == category


def test_reader_through_viewer_open(make_napari_viewer, tmp_path):
    from pipeline.io import write_calibrated_tiff

    rgb = np.random.default_rng(1).integers(0, 256, (512, 640, 3), dtype=np.uint8)
    path = tmp_path / "pyramid.tif"
    write_calibrated_tiff(path, rgb, pixel_size_um=0.25, pyramid_levels=2, tile=(256, 256))
    viewer = make_napari_viewer()
    [layer] = viewer.open(path, plugin="nodescope")
    try:
        assert layer.multiscale and len(layer.data) == 3
        assert tuple(layer.scale) == (0.25, 0.25)
        assert layer.metadata["pixel_size_um"] == 0.25
        np.testing.assert_allclose(layer.extent.world[1][:2], (512 * 0.25, 640 * 0.25), atol=0.3)
    finally:
        for level in layer.data:
            level.store.close()


def test_threaded_run_shows_errors_and_re_enables(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    _, widget = viewer.window.add_plugin_dock_widget("nodescope", WIDGET)
    viewer.add_image(np.zeros((64, 64, 3), np.float32), rgb=True, name="float image",
                     metadata={"pixel_size_um": 0.5})
    widget.run()
    _wait_for_run(qtbot, widget)
    assert widget.result is None
    assert "Error: TypeError" in widget.status_label.text()
    assert "8-bit RGB" in widget.status_label.text()
    assert "\n" not in widget.status_label.text()
