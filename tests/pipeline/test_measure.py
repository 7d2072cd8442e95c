import inspect

import numpy as np
import pandas as pd
import pytest
from skimage.draw import disk

from pipeline.measure import (
    CAMELYON_LINK_UM,
    CONTACT_UM,
    DEPOSIT_COLUMNS,
    RULES,
    assign_deposits,
    empty_deposits,
    group_deposits,
    max_feret_diameter_um,
    measure_deposits,
    summarize_deposits,
)


def _cells(yx, r=5.0):
    yx = np.asarray(yx, dtype=float).reshape(-1, 2)
    return pd.DataFrame({"y_um": yx[:, 0], "x_um": yx[:, 1], "radius_um": np.full(len(yx), r)})


@pytest.mark.parametrize("pixel_size", [0.25, 0.5, 1.0, 2.0])
def test_feret_of_rasterised_disk_is_its_diameter(pixel_size):
    diameter_um = 200.0
    r_px = diameter_um / 2 / pixel_size
    n = int(2 * r_px + 10)
    mask = np.zeros((n, n), dtype=bool)
    mask[disk((n / 2, n / 2), r_px, shape=mask.shape)] = True
    measured = max_feret_diameter_um(mask, pixel_size_um=pixel_size)
    # pixel corners add at most one pixel diagonal to a rasterised disk
    assert diameter_um - pixel_size <= measured <= diameter_um + 1.5 * pixel_size


def test_feret_is_not_an_ellipse_axis_or_bounding_circle():
    # An L-shaped set of points: Feret is the hypotenuse, not an axis.
    pts = np.array([[0, 0], [0, 30], [40, 0]], dtype=float)
    assert max_feret_diameter_um(pts) == pytest.approx(50.0)
    outlines = [np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([[10.0, 0.0], [11.0, 1.0]])]
    assert max_feret_diameter_um(outlines) == pytest.approx(np.hypot(11, 1))


def test_feret_points_in_pixels_scaled():
    pts = np.array([[0, 0], [3, 4]], dtype=float)
    assert max_feret_diameter_um(pts, pixel_size_um=0.5) == pytest.approx(2.5)


def test_feret_empty_and_single():
    assert max_feret_diameter_um(np.zeros((5, 5), bool), pixel_size_um=1) == 0.0
    assert max_feret_diameter_um(np.zeros((0, 2))) == 0.0
    assert max_feret_diameter_um(np.array([[1.0, 2.0]])) == 0.0
    single = np.zeros((3, 3), bool)
    single[1, 1] = True
    assert max_feret_diameter_um(single, pixel_size_um=1.0) == pytest.approx(np.sqrt(2))


def test_feret_collinear_points():
    pts = np.stack([np.arange(10.0), np.zeros(10)], axis=1)
    assert max_feret_diameter_um(pts) == pytest.approx(9.0)


def test_feret_errors():
    with pytest.raises(ValueError, match="pixel_size_um is required"):
        max_feret_diameter_um(np.ones((3, 3), bool))
    with pytest.raises(ValueError, match=r"item 0 has shape \(3, 3\)"):
        max_feret_diameter_um(np.ones((3, 3)))
    with pytest.raises(ValueError, match="NaN"):
        max_feret_diameter_um(np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="pixel_size_um"):
        max_feret_diameter_um(np.ones((3, 3), bool), pixel_size_um=-1)


def test_feret_input_not_modified():
    mask = np.zeros((20, 20), bool)
    mask[5:15, 5:10] = True
    before = mask.copy()
    max_feret_diameter_um(mask, pixel_size_um=1.0)
    np.testing.assert_array_equal(mask, before)


@pytest.mark.parametrize("link", [75.0, 30.0])
def test_linking_just_inside_and_outside(link):
    r = 5.0
    inside = _cells([[0, 0], [0, 2 * r + link - 0.01]], r)
    outside = _cells([[0, 0], [0, 2 * r + link + 0.01]], r)
    assert assign_deposits(inside, link_um=link).tolist() == [1, 1]
    assert sorted(assign_deposits(outside, link_um=link).tolist()) == [1, 2]


def test_contiguous_rule_splits_on_gap():
    # Touching chain of cells then a gap the width of a lymphocyte.
    r = 6.0
    xs = [0, 13, 26, 26 + 12 + 7 + 1]
    cells = _cells([[0, x] for x in xs], r)
    assert assign_deposits(cells, rule="contiguous").tolist() == [1, 1, 1, 2]
    assert assign_deposits(cells, rule="camelyon").tolist() == [1, 1, 1, 1]


def test_group_deposits_table():
    cells = _cells([[0, 0], [0, 30], [0, 60], [1000, 1000]], 5.0)
    table = group_deposits(cells)
    assert table["deposit_id"].tolist() == [1, 2]
    assert table["cell_count"].tolist() == [3, 1]
    assert table.loc[0, "longest_diameter_um"] == pytest.approx(70.0)
    assert table.loc[1, "longest_diameter_um"] == pytest.approx(10.0)
    assert table.loc[0, "centroid_x_um"] == pytest.approx(30.0)
    assert table.loc[0, "tumour_cell_area_um2"] == pytest.approx(3 * np.pi * 25)
    outline = table.loc[0, "outline"]
    assert outline.shape[1] == 2 and len(outline) >= 3


def test_group_deposits_exact_disc_feret_many_cells():
    rng = np.random.default_rng(1)
    yx = rng.uniform(0, 150, size=(300, 2))
    r = rng.uniform(3, 8, size=300)
    cells = pd.DataFrame({"y_um": yx[:, 0], "x_um": yx[:, 1], "radius_um": r})
    d = np.sqrt(((yx[:, None] - yx[None]) ** 2).sum(-1)) + r[:, None] + r[None, :]
    table = group_deposits(cells)
    assert len(table) == 1
    assert table.loc[0, "longest_diameter_um"] == pytest.approx(d.max(), rel=1e-9)


def test_group_deposits_empty_is_typed():
    table = group_deposits(_cells(np.zeros((0, 2))))
    assert len(table) == 0
    assert table["deposit_id"].dtype == np.int64
    assert table["longest_diameter_um"].dtype == np.float64


def test_group_deposits_input_not_modified():
    cells = _cells([[0, 0], [0, 30]], 5.0)
    before = cells.copy()
    group_deposits(cells)
    pd.testing.assert_frame_equal(cells, before)


def test_group_deposits_errors():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        group_deposits(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['radius_um'\]"):
        group_deposits(pd.DataFrame({"y_um": [0.0], "x_um": [0.0]}))
    with pytest.raises(ValueError, match="rule must be one of"):
        group_deposits(_cells([[0, 0]]), rule="touching")
    with pytest.raises(ValueError, match="link_um must be a finite number"):
        group_deposits(_cells([[0, 0]]), link_um=-5)
    with pytest.raises(ValueError, match="NaN"):
        group_deposits(pd.DataFrame({"y_um": [np.nan], "x_um": [0.0], "radius_um": [1.0]}))


def test_deposit_ids_largest_first():
    cells = _cells([[0, 0], [500, 500], [500, 520], [500, 540]], 5.0)
    assert assign_deposits(cells).tolist() == [2, 1, 1, 1]


def test_feret_endpoints_lie_on_the_extreme_cells():
    cells = _cells([[0, 0], [0, 30], [40, 60]], 5.0)
    row = group_deposits(cells).iloc[0]
    p0 = np.array([row.feret_y0_um, row.feret_x0_um])
    p1 = np.array([row.feret_y1_um, row.feret_x1_um])
    assert np.linalg.norm(p1 - p0) == pytest.approx(row.longest_diameter_um)
    assert np.linalg.norm(p0 - [0, 0]) == pytest.approx(5.0)
    assert np.linalg.norm(p1 - [40, 60]) == pytest.approx(5.0)


# --------------------------------------------------------------------------- measure_deposits


def _tables():
    rng = np.random.default_rng(7)
    scattered = _cells(rng.uniform(0, 3000, size=(40, 2)), 5.0)
    scattered["radius_um"] = rng.uniform(3, 8, size=40)
    chain = _cells([[0, 13 * k] for k in range(6)] + [[0, 13 * 5 + 20]], 6.0)
    return [_cells(np.zeros((0, 2))), _cells([[1.0, 2.0]]), chain, scattered]


@pytest.mark.parametrize("rule", RULES)
@pytest.mark.parametrize("k", range(4))
def test_measure_deposits_is_assign_then_summarize(rule, k):
    cells = _tables()[k]
    before = cells.copy()
    ids, table = measure_deposits(cells, rule=rule, link_um=60.0)
    expected_ids = assign_deposits(cells, rule=rule, link_um=60.0)
    np.testing.assert_array_equal(ids, expected_ids)
    assert ids.dtype == np.int64
    expected = summarize_deposits(cells, expected_ids)
    pd.testing.assert_frame_equal(table.drop(columns="outline"), expected.drop(columns="outline"),
                                  check_exact=True)
    assert list(table.columns) == list(DEPOSIT_COLUMNS)
    for a, b in zip(table["outline"], expected["outline"]):
        np.testing.assert_array_equal(a, b)
    pd.testing.assert_frame_equal(table.drop(columns="outline"),
                                  group_deposits(cells, rule=rule, link_um=60.0).drop(columns="outline"))
    pd.testing.assert_frame_equal(cells, before)


def test_measure_deposits_empty_is_typed():
    ids, table = measure_deposits(_cells(np.zeros((0, 2))))
    assert ids.shape == (0,) and ids.dtype == np.int64
    pd.testing.assert_frame_equal(table, empty_deposits())


def test_measure_deposits_errors():
    with pytest.raises(TypeError, match="pandas DataFrame"):
        measure_deposits(np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"missing column\(s\) \['radius_um'\]"):
        measure_deposits(pd.DataFrame({"y_um": [0.0], "x_um": [0.0]}))
    with pytest.raises(ValueError, match="negative radius_um"):
        measure_deposits(_cells([[0, 0]], -1.0))
    with pytest.raises(ValueError, match="rule must be one of"):
        measure_deposits(_cells([[0, 0]]), rule="touching")
    with pytest.raises(ValueError, match="contact_um must be a finite number"):
        measure_deposits(_cells([[0, 0]]), contact_um=np.inf)
    with pytest.raises(ValueError, match=r"one id per cell \(1\)"):
        summarize_deposits(_cells([[0, 0]]), [1, 2])


@pytest.mark.parametrize("func", [assign_deposits, group_deposits, measure_deposits])
def test_linking_defaults_are_the_module_constants(func):
    params = inspect.signature(func).parameters
    assert params["link_um"].default is CAMELYON_LINK_UM == 75.0
    assert params["contact_um"].default is CONTACT_UM == 3.0
    assert params["rule"].default == RULES[0] == "camelyon"


@pytest.mark.parametrize("gap", [3.0, 75.0])
def test_linking_in_blocks_gives_the_same_deposits(monkeypatch, gap):
    # the deposit-linking query runs a block of cells at a time (memory of a whole slide's
    # macrometastasis); the groups must equal those of all pairs at once
    from scipy.spatial import cKDTree

    from pipeline import measure
    from pipeline.celltable import link_groups

    rng = np.random.default_rng(11)
    n = 6000
    centres = np.concatenate([rng.random((n // 2, 2)) * 400, rng.random((n // 2, 2)) * 4000 + 500])
    radii = rng.uniform(2, 6, n)
    pairs = cKDTree(centres).query_pairs(gap + 2 * radii.max(), output_type="ndarray")
    d = np.linalg.norm(centres[pairs[:, 0]] - centres[pairs[:, 1]], axis=1)
    pairs = pairs[d - radii[pairs[:, 0]] - radii[pairs[:, 1]] <= gap]
    want = link_groups(n, pairs[:, 0], pairs[:, 1])[0] + 1
    for block in (257, 1000, 10**6):
        monkeypatch.setattr(measure, "_LINK_BLOCK", block)
        np.testing.assert_array_equal(measure._link_deposits(centres, radii, gap), want)
