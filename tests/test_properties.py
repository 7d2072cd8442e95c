"""Property-based tests of measurement and staging (hypothesis).

Invariants that must hold for any set of tumour cells and any pixel size:

* adding tumour cells never lowers the node category
  (negative < itc < micrometastasis < macrometastasis);
* no deposit is longer than the extent of all the cells together (the largest
  distance between two cell outlines);
* lengths are physical: scaling coordinates and the pixel size together, or
  describing the same cells at another resolution, leaves µm results unchanged.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from pipeline.analysis import measure_node
from pipeline.measure import assign_deposits, group_deposits, max_feret_diameter_um
from pipeline.staging import CATEGORIES, node_category

SETTINGS = settings(max_examples=60, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
ORDER = {name: rank for rank, name in enumerate(CATEGORIES)}


def test_category_order_is_the_staging_order():
    assert list(CATEGORIES) == ["negative", "itc", "micrometastasis", "macrometastasis"]


coordinate = st.floats(0.0, 3000.0, allow_nan=False, allow_infinity=False)
radius = st.floats(0.5, 15.0, allow_nan=False, allow_infinity=False)
cell = st.tuples(coordinate, coordinate, radius)
cell_lists = st.lists(cell, min_size=0, max_size=25)
pixel_sizes = st.floats(0.05, 100.0, allow_nan=False, allow_infinity=False)


def _table(cells) -> pd.DataFrame:
    arr = np.asarray(cells, dtype=float).reshape(-1, 3)
    return pd.DataFrame({"y_um": arr[:, 0], "x_um": arr[:, 1], "radius_um": arr[:, 2]})


def _category(cells, *, link_um, rule="camelyon", itc_max_cells=200):
    table = _table(cells)
    deposits = group_deposits(table, rule=rule, link_um=link_um)
    largest = float(deposits["longest_diameter_um"].max()) if len(deposits) else 0.0
    return node_category(largest, len(table), itc_max_cells=itc_max_cells)[0]


@SETTINGS
@given(cell_lists, cell_lists, st.floats(0.0, 400.0), st.sampled_from(["camelyon", "contiguous"]),
       st.sampled_from([200, 5]))
def test_adding_cells_never_lowers_the_category(base, extra, link_um, rule, itc_max_cells):
    before = _category(base, link_um=link_um, rule=rule, itc_max_cells=itc_max_cells)
    after = _category(base + extra, link_um=link_um, rule=rule, itc_max_cells=itc_max_cells)
    assert ORDER[after] >= ORDER[before], (before, after)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(cell_lists, cell_lists, pixel_sizes)
def test_adding_cells_never_lowers_the_category_of_a_node(base, extra, px):
    before = measure_node(_table(base), pixel_size_um=px)
    after = measure_node(_table(base + extra), pixel_size_um=px)
    assert ORDER[after.category] >= ORDER[before.category]
    assert after.summary()["largest_deposit_um"] >= before.summary()["largest_deposit_um"] - 1e-9


@SETTINGS
@given(st.lists(cell, min_size=1, max_size=25), st.floats(0.0, 400.0))
def test_no_deposit_is_longer_than_all_the_cells(cells, link_um):
    table = _table(cells)
    deposits = group_deposits(table, link_um=link_um)
    centres = table[["y_um", "x_um"]].to_numpy()
    radii = table["radius_um"].to_numpy()
    gaps = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    extent = float((gaps + radii[:, None] + radii[None]).max())  # Feret of every outline together
    assert float(deposits["longest_diameter_um"].max()) <= extent * (1 + 1e-12) + 1e-9
    assert (deposits["longest_diameter_um"] >= 0).all()
    assert deposits["cell_count"].sum() == len(table)


@SETTINGS
@given(arrays(bool, st.tuples(st.integers(1, 12), st.integers(1, 12))), pixel_sizes)
def test_feret_of_a_mask_does_not_depend_on_the_resolution(mask, px):
    finer = np.kron(mask, np.ones((2, 2), dtype=bool))  # the same object at twice the resolution
    coarse = max_feret_diameter_um(mask, pixel_size_um=px)
    fine = max_feret_diameter_um(finer, pixel_size_um=px / 2)
    assert fine == pytest.approx(coarse, rel=1e-9, abs=1e-12)
    if mask.any():
        assert coarse >= px  # at least one whole pixel


cells_px = st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 4000), st.integers(1, 30)),
                    min_size=0, max_size=25)


@SETTINGS
@given(cells_px, pixel_sizes, st.floats(0.0, 400.0))
def test_cells_in_pixels_at_two_resolutions_give_the_same_deposits(cells, px, link_um):
    arr = np.asarray(cells, dtype=float).reshape(-1, 3)
    at_px = _table(arr * px)
    at_half = _table((arr * 2) * (px / 2))  # the same cells described at twice the resolution
    a = group_deposits(at_px, link_um=link_um)
    b = group_deposits(at_half, link_um=link_um)
    assert a["deposit_id"].tolist() == b["deposit_id"].tolist()
    np.testing.assert_allclose(a["longest_diameter_um"], b["longest_diameter_um"], rtol=1e-12)
    np.testing.assert_allclose(a["area_um2"], b["area_um2"], rtol=1e-12)


@SETTINGS
@given(cell_lists, st.floats(0.0, 400.0), st.sampled_from([0.25, 0.5, 2.0, 4.0, 8.0]))
def test_scaling_lengths_scales_deposits(cells, link_um, k):
    """Cells, radii and the linking distance scaled by k: same grouping, diameters times k."""
    table = _table(cells)
    scaled = _table(np.asarray(cells, dtype=float).reshape(-1, 3) * k)
    ids = assign_deposits(table, link_um=link_um)
    assert assign_deposits(scaled, link_um=link_um * k).tolist() == ids.tolist()
    a = group_deposits(table, link_um=link_um)
    b = group_deposits(scaled, link_um=link_um * k)
    np.testing.assert_allclose(b["longest_diameter_um"], a["longest_diameter_um"] * k, rtol=1e-9)
    np.testing.assert_allclose(b["area_um2"], a["area_um2"] * k * k, rtol=1e-9)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(cell_lists, pixel_sizes, pixel_sizes)
def test_node_results_in_um_do_not_depend_on_the_pixel_size(cells, px1, px2):
    a = measure_node(_table(cells), pixel_size_um=px1).summary()
    b = measure_node(_table(cells), pixel_size_um=px2).summary()
    for key in ("category", "largest_deposit_um", "deposit_count", "tumor_cell_count"):
        assert a[key] == b[key], key
