"""Tests of the shared cells-table helpers (pipeline.celltable)."""

import numpy as np
import pandas as pd
import pytest

from pipeline.celltable import CELL_COLUMNS, cell_arrays, largest_first, link_groups


def _cells(**columns):
    base = {"y_um": [0.0, 3.0], "x_um": [1.0, 4.0], "radius_um": [5.0, 6.0]}
    base.update(columns)
    return pd.DataFrame(base)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
def test_cell_arrays_returns_float_copies(dtype):
    cells = _cells().astype(dtype).assign(label=["a", "b"])
    before = cells.copy()
    centres, radii = cell_arrays(cells)
    assert centres.dtype == radii.dtype == np.float64
    assert centres.shape == (2, 2) and radii.shape == (2,)
    np.testing.assert_array_equal(centres, [[0, 1], [3, 4]])
    centres[:] = -1.0
    radii[:] = -1.0
    pd.testing.assert_frame_equal(cells, before)
    assert CELL_COLUMNS == ("y_um", "x_um", "radius_um")


def test_cell_arrays_of_an_empty_table():
    centres, radii = cell_arrays(pd.DataFrame(columns=list(CELL_COLUMNS), dtype=float))
    assert centres.shape == (0, 2) and radii.shape == (0,)


@pytest.mark.parametrize(
    "cells, exc, match",
    [
        (np.zeros((2, 3)), TypeError, "cells must be a pandas DataFrame .* got ndarray"),
        (_cells().drop(columns=["radius_um"]), ValueError, r"missing column\(s\) \['radius_um'\]"),
        (_cells(x_um=["a", "b"]), ValueError, "must be numbers in µm"),
        (_cells(y_um=[0.0, np.nan]), ValueError, "NaN or infinite .* drop those rows first"),
        (_cells(radius_um=[1.0, np.inf]), ValueError, "NaN or infinite"),
        (_cells(radius_um=[1.0, -2.0]), ValueError, r"negative radius_um values \(min -2\)"),
    ],
)
def test_cell_arrays_errors(cells, exc, match):
    with pytest.raises(exc, match=match):
        cell_arrays(cells)


def test_largest_first_orders_by_size_then_first_member():
    ranked, sizes = largest_first(np.array([3, 0, 2, 2, 1, 1, 0]))
    # sizes: 0 -> 2 (first at 1), 1 -> 2 (first at 4), 2 -> 2 (first at 2), 3 -> 1
    assert ranked.tolist() == [3, 0, 1, 1, 2, 2, 0]
    assert sizes.tolist() == [2, 2, 2, 1]
    assert ranked.dtype == sizes.dtype == np.int64
    empty = largest_first(np.zeros(0, int))
    assert empty[0].shape == empty[1].shape == (0,)


@pytest.mark.parametrize(
    "labels, match",
    [
        (np.zeros((2, 2), int), "1-D array of integer group labels"),
        (np.array([0.0, 1.0]), "1-D array of integer group labels"),
        (np.array([0, -1]), "labels must be >= 0"),
        (np.array([0, 2]), r"every value 0..2; missing \[1\]"),
    ],
)
def test_largest_first_errors(labels, match):
    with pytest.raises(ValueError, match=match):
        largest_first(labels)


def test_link_groups():
    labels, sizes = link_groups(6, np.array([4, 5]), np.array([5, 3]))
    assert labels.tolist() == [1, 2, 3, 0, 0, 0] and sizes.tolist() == [3, 1, 1, 1]
    labels, sizes = link_groups(3, [], [])
    assert labels.tolist() == [0, 1, 2] and sizes.tolist() == [1, 1, 1]
    assert link_groups(0, [], [])[0].shape == (0,)
    with pytest.raises(ValueError, match="must name cells 0..2"):
        link_groups(3, [0], [3])
    with pytest.raises(ValueError, match="of one shape"):
        link_groups(3, [0, 1], [2])
