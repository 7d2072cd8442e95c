"""Tables of cells: the one validation of a cells table, and groups numbered largest first.

A *cells table* is a pandas DataFrame with one row per cell and at least the columns
``y_um``, ``x_um`` (cell centre, µm) and ``radius_um`` (equivalent nuclear radius, µm).
:mod:`pipeline.measure` (deposits) and :mod:`pipeline.pattern` (growth pattern) read it
through :func:`cell_arrays` and number their groups of cells with :func:`link_groups`,
so that both check the table with the same messages and number groups the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components

__all__ = ["CELL_COLUMNS", "cell_arrays", "largest_first", "link_groups"]

#: Columns every cells table needs: centre (y, x) and equivalent nuclear radius, µm.
CELL_COLUMNS = ("y_um", "x_um", "radius_um")


def cell_arrays(cells) -> tuple[np.ndarray, np.ndarray]:
    """Check a cells table once and return its centres and radii in µm.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per cell with ``y_um``, ``x_um`` (centre, µm) and ``radius_um``
        (equivalent nuclear radius, µm); other columns are ignored. Not modified.

    Returns
    -------
    centres : (N, 2) float ndarray
        Cell centres (y, x) in µm, a copy.
    radii : (N,) float ndarray
        Radii in µm, a copy.

    Raises
    ------
    TypeError
        If ``cells`` is not a DataFrame.
    ValueError
        If a column is missing, not numeric, NaN or infinite, or a radius is negative.

    Examples
    --------
    >>> import pandas as pd
    >>> centres, radii = cell_arrays(pd.DataFrame({"y_um": [0, 3], "x_um": [1, 4],
    ...                                            "radius_um": [5, 6]}))
    >>> centres.tolist(), radii.tolist()
    ([[0.0, 1.0], [3.0, 4.0]], [5.0, 6.0])
    """
    if not isinstance(cells, pd.DataFrame):
        raise TypeError(
            "cells must be a pandas DataFrame with columns y_um, x_um, radius_um; "
            f"got {type(cells).__name__}"
        )
    missing = [c for c in CELL_COLUMNS if c not in cells.columns]
    if missing:
        raise ValueError(
            f"cells is missing column(s) {missing}; it needs y_um, x_um (cell centre in "
            "µm) and radius_um (equivalent nuclear radius in µm)"
        )
    try:
        centres = cells[["y_um", "x_um"]].to_numpy(dtype=float, copy=True)
        radii = cells["radius_um"].to_numpy(dtype=float, copy=True)
    except (TypeError, ValueError):
        raise ValueError("cells y_um, x_um and radius_um must be numbers in µm") from None
    if not (np.isfinite(centres).all() and np.isfinite(radii).all()):
        raise ValueError(
            "cells has NaN or infinite y_um, x_um or radius_um values; drop those rows first"
        )
    if (radii < 0).any():
        raise ValueError(
            f"cells has negative radius_um values (min {radii.min():g}); radii are in µm "
            "and >= 0"
        )
    return centres, radii


def largest_first(labels) -> tuple[np.ndarray, np.ndarray]:
    """Renumber group labels by decreasing group size; ties go to the earlier first member.

    Parameters
    ----------
    labels : (N,) int array_like
        Group of every cell, 0..G-1 with every label used (as from
        :func:`scipy.sparse.csgraph.connected_components`). Not modified.

    Returns
    -------
    ranked : (N,) int64 ndarray
        The new label of every cell, 0..G-1: 0 is the largest group.
    sizes : (G,) int64 ndarray
        Cells per group, in the new order (non-increasing).

    Raises
    ------
    ValueError
        If ``labels`` is not 1-D, not integers, or skips a label.

    Examples
    --------
    >>> ranked, sizes = largest_first([0, 1, 1, 2, 2, 2])
    >>> ranked.tolist(), sizes.tolist()
    ([2, 1, 1, 0, 0, 0], [3, 2, 1])
    >>> largest_first([1, 0])[0].tolist()  # equal sizes: the group of the first cell first
    [0, 1]
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and labels.dtype.kind not in "iu"):
        raise ValueError(
            f"labels must be a 1-D array of integer group labels, got dtype {labels.dtype} "
            f"and shape {labels.shape}"
        )
    n = len(labels)
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    if labels.min() < 0:
        raise ValueError(f"labels must be >= 0, got {labels.min()}")
    sizes = np.bincount(labels)
    if not (sizes > 0).all():
        raise ValueError(
            f"labels must use every value 0..{len(sizes) - 1}; missing "
            f"{np.flatnonzero(sizes == 0)[:5].tolist()}"
        )
    first = np.full(len(sizes), n, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n))
    order = np.lexsort((first, -sizes))
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return rank[labels], sizes[order].astype(np.int64)


def link_groups(n_cells, i, j) -> tuple[np.ndarray, np.ndarray]:
    """Groups of linked cells (connected components), numbered largest first.

    Parameters
    ----------
    n_cells : int
        Number of cells N.
    i, j : (E,) int array_like
        The two cells (0..N-1) of every link; the order within a link does not matter.

    Returns
    -------
    labels : (N,) int64 ndarray
        Group of every cell, 0..G-1, numbered as by :func:`largest_first`.
    sizes : (G,) int64 ndarray
        Cells per group (non-increasing).

    Raises
    ------
    ValueError
        If ``i`` and ``j`` differ in shape or name a cell outside 0..N-1.

    Examples
    --------
    >>> labels, sizes = link_groups(5, [3, 3], [4, 2])
    >>> labels.tolist(), sizes.tolist()
    ([1, 2, 0, 0, 0], [3, 1, 1])
    """
    n = int(n_cells)
    i, j = np.asarray(i, dtype=np.intp), np.asarray(j, dtype=np.intp)
    if i.shape != j.shape or i.ndim != 1:
        raise ValueError(f"i and j must be 1-D and of one shape, got {i.shape} and {j.shape}")
    if len(i) and (min(i.min(), j.min()) < 0 or max(i.max(), j.max()) >= n):
        raise ValueError(f"i and j must name cells 0..{n - 1}")
    if n == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    graph = sparse.coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    return largest_first(labels)
