"""NodeResult <-> layer data conversions (napari_plugin._layers), without a viewer."""

from __future__ import annotations

import doctest
import html

import numpy as np
import pandas as pd
import pytest

from napari_plugin import _layers
from pipeline.review import cells_from_points, review_record
from pipeline.stages import measure_node


@pytest.fixture
def result():
    """Two deposits: a 5 x 5 nest (14 µm pitch) and a pair of cells 400 µm away."""
    yy, xx = np.mgrid[0:5, 0:5] * 14.0
    nest = pd.DataFrame({"y_um": yy.ravel() + 100, "x_um": xx.ravel() + 100})
    pair = pd.DataFrame({"y_um": [100.0, 100.0], "x_um": [500.0, 530.0]})
    cells = pd.concat([nest, pair], ignore_index=True)
    cells["radius_um"] = 5.0
    cells["area_um2"] = np.pi * 25
    return measure_node(cells, pixel_size_um=0.5, stain="he")


def test_doctests():
    failures, tests = doctest.testmod(_layers, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert tests > 0 and failures == 0


def test_cells_layer_in_um_with_features(result):
    data, kwargs, kind = _layers.cells_layer(result, translate=(3.0, 4.0))
    assert kind == "points"
    np.testing.assert_array_equal(data, result.cells[["y_um", "x_um"]].to_numpy())
    assert kwargs["scale"] == (1.0, 1.0) and kwargs["translate"] == (3.0, 4.0)
    assert list(kwargs["features"].columns) == list(_layers.POINT_FEATURES)
    np.testing.assert_array_equal(kwargs["features"]["deposit_id"], result.cells["deposit_id"])
    np.testing.assert_allclose(kwargs["size"], 10.0)  # nucleus diameter, µm
    colours = kwargs["face_color"]
    dep = result.cells["deposit_id"].to_numpy()
    assert len({tuple(c) for c in colours[dep == 1]}) == 1
    assert tuple(colours[dep == 1][0]) != tuple(colours[dep == 2][0])
    assert kwargs["feature_defaults"]["cell_id"] == -1


def test_deposits_and_caliper_layers(result):
    polys, kwargs, kind = _layers.deposits_layer(result)
    assert kind == "shapes" and kwargs["shape_type"] == "polygon"
    assert len(polys) == len(result.deposits) == 2
    labels = kwargs["features"]["label"].tolist()
    big = result.deposits.loc[result.deposits["longest_diameter_um"].idxmax()]
    assert any(f"{big['longest_diameter_um'] / 1000:.3f} mm" in s and "25 cells" in s
               for s in labels)
    lines, ckw, _ = _layers.caliper_layer(result)
    assert ckw["shape_type"] == "line" and len(lines) == 1
    assert np.hypot(*(lines[0][1] - lines[0][0])) == pytest.approx(big["longest_diameter_um"])


def test_empty_result_layers():
    empty = measure_node(pd.DataFrame({"y_um": [], "x_um": [], "radius_um": []}),
                         pixel_size_um=0.5)
    data, kwargs, _ = _layers.cells_layer(empty)
    assert data.shape == (0, 2) and len(kwargs["features"]) == 0
    assert _layers.deposits_layer(empty)[0] == []
    assert _layers.caliper_layer(empty)[0] == []
    assert _layers.deposit_rows(empty) == []
    assert "negative" in _layers.summary_text(empty)


def test_points_round_trip_keeps_ids_and_features(result):
    data, kwargs, _ = _layers.cells_layer(result)
    cells = cells_from_points(data, kwargs["features"], result.cells)
    np.testing.assert_array_equal(cells["cell_id"], result.cells["cell_id"])
    np.testing.assert_allclose(cells[["y_um", "x_um", "radius_um", "area_um2"]],
                               result.cells[["y_um", "x_um", "radius_um", "area_um2"]])
    assert "deposit_id" not in cells  # recomputed by measure_node
    again = measure_node(cells, pixel_size_um=0.5, stain="he")
    assert again.largest_deposit_um == pytest.approx(result.largest_deposit_um)


def test_added_points_get_new_ids_and_median_radius(result):
    data, kwargs, _ = _layers.cells_layer(result)
    features = pd.concat([kwargs["features"],
                          pd.DataFrame([kwargs["feature_defaults"]] * 2)], ignore_index=True)
    data = np.vstack([data, [[900.0, 900.0], [905.0, 905.0]]])
    cells = cells_from_points(data, features, result.cells)
    top = int(result.cells["cell_id"].max())
    assert cells["cell_id"].tolist()[-2:] == [top + 1, top + 2]
    assert cells["radius_um"].iloc[-1] == pytest.approx(5.0)
    assert np.isnan(cells["area_um2"].iloc[-1])
    record = review_record(result, cells.iloc[3:], result)
    assert record["cells_added"] == 2 and record["cells_removed"] == 3


def test_deposit_rows_and_view(result):
    rows = _layers.deposit_rows(result)
    assert [r[1] for r in rows] == [25, 2]  # largest first
    assert rows[0][2] == pytest.approx(result.largest_deposit_um / 1000, abs=1e-3)
    dep_id = rows[0][0]
    centre, zoom = _layers.deposit_view(result, dep_id, (800, 800), translate=(10.0, 0.0))
    assert centre == pytest.approx((128.0 + 10.0, 128.0), abs=1.0)
    assert zoom == pytest.approx(800 / (result.largest_deposit_um / np.sqrt(2) * 1.6), rel=0.1)
    with pytest.raises(KeyError, match="no deposit"):
        _layers.deposit_view(result, 99, (800, 800))


def test_deposit_rows_show_the_highest_tumour_probability_in_he_only(result):
    cells = result.cells[["y_um", "x_um", "radius_um", "area_um2"]].copy()
    cells["tumor_probability"] = np.linspace(0.5, 0.97, len(cells))
    he = measure_node(cells, pixel_size_um=0.5, stain="he")
    rows = _layers.deposit_rows(he)
    assert [r[4] for r in rows] == [round(he.cells.groupby("deposit_id")["tumor_probability"].max()[r[0]], 3)
                                    for r in rows]
    assert [r[4] for r in _layers.deposit_rows(result)] == ["", ""]  # no probabilities (cytokeratin)


def test_summary_text_shows_category_reason_pattern(result):
    result = result.replace(review={"reviewed": True, "cells_added": 1, "cells_removed": 2,
                                    "deposits_before": 2, "deposits_after": 1,
                                    "excluded_regions": 0})
    text = _layers.summary_text(result)
    for expected in (result.category, html.escape(result.category_reason), result.pn_category,
                     "Growth pattern", "discohesion index", "Reviewed", "+1"):
        assert expected in text


def test_summary_text_lists_the_quality_flags(result):
    """The panel says what the summary and the report say: e.g. a suspect pixel size."""
    flagged = result.replace(flags=["pixel_size_suspect", "confirm_with_ihc"])
    text = _layers.summary_text(flagged)
    assert "<b>Flags:</b>" in text and "pixel_size_suspect, confirm_with_ihc" in text
    assert "<b>Flags:</b>" not in _layers.summary_text(result.replace(flags=[]))


def test_not_assessable_reads_in_grey_with_its_reason():
    """A node the library could not stage (category 'not_assessable', pNX) is not shown as staged."""
    empty = measure_node(pd.DataFrame({"y_um": [], "x_um": [], "radius_um": []}),
                         pixel_size_um=0.5)
    odd = empty.replace(category="not_assessable", category_reason="too little <tissue>",
                        pn_category="pNX")
    text = _layers.summary_text(odd)
    assert '<span style="color: #9e9e9e;">not assessable: too little &lt;tissue&gt;</span>' in text
    assert "<b>pN:</b> pNX" in text and "not_assessable" not in text
    assert _layers.category_text(odd) == "not assessable: too little <tissue>"
    assert _layers.result_line(odd) == ("not assessable: too little <tissue> (0 tumour cells, "
                                        "0 deposits)")
    one = measure_node(pd.DataFrame({"y_um": [5.0], "x_um": [5.0], "radius_um": [4.0]}), pixel_size_um=0.5)
    assert _layers.result_line(one).endswith("(1 tumour cell, 1 deposit)")
    # the staged categories keep the panel's text colour
    assert "span" not in _layers.summary_text(empty) and _layers.category_text(empty) == "negative"


def _mapped(result):
    """``result`` with a 6 x 9 tumour map: 8 µm steps from (12, 4) µm, values i / 10 + j / 100."""
    from pipeline.heatmap import TumourMap

    i, j = np.mgrid[0:6, 0:9]
    grid = (i / 10 + j / 100).astype(np.float32)
    return result.replace(tumour_map=TumourMap(grid, 8.0, (12.0, 4.0)))


@pytest.mark.parametrize("translate", [(0.0, 0.0), (250.0, -40.0)])
def test_tumour_map_layer_sits_on_the_points_it_describes(result, translate):
    mapped = _mapped(result)
    data, kwargs, kind = _layers.tumour_map_layer(mapped, translate=translate)
    assert kind == "image" and kwargs["name"] == _layers.TUMOUR_MAP_LAYER
    assert data.dtype == np.float32 and data.shape == (6, 9)
    assert kwargs["scale"] == (8.0, 8.0) and kwargs["contrast_limits"] == (0.0, 1.0)
    assert 0.3 <= kwargs["opacity"] <= 0.6 and kwargs["blending"] in ("additive", "translucent")
    # grid point (i, j) of the map is drawn at world translate + (i, j) * scale ...
    ij = np.array([[0, 0], [5, 8], [2, 3]], float)
    world = np.asarray(kwargs["translate"]) + ij * np.asarray(kwargs["scale"])
    # ... which is the µm point it describes (image frame), plus the image layer's translate
    um = world - np.asarray(translate)
    np.testing.assert_allclose(um, np.array([[12.0, 4.0], [52.0, 68.0], [28.0, 28.0]]))
    np.testing.assert_allclose(mapped.tumour_map.at(um[:, 0], um[:, 1]),
                               data[ij[:, 0].astype(int), ij[:, 1].astype(int)], atol=1e-6)


def test_tumour_map_layer_in_a_napari_layer(result):
    pytest.importorskip("napari")
    from napari.layers import Layer

    mapped = _mapped(result)
    layer = Layer.create(*_layers.tumour_map_layer(mapped, translate=(100.0, 50.0)))
    for ij in ([0, 0], [5, 8], [3, 1]):
        world = np.asarray(layer.data_to_world(ij))
        expected = np.array([12.0, 4.0]) + 8.0 * np.asarray(ij) + (100.0, 50.0)
        np.testing.assert_allclose(world, expected)
    # an image layer of the same result with pixel size 0.5 puts pixel (24, 8) there too
    image = Layer.create(np.zeros((64, 64, 3), np.uint8),
                         {"rgb": True, "scale": (0.5, 0.5), "translate": (100.0, 50.0)}, "image")
    np.testing.assert_allclose(image.data_to_world([24, 8]), layer.data_to_world([0, 0]))


def test_no_tumour_map_no_layer(result):
    assert result.tumour_map is None
    assert _layers.tumour_map_layer(result) is None


def test_caliper_label_sits_beside_the_line(result):
    lines, kwargs, _ = _layers.caliper_layer(result)
    (y0, x0), (y1, x1) = lines[0]
    shift = np.asarray(kwargs["text"]["translation"], float)
    assert np.hypot(*shift) >= 10.0  # µm away from the line's midpoint
    assert abs(np.dot(shift, [y1 - y0, x1 - x0])) < 1e-6  # across the line, not along it
