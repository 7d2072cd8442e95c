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


def test_summary_text_shows_category_reason_pattern(result):
    result = result.replace(review={"reviewed": True, "cells_added": 1, "cells_removed": 2,
                                    "deposits_before": 2, "deposits_after": 1,
                                    "excluded_regions": 0})
    text = _layers.summary_text(result)
    for expected in (result.category, html.escape(result.category_reason), result.pn_category,
                     "Growth pattern", "discohesion index", "Reviewed", "+1"):
        assert expected in text
