"""Growth pattern of tumour cells: cohesive clusters versus single cells and single files.

Ductal carcinoma (IDC) metastasises as cohesive clusters; lobular carcinoma (ILC)
loses E-cadherin and infiltrates as single cells and one-cell-wide single-file
chains, which are easy to miss and under-stage. These functions quantify the two
patterns from a table of detected tumour cells.

The input is a pandas DataFrame with one row per tumour cell and the columns
``y_um``, ``x_um`` (cell centre, µm) and ``radius_um`` (equivalent nuclear radius,
µm); :func:`deposit_pattern_table` also needs ``deposit_id`` (int, <= 0 = none).
Every distance is in µm, so nothing depends on the pixel size.

The measures are built on one graph, the *contact graph* (:func:`neighbour_graph`):

* two cells are *candidates* when their centres lie within the linking distance,
  ``factor`` (default 2.3) x the median nuclear diameter of the table
  (:func:`neighbour_distance_um`): neighbours in a file or a nest, not the next file;
* a candidate pair is kept when no third cell lies strictly inside the circle whose
  diameter is the pair (the Gabriel rule [3]_): only cells that face each other
  without another cell in between are contact neighbours. A cell in a chain
  therefore has two neighbours whatever the linking distance; a cell inside a
  nest has about six.

Connected components of the contact graph are *groups*. Pruning never splits a
group: the Gabriel graph contains the Euclidean minimum spanning tree, so the
groups are exactly those of the plain distance graph (single linkage).

References
----------
.. [1] WHO Classification of Tumours Editorial Board. Breast Tumours, 5th edition.
       IARC, 2019. Invasive lobular carcinoma: discohesive cells, single files;
       alveolar variant: groups of >= 20 cells.
.. [2] Lugli A et al. Recommendations for reporting tumor budding in colorectal
       cancer based on the International Tumor Budding Consensus Conference
       (ITBCC) 2016. Mod Pathol 30(9):1299-1311, 2017. A bud is <= 4 cells.
.. [3] Gabriel KR, Sokal RR. A new statistical approach to geographic variation
       analysis. Syst Zool 18(3):259-278, 1969.
.. [4] Lu C et al. Feature-driven local cell graph (FLocK): new computational
       pathology-based descriptors for prognosis of lung cancer and HPV status of
       oropharyngeal cancers. Med Image Anal 68:101903, 2021 (preprint 2018).
.. [5] Ripley BD. Modelling spatial patterns. J R Stat Soc B 39(2):172-212, 1977.
.. [6] Ohser J. On estimators for the reduced second moment measure of point
       processes. Math Operationsforsch Statist Ser Stat 14(1):63-71, 1983
       (translation edge correction).
"""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import connected_components, dijkstra, minimum_spanning_tree
from scipy.spatial import cKDTree

from ._validate import check_choice, check_positive

__all__ = [
    "NEIGHBOUR_FACTOR",
    "GRAPH_METHODS",
    "SIZE_CLASSES",
    "LINEAR_MIN_CELLS",
    "LINEAR_LOW_DEGREE_MIN",
    "LINEAR_PATH_RATIO_MIN",
    "LINEAR_AXIS_RATIO_MAX",
    "neighbour_distance_um",
    "neighbour_graph",
    "cell_pattern_table",
    "group_table",
    "ripley_l",
    "ripley_l_minus_r",
    "pattern_summary",
    "deposit_pattern_table",
]

#: Default linking distance in median nuclear diameters (see :func:`neighbour_distance_um`).
NEIGHBOUR_FACTOR = 2.3

#: Graphs built by :func:`neighbour_graph`.
GRAPH_METHODS = ("gabriel", "radius")

#: Group size classes, by number of cells: 1, 2-5 (budding-like), 6-19, >= 20 (alveolar).
SIZE_CLASSES = ("single", "2-5", "6-19", ">=20")

#: Smallest group that can be flagged ``linear`` (smaller groups are dispersed anyway).
LINEAR_MIN_CELLS = 6
#: A linear group has at least this fraction of cells with <= 2 contact neighbours ...
LINEAR_LOW_DEGREE_MIN = 0.8
#: ... and a spanning-tree path ratio of at least this ...
LINEAR_PATH_RATIO_MIN = 0.5
#: ... or a principal-axis ratio (minor / major) of at most this.
LINEAR_AXIS_RATIO_MAX = 0.35

#: Radii (µm) at which :func:`pattern_summary` reports Ripley's L.
_SUMMARY_RADII_UM = (20.0, 50.0)

# Relative tolerance of the Gabriel test: a cell on the circle does not block.
_GABRIEL_RTOL = 1e-9

CELL_PATTERN_COLUMNS = ("group_id", "group_size", "degree", "nn_distance_um")
GROUP_COLUMNS = (
    "group_id",
    "cell_count",
    "size_class",
    "axis_ratio",
    "low_degree_fraction",
    "mst_path_ratio",
    "linear",
    "dispersed",
)
DEPOSIT_PATTERN_COLUMNS = (
    "deposit_id",
    "discohesion_index",
    "growth_pattern",
    "fraction_single",
    "fraction_linear",
    "mean_degree",
    "group_count",
)


# --------------------------------------------------------------------------- validation


def _cell_arrays(cells) -> tuple[np.ndarray, np.ndarray]:
    """Validate a tumour-cell table; return centres (N, 2) and radii (N,) in µm (copies)."""
    if not isinstance(cells, pd.DataFrame):
        raise TypeError(
            "cells must be a pandas DataFrame with columns y_um, x_um, radius_um; "
            f"got {type(cells).__name__}"
        )
    missing = [c for c in ("y_um", "x_um", "radius_um") if c not in cells.columns]
    if missing:
        raise ValueError(
            f"cells is missing column(s) {missing}; it needs y_um, x_um (cell centre in "
            "µm) and radius_um (equivalent nuclear radius in µm)"
        )
    try:
        yx = cells[["y_um", "x_um"]].to_numpy(dtype=float, copy=True)
        radii = cells["radius_um"].to_numpy(dtype=float, copy=True)
    except (TypeError, ValueError):
        raise ValueError("cells y_um, x_um and radius_um must be numbers in µm") from None
    if not (np.isfinite(yx).all() and np.isfinite(radii).all()):
        raise ValueError(
            "cells has NaN or infinite y_um, x_um or radius_um values; drop those rows first"
        )
    if (radii < 0).any():
        raise ValueError(
            f"cells has negative radius_um values (min {radii.min():g}); radii are in µm "
            "and >= 0"
        )
    return yx, radii


def _deposit_ids(cells) -> np.ndarray:
    if "deposit_id" not in cells.columns:
        raise ValueError(
            "cells has no deposit_id column; assign deposits first "
            "(pipeline.measure.assign_deposits) or use pattern_summary for the whole table"
        )
    ids = cells["deposit_id"].to_numpy()
    try:
        out = ids.astype(np.int64)
    except (TypeError, ValueError):
        raise ValueError("cells deposit_id must be integers (<= 0 = no deposit)") from None
    if ids.dtype.kind == "f" and not np.array_equal(out, ids):
        raise ValueError("cells deposit_id must be integers (<= 0 = no deposit), got fractions")
    return out


def _resolve_distance(distance_um, yx, radii) -> float:
    if distance_um is None:
        return _default_distance(radii, NEIGHBOUR_FACTOR) if len(yx) else 0.0
    return check_positive(distance_um, name="distance_um")


def _default_distance(radii: np.ndarray, factor: float) -> float:
    if radii.size == 0:
        return 0.0
    diameter = 2.0 * float(np.median(radii))
    if diameter <= 0:
        raise ValueError(
            "the median radius_um of cells is 0 µm, so no neighbour distance can be derived "
            "from the cell size; fill radius_um with the nuclear radius in µm or pass "
            "distance_um explicitly"
        )
    return factor * diameter


def _check_fraction(value, *, name: str) -> float:
    value = check_positive(value, name=name, allow_zero=True)
    if value > 1:
        raise ValueError(f"{name} must be a fraction in [0, 1], got {value!r}")
    return value


def _check_thresholds(min_cells, cohesive_max, single_file_min) -> tuple[int, float, float]:
    if isinstance(min_cells, bool) or not isinstance(min_cells, Integral) or min_cells < 1:
        raise ValueError(
            f"min_cells must be a whole number of cells >= 1, got {min_cells!r}"
        )
    cohesive_max = _check_fraction(cohesive_max, name="cohesive_max")
    single_file_min = _check_fraction(single_file_min, name="single_file_min")
    if cohesive_max >= single_file_min:
        raise ValueError(
            f"cohesive_max ({cohesive_max:g}) must be smaller than single_file_min "
            f"({single_file_min:g}); the indices in between are 'mixed'"
        )
    return int(min_cells), cohesive_max, single_file_min


# --------------------------------------------------------------------------- graph core


def _edges(yx: np.ndarray, distance: float, method: str = "gabriel"):
    """Unordered edges ``(i, j, length)`` with ``i < j`` of the neighbour graph."""
    empty = (np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, float))
    if len(yx) < 2 or distance <= 0:
        return empty
    tree = cKDTree(yx)
    pairs = tree.query_pairs(distance, output_type="ndarray")
    if pairs.size == 0:
        return empty
    i, j = pairs[:, 0].astype(np.intp), pairs[:, 1].astype(np.intp)
    length = np.hypot(*(yx[i] - yx[j]).T)
    if method == "gabriel" and len(yx) > 2:
        half = 0.5 * length
        nearest, _ = tree.query(0.5 * (yx[i] + yx[j]), k=1)
        keep = nearest >= half * (1.0 - _GABRIEL_RTOL)
        i, j, length = i[keep], j[keep], length[keep]
    order = np.lexsort((j, i))
    return i[order], j[order], length[order]


def _groups(n: int, i: np.ndarray, j: np.ndarray):
    """Component labels 0..G-1 ordered largest first (ties: first cell first), and sizes."""
    if n == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    adj = sparse.coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n)).tocsr()
    _, labels = connected_components(adj, directed=False)
    sizes = np.bincount(labels)
    first = np.full(len(sizes), n, dtype=np.intp)
    np.minimum.at(first, labels, np.arange(n))
    order = np.lexsort((first, -sizes))
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[labels], sizes[order]


def _tree_hop_diameter(n, i, j, length, group, n_groups) -> np.ndarray:
    """Diameter, in edges, of the minimum spanning tree of every group."""
    diameter = np.zeros(n_groups)
    if len(i) == 0:
        return diameter
    # Adding a constant to every weight keeps the spanning tree and avoids zero weights.
    weights = sparse.coo_matrix((length + 1.0, (i, j)), shape=(n, n)).tocsr()
    ti, tj = minimum_spanning_tree(weights).nonzero()

    def farthest_from(sources):
        rows = np.concatenate([ti, np.full(n_groups, n)])
        cols = np.concatenate([tj, sources])
        graph = sparse.coo_matrix(
            (np.ones(len(rows)), (rows, cols)), shape=(n + 1, n + 1)
        ).tocsr()
        return dijkstra(graph, directed=False, indices=n, unweighted=True)[:n] - 1.0

    first = np.full(n_groups, n, dtype=np.intp)
    np.minimum.at(first, group, np.arange(n))
    depth = farthest_from(first)
    order = np.lexsort((-depth, group))
    far = order[np.searchsorted(group[order], np.arange(n_groups))]
    depth = farthest_from(far)
    np.maximum.at(diameter, group, depth)
    return diameter


def _axis_ratio(yx: np.ndarray, group: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """sqrt(minor / major covariance eigenvalue) of each group's cell centres."""
    n_groups = len(counts)
    mean_y = np.bincount(group, yx[:, 0], n_groups) / np.maximum(counts, 1)
    mean_x = np.bincount(group, yx[:, 1], n_groups) / np.maximum(counts, 1)
    dy = yx[:, 0] - mean_y[group]
    dx = yx[:, 1] - mean_x[group]
    syy = np.bincount(group, dy * dy, n_groups)
    sxx = np.bincount(group, dx * dx, n_groups)
    sxy = np.bincount(group, dy * dx, n_groups)
    half_trace = 0.5 * (syy + sxx)
    spread = np.hypot(0.5 * (syy - sxx), sxy)
    major = half_trace + spread
    minor = np.clip(half_trace - spread, 0.0, None)
    ratio = np.full(n_groups, np.nan)
    ok = (counts >= 3) & (major > 0)
    ratio[ok] = np.sqrt(minor[ok] / major[ok])
    return ratio


def _analyse(yx: np.ndarray, distance: float, deposit: np.ndarray | None = None) -> dict:
    """Per-cell and per-group arrays of the contact graph (optionally cut at deposits)."""
    n = len(yx)
    i, j, length = _edges(yx, distance, "gabriel")
    if deposit is not None and len(i):
        same = deposit[i] == deposit[j]
        i, j, length = i[same], j[same], length[same]
    degree = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
    group, counts = _groups(n, i, j)
    n_groups = len(counts)

    low = np.bincount(group, degree <= 2, n_groups) / np.maximum(counts, 1)
    hops = _tree_hop_diameter(n, i, j, length, group, n_groups)
    path_ratio = np.full(n_groups, np.nan)
    multi = counts >= 2
    path_ratio[multi] = hops[multi] / (counts[multi] - 1)
    axis = _axis_ratio(yx, group, counts)

    size_class = np.select(
        [counts == 1, counts <= 5, counts <= 19], list(SIZE_CLASSES[:3]), SIZE_CLASSES[3]
    ).astype(object)
    shape_linear = (low >= LINEAR_LOW_DEGREE_MIN) & (
        (path_ratio >= LINEAR_PATH_RATIO_MIN) | (axis <= LINEAR_AXIS_RATIO_MAX)
    )
    linear = (counts >= LINEAR_MIN_CELLS) & shape_linear
    dispersed = (counts <= 5) | linear
    return {
        "n": n,
        "group": group,
        "degree": degree,
        "counts": counts,
        "size_class": size_class,
        "axis_ratio": axis,
        "low_degree_fraction": low,
        "mst_path_ratio": path_ratio,
        "linear": linear,
        "dispersed": dispersed,
    }


def _call(index: float, n_cells: int, min_cells, cohesive_max, single_file_min) -> str:
    if n_cells < min_cells:
        return "none"
    if index <= cohesive_max:
        return "cohesive"
    if index >= single_file_min:
        return "single_file"
    return "mixed"


# --------------------------------------------------------------------------- public API


def neighbour_distance_um(cells, *, factor=NEIGHBOUR_FACTOR) -> float:
    """Linking distance of the tumour-cell neighbour graph, from the measured cell size.

    The distance is ``factor`` x the median nuclear diameter (``2 * radius_um``) of the
    table. Cells in single-file chains of lobular carcinoma lie about 1.2-1.6 nuclear
    diameters apart (nuclei 8-11 µm, centres 11-14 µm apart) and cells in cohesive
    nests 1.4-1.8 diameters apart, so a factor of 2.3 links touching cells while
    parallel files 2.5 or more diameters apart (infiltrating between lymphocytes)
    stay separate instead of merging into a ladder that reads as a nest. A missed
    cell breaks a file into two shorter files or small groups, which still count as
    dispersed, so the discohesion index barely moves. Because the distance is
    a multiple of the measured cell size, it follows the scale of the cells, not the
    pixel size.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm).
    factor : float, keyword-only
        Multiple of the median nuclear diameter, > 0. Default 2.3.

    Returns
    -------
    float
        Linking distance in µm; 0.0 for an empty table (no cells, no neighbours).

    Raises
    ------
    ValueError
        When ``factor`` is not > 0, a column is missing or invalid, or the median
        ``radius_um`` is 0 (no size to derive a distance from; pass ``distance_um``).

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 12.0], "x_um": [0.0, 0.0], "radius_um": [4.5, 4.5]})
    >>> round(neighbour_distance_um(cells), 2)
    20.7
    """
    factor = check_positive(factor, name="factor")
    _, radii = _cell_arrays(cells)
    return _default_distance(radii, factor)


def neighbour_graph(cells, *, distance_um=None, method="gabriel") -> sparse.csr_matrix:
    """Adjacency matrix of tumour cells that are neighbours.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm), N rows.
    distance_um : float, optional, keyword-only
        Linking distance between cell centres in µm, > 0. Default
        :func:`neighbour_distance_um` of ``cells``.
    method : {"gabriel", "radius"}, keyword-only
        ``"radius"``: every pair of cells whose centres lie within ``distance_um``.
        ``"gabriel"`` (default, the *contact graph* used by all measures of this
        module): those pairs, minus the pairs with another cell strictly inside
        the circle that has the pair as its diameter [1]_, so a cell touches only
        the cells it faces directly (two in a chain, about six in a nest). Both
        graphs have the same connected components.

    Returns
    -------
    scipy.sparse.csr_matrix
        Boolean, symmetric, shape (N, N), empty diagonal; row order of ``cells``.

    References
    ----------
    .. [1] Gabriel KR, Sokal RR. A new statistical approach to geographic variation
           analysis. Syst Zool 18(3):259-278, 1969.

    Examples
    --------
    >>> import pandas as pd
    >>> chain = pd.DataFrame({"y_um": [0.0, 0.0, 0.0], "x_um": [0.0, 12.0, 24.0],
    ...                       "radius_um": [4.5, 4.5, 4.5]})
    >>> neighbour_graph(chain).sum(axis=1).A1.tolist()
    [1, 2, 1]
    >>> neighbour_graph(chain, method="radius", distance_um=27.0).sum(axis=1).A1.tolist()
    [2, 2, 2]
    """
    method = check_choice(method, GRAPH_METHODS, name="method")
    yx, radii = _cell_arrays(cells)
    distance = _resolve_distance(distance_um, yx, radii)
    n = len(yx)
    i, j, _ = _edges(yx, distance, method)
    rows = np.concatenate([i, j])
    cols = np.concatenate([j, i])
    return sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n, n))


def cell_pattern_table(cells, *, distance_um=None) -> pd.DataFrame:
    """Group membership and neighbourhood of every tumour cell.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm), N rows.
    distance_um : float, optional, keyword-only
        Linking distance in µm, > 0. Default :func:`neighbour_distance_um`.

    Returns
    -------
    pandas.DataFrame
        N rows in the order (and with the index) of ``cells``, columns

        ``group_id`` : int
            Connected component of the contact graph (:func:`neighbour_graph`),
            1..G, largest group first (ties: the group of the earlier row first).
        ``group_size`` : int
            Number of cells in the group.
        ``degree`` : int
            Number of contact neighbours (Gabriel graph within ``distance_um``).
        ``nn_distance_um`` : float
            Distance to the nearest other tumour cell in µm (whatever the linking
            distance); NaN when the table has a single cell.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 0.0, 0.0, 200.0], "x_um": [0.0, 12.0, 24.0, 0.0],
    ...                       "radius_um": [4.5] * 4})
    >>> cell_pattern_table(cells)
       group_id  group_size  degree  nn_distance_um
    0         1           3       1            12.0
    1         1           3       2            12.0
    2         1           3       1            12.0
    3         2           1       0           200.0
    """
    yx, radii = _cell_arrays(cells)
    distance = _resolve_distance(distance_um, yx, radii)
    res = _analyse(yx, distance)
    n = res["n"]
    if n >= 2:
        nn = cKDTree(yx).query(yx, k=2)[0][:, 1]
    else:
        nn = np.full(n, np.nan)
    return pd.DataFrame(
        {
            "group_id": (res["group"] + 1).astype(np.int64),
            "group_size": res["counts"][res["group"]].astype(np.int64),
            "degree": res["degree"].astype(np.int64),
            "nn_distance_um": nn.astype(float),
        },
        index=cells.index.copy(),
    )


def group_table(cells, *, distance_um=None) -> pd.DataFrame:
    """Size and shape of every group of touching tumour cells.

    A group is a connected component of the contact graph (:func:`neighbour_graph`).
    Shape measures follow cell-cluster graphs (FLocK [3]_):

    * ``axis_ratio`` -- minor / major principal axis (square roots of the covariance
      eigenvalues) of the cell centres: ~0 for collinear cells, 1 for an isotropic
      cloud; NaN for fewer than 3 cells.
    * ``low_degree_fraction`` -- fraction of the group's cells with at most two
      contact neighbours (every cell of a chain; only the rim corners of a nest).
    * ``mst_path_ratio`` -- longest path (diameter, in edges) of the group's
      Euclidean minimum spanning tree divided by ``cell_count - 1``: 1.0 for a
      chain, small for a compact nest; NaN for a single cell.

    A group is ``linear`` (a single-file chain) when it has at least 6 cells,
    ``low_degree_fraction >= 0.8`` and (``mst_path_ratio >= 0.5`` or
    ``axis_ratio <= 0.35``); curved, branched or ring-shaped (targetoid) files
    qualify through the path ratio, straight ones through both. Groups of 2-5 cells
    are never flagged linear: they are dispersed whatever their shape, so the cells
    fall into exactly one of single / 2-5 / linear / cohesive. A group is
    ``dispersed`` when it is a single cell, has 2-5 cells (budding-like small
    groups [2]_) or is linear; otherwise it is cohesive.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm).
    distance_um : float, optional, keyword-only
        Linking distance in µm, > 0. Default :func:`neighbour_distance_um`.

    Returns
    -------
    pandas.DataFrame
        One row per group, ordered by ``group_id`` (1..G, largest first), columns
        ``group_id``, ``cell_count``, ``size_class`` (``"single"``, ``"2-5"``,
        ``"6-19"`` or ``">=20"``; 20 cells is the WHO alveolar cut-off [1]_),
        ``axis_ratio``, ``low_degree_fraction``, ``mst_path_ratio``, ``linear``,
        ``dispersed``.

    References
    ----------
    .. [1] WHO Classification of Tumours Editorial Board. Breast Tumours, 5th ed.
           IARC, 2019.
    .. [2] Lugli A et al. Recommendations for reporting tumor budding in colorectal
           cancer based on the ITBCC 2016. Mod Pathol 30:1299-1311, 2017.
    .. [3] Lu C et al. Feature-driven local cell graph (FLocK). Med Image Anal 68:
           101903, 2021 (preprint 2018).

    Examples
    --------
    >>> import pandas as pd
    >>> chain = pd.DataFrame({"y_um": [0.0] * 8, "x_um": [12.0 * k for k in range(8)],
    ...                       "radius_um": [4.5] * 8})
    >>> group_table(chain)[["group_id", "cell_count", "size_class", "mst_path_ratio", "linear"]]
       group_id  cell_count size_class  mst_path_ratio  linear
    0         1           8       6-19             1.0    True
    """
    yx, radii = _cell_arrays(cells)
    distance = _resolve_distance(distance_um, yx, radii)
    res = _analyse(yx, distance)
    g = len(res["counts"])
    return pd.DataFrame(
        {
            "group_id": np.arange(1, g + 1, dtype=np.int64),
            "cell_count": res["counts"].astype(np.int64),
            "size_class": pd.array(res["size_class"], dtype=object),
            "axis_ratio": res["axis_ratio"],
            "low_degree_fraction": res["low_degree_fraction"].astype(float),
            "mst_path_ratio": res["mst_path_ratio"],
            "linear": res["linear"].astype(bool),
            "dispersed": res["dispersed"].astype(bool),
        }
    )


def _check_points(points_yx) -> np.ndarray:
    try:
        pts = np.array(points_yx, dtype=float, copy=True)
    except (TypeError, ValueError):
        raise ValueError("points_yx must be an (N, 2) array of y, x positions in µm") from None
    if pts.size == 0:
        return pts.reshape(0, 2)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(
            f"points_yx must have shape (N, 2) (y, x in µm), got shape {pts.shape}"
        )
    if not np.isfinite(pts).all():
        raise ValueError("points_yx has NaN or infinite values; drop those points first")
    return pts


def _check_radii(radii_um) -> np.ndarray:
    try:
        radii = np.array(radii_um, dtype=float, copy=True)
    except (TypeError, ValueError):
        raise ValueError(f"radii_um must be numbers in µm, got {radii_um!r}") from None
    if radii.ndim > 1 or radii.size == 0:
        raise ValueError(
            f"radii_um must be a number or a 1-D list of radii in µm, got {radii_um!r}"
        )
    if not (np.isfinite(radii).all() and (radii > 0).all()):
        raise ValueError(f"radii_um must all be finite and > 0 µm, got {radii_um!r}")
    return radii


def _window(pts: np.ndarray, bbox) -> tuple[float, float, float, float]:
    if bbox is None:
        if len(pts) == 0:
            return (0.0, 0.0, 0.0, 0.0)
        (y0, x0), (y1, x1) = pts.min(axis=0), pts.max(axis=0)
        return float(y0), float(x0), float(y1), float(x1)
    try:
        y0, x0, y1, x1 = (float(v) for v in bbox)
    except (TypeError, ValueError):
        raise ValueError(
            f"bbox must be (y0, x0, y1, x1) in µm, got {bbox!r}"
        ) from None
    if not all(math.isfinite(v) for v in (y0, x0, y1, x1)) or y1 <= y0 or x1 <= x0:
        raise ValueError(
            f"bbox must be (y0, x0, y1, x1) in µm with y1 > y0 and x1 > x0, got {bbox!r}"
        )
    if len(pts) and (
        (pts[:, 0] < y0).any() or (pts[:, 0] > y1).any()
        or (pts[:, 1] < x0).any() or (pts[:, 1] > x1).any()
    ):
        raise ValueError(
            f"bbox {bbox!r} does not contain all points_yx; give a window that encloses "
            "every point (or bbox=None for the points' bounding box)"
        )
    return y0, x0, y1, x1


def ripley_l(points_yx, *, radii_um, area_um2=None, bbox=None) -> np.ndarray:
    """Ripley's L function of a point pattern, with the translation edge correction.

    ``K(r) = A / (n (n - 1)) * sum_{i != j} w_ij 1(d_ij <= r)`` and
    ``L(r) = sqrt(K(r) / pi)`` [1]_, where ``A`` is the window area and
    ``w_ij = |W| / ((a - |dx_ij|) (b - |dy_ij|))`` is the translation correction
    [2]_ for a rectangular window ``W`` of width ``a`` and height ``b``: a pair is
    up-weighted by the inverse of the fraction of the window in which the pair
    could be observed. Under complete spatial randomness L(r) ~ r; L(r) > r
    means clustering at scale r, L(r) < r regularity (inhibition). The
    correction is reliable for r up to about a quarter of the shorter window side.

    Parameters
    ----------
    points_yx : array_like, shape (N, 2)
        Point positions (y, x) in µm.
    radii_um : float or array_like, shape (R,), keyword-only
        Radii r in µm, > 0.
    area_um2 : float, optional, keyword-only
        Area of the region where points can occur, in µm², used for the intensity
        ``n / A`` (e.g. the tissue area when the window is not filled by tissue).
        Default: the area of the window.
    bbox : tuple of 4 floats, optional, keyword-only
        Rectangular window ``(y0, x0, y1, x1)`` in µm that contains every point;
        used for the edge correction. Default: the bounding box of the points
        (which slightly underestimates the true window).

    Returns
    -------
    numpy.ndarray of float, shape of ``radii_um``
        L(r) in µm; NaN when there are fewer than 2 points or the window has
        zero area (collinear points and no ``bbox``).

    References
    ----------
    .. [1] Ripley BD. Modelling spatial patterns. J R Stat Soc B 39:172-212, 1977.
    .. [2] Ohser J. On estimators for the reduced second moment measure of point
           processes. Math Operationsforsch Statist Ser Stat 14:63-71, 1983.

    Examples
    --------
    >>> import numpy as np
    >>> pts = np.random.default_rng(0).uniform(0, 1000, size=(2000, 2))
    >>> L = ripley_l(pts, radii_um=[20, 50], bbox=(0, 0, 1000, 1000))
    >>> bool(np.all(np.abs(L - [20, 50]) < 2))
    True
    """
    pts = _check_points(points_yx)
    radii = _check_radii(radii_um)
    if area_um2 is not None:
        area_um2 = check_positive(area_um2, name="area_um2")
    y0, x0, y1, x1 = _window(pts, bbox)
    height, width = y1 - y0, x1 - x0
    n = len(pts)
    out = np.full(radii.shape, np.nan)
    if n < 2 or height <= 0 or width <= 0:
        return out
    area = area_um2 if area_um2 is not None else height * width
    pairs = cKDTree(pts).query_pairs(float(radii.max()), output_type="ndarray")
    if pairs.size == 0:
        return np.zeros(radii.shape)
    d = pts[pairs[:, 0]] - pts[pairs[:, 1]]
    dist = np.hypot(d[:, 0], d[:, 1])
    overlap = (height - np.abs(d[:, 0])) * (width - np.abs(d[:, 1]))
    weight = (height * width) / np.maximum(overlap, np.finfo(float).tiny)
    order = np.argsort(dist)
    cum = np.concatenate([[0.0], np.cumsum(weight[order])])
    k_sum = 2.0 * cum[np.searchsorted(dist[order], radii.ravel(), side="right")]
    k = area * k_sum / (n * (n - 1))
    return np.sqrt(k / np.pi).reshape(radii.shape)


def ripley_l_minus_r(points_yx, *, radii_um, area_um2=None, bbox=None) -> np.ndarray:
    """``L(r) - r`` of :func:`ripley_l`: ~0 under randomness, > 0 clustered, < 0 regular.

    Parameters and edge correction as in :func:`ripley_l`.

    Returns
    -------
    numpy.ndarray of float, shape of ``radii_um``
        L(r) - r in µm.

    Examples
    --------
    >>> import numpy as np
    >>> grid = np.mgrid[0:100:10, 0:100:10].reshape(2, -1).T  # regular 10 µm grid
    >>> bool(ripley_l_minus_r(grid, radii_um=5)[()] < 0)
    True
    """
    L = ripley_l(points_yx, radii_um=radii_um, area_um2=area_um2, bbox=bbox)
    return L - _check_radii(radii_um)


def _fractions(res: dict, members: np.ndarray | None = None) -> dict:
    """Cell fractions by group class over ``members`` (a boolean cell mask) or all cells."""
    group = res["group"] if members is None else res["group"][members]
    n = len(group)
    if n == 0:
        return {"single": 0.0, "2_5": 0.0, "6_19": 0.0, "20_plus": 0.0,
                "linear": 0.0, "dispersed": 0.0}
    size = res["counts"][group]
    return {
        "single": float(np.mean(size == 1)),
        "2_5": float(np.mean((size >= 2) & (size <= 5))),
        "6_19": float(np.mean((size >= 6) & (size <= 19))),
        "20_plus": float(np.mean(size >= 20)),
        "linear": float(np.mean(res["linear"][group])),
        "dispersed": float(np.mean(res["dispersed"][group])),
    }


def pattern_summary(
    cells,
    *,
    distance_um=None,
    min_cells=10,
    cohesive_max=0.3,
    single_file_min=0.7,
    area_um2=None,
    bbox=None,
) -> dict:
    """Node-level growth pattern: cohesive clusters, single files or a mix.

    The *discohesion index* is the fraction of tumour cells that are dispersed:
    single cells, cells in groups of 2-5 and cells in single-file (linear) groups
    (see :func:`group_table`). It is 0 when every cell lies in a compact cluster of
    6 or more cells and 1 when every cell is single or in a single file, and it
    equals ``fraction_single + fraction_2_5 + fraction_linear``.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm).
    distance_um : float, optional, keyword-only
        Linking distance in µm, > 0. Default :func:`neighbour_distance_um`.
    min_cells : int, keyword-only
        Fewest tumour cells for which a pattern is called (default 10). With fewer
        cells the pattern is ``"none"`` and ``discohesion_index`` is 0.0: a handful
        of isolated tumour cells cannot tell lobular from ductal growth. The
        fractions are still reported.
    cohesive_max : float, keyword-only
        ``"cohesive"`` when the index is <= this (default 0.3).
    single_file_min : float, keyword-only
        ``"single_file"`` when the index is >= this (default 0.7); in between the
        pattern is ``"mixed"``. Must exceed ``cohesive_max``.
    area_um2, bbox : optional, keyword-only
        Window of Ripley's L (see :func:`ripley_l`), e.g. the tissue area and its
        bounding box. Default: the bounding box of the tumour cells.

    Returns
    -------
    dict
        ``tumor_cells`` (int), ``group_count`` (int), ``neighbour_distance_um``
        (µm), ``fraction_single``, ``fraction_2_5``, ``fraction_6_19``,
        ``fraction_20_plus`` (fractions of tumour cells by the size of their group;
        they sum to 1, or are all 0 for no cells), ``fraction_linear`` (cells in
        single-file groups of >= 6 cells), ``mean_degree`` (contact neighbours per
        cell), ``median_nn_distance_um`` (µm), ``ripley_l_20um`` and
        ``ripley_l_50um`` (Ripley's L(r) in µm at r = 20 and 50 µm; compare with r),
        ``discohesion_index`` in [0, 1] and ``growth_pattern`` (``"none"``,
        ``"cohesive"``, ``"mixed"`` or ``"single_file"``). Undefined means are NaN.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> yy, xx = np.mgrid[0:10, 0:10] * 14.0  # a 10 x 10 nest, 14 µm apart
    >>> nest = pd.DataFrame({"y_um": yy.ravel(), "x_um": xx.ravel(), "radius_um": 6.0})
    >>> s = pattern_summary(nest)
    >>> s["growth_pattern"], s["discohesion_index"], s["fraction_20_plus"]
    ('cohesive', 0.0, 1.0)
    >>> pattern_summary(nest.iloc[:3])["growth_pattern"]
    'none'
    """
    min_cells, cohesive_max, single_file_min = _check_thresholds(
        min_cells, cohesive_max, single_file_min
    )
    yx, radii = _cell_arrays(cells)
    distance = _resolve_distance(distance_um, yx, radii)
    res = _analyse(yx, distance)
    n = res["n"]
    frac = _fractions(res)
    index = frac["dispersed"] if n >= min_cells else 0.0
    if n >= 2:
        nn = cKDTree(yx).query(yx, k=2)[0][:, 1]
        median_nn = float(np.median(nn))
        L = ripley_l(yx, radii_um=_SUMMARY_RADII_UM, area_um2=area_um2, bbox=bbox)
    else:
        median_nn = math.nan
        if area_um2 is not None:
            check_positive(area_um2, name="area_um2")
        _window(yx, bbox)
        L = np.full(len(_SUMMARY_RADII_UM), np.nan)
    return {
        "tumor_cells": int(n),
        "group_count": int(len(res["counts"])),
        "neighbour_distance_um": float(distance),
        "fraction_single": frac["single"],
        "fraction_2_5": frac["2_5"],
        "fraction_6_19": frac["6_19"],
        "fraction_20_plus": frac["20_plus"],
        "fraction_linear": frac["linear"],
        "mean_degree": float(res["degree"].mean()) if n else math.nan,
        "median_nn_distance_um": median_nn,
        "ripley_l_20um": float(L[0]),
        "ripley_l_50um": float(L[1]),
        "discohesion_index": float(index),
        "growth_pattern": _call(index, n, min_cells, cohesive_max, single_file_min),
    }


def deposit_pattern_table(
    cells, *, distance_um=None, min_cells=10, cohesive_max=0.3, single_file_min=0.7
) -> pd.DataFrame:
    """Growth pattern of every tumour deposit.

    Groups are formed as in :func:`group_table`, except that cells of different
    deposits are never linked; the linking distance is derived from the whole table
    so that every deposit is measured on the same scale. Measures and thresholds are
    those of :func:`pattern_summary`, applied to each deposit's cells.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um``, ``radius_um`` (µm) and ``deposit_id``
        (int; cells with ``deposit_id <= 0`` belong to no deposit and are left out).
    distance_um : float, optional, keyword-only
        Linking distance in µm, > 0. Default :func:`neighbour_distance_um` of the
        whole table.
    min_cells, cohesive_max, single_file_min : keyword-only
        As in :func:`pattern_summary` (defaults 10, 0.3, 0.7).

    Returns
    -------
    pandas.DataFrame
        One row per deposit id > 0, ascending, columns ``deposit_id``,
        ``discohesion_index``, ``growth_pattern``, ``fraction_single``,
        ``fraction_linear``, ``mean_degree``, ``group_count``.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> yy, xx = np.mgrid[0:5, 0:5] * 14.0
    >>> nest = pd.DataFrame({"y_um": yy.ravel(), "x_um": xx.ravel(), "radius_um": 6.0,
    ...                      "deposit_id": 1})
    >>> singles = pd.DataFrame({"y_um": 500.0, "x_um": [0.0, 100, 200, 300, 400, 500, 600,
    ...                         700, 800, 900], "radius_um": 6.0, "deposit_id": 2})
    >>> t = deposit_pattern_table(pd.concat([nest, singles], ignore_index=True))
    >>> t[["deposit_id", "discohesion_index", "growth_pattern", "group_count"]]
       deposit_id  discohesion_index growth_pattern  group_count
    0           1                0.0       cohesive            1
    1           2                1.0    single_file           10
    """
    min_cells, cohesive_max, single_file_min = _check_thresholds(
        min_cells, cohesive_max, single_file_min
    )
    yx, radii = _cell_arrays(cells)
    deposit = _deposit_ids(cells)
    distance = _resolve_distance(distance_um, yx, radii)
    res = _analyse(yx, distance, deposit=deposit)
    ids = np.unique(deposit[deposit > 0])
    rows = {c: [] for c in DEPOSIT_PATTERN_COLUMNS}
    if len(ids):
        inside = deposit > 0
        pos = np.searchsorted(ids, deposit[inside])
        n_cells = np.bincount(pos, minlength=len(ids))
        g = res["group"][inside]
        size = res["counts"][g]
        single = np.bincount(pos, size == 1, len(ids)) / n_cells
        linear = np.bincount(pos, res["linear"][g], len(ids)) / n_cells
        dispersed = np.bincount(pos, res["dispersed"][g], len(ids)) / n_cells
        degree = np.bincount(pos, res["degree"][inside], len(ids)) / n_cells
        # groups never span deposits, so counting distinct groups per deposit is exact
        group_count = np.bincount(pos[np.unique(g, return_index=True)[1]], minlength=len(ids))
        index = np.where(n_cells >= min_cells, dispersed, 0.0)
        rows = {
            "deposit_id": ids.astype(np.int64),
            "discohesion_index": index.astype(float),
            "growth_pattern": [
                _call(x, c, min_cells, cohesive_max, single_file_min)
                for x, c in zip(index, n_cells)
            ],
            "fraction_single": single.astype(float),
            "fraction_linear": linear.astype(float),
            "mean_degree": degree.astype(float),
            "group_count": group_count.astype(np.int64),
        }
    table = pd.DataFrame(rows, columns=list(DEPOSIT_PATTERN_COLUMNS))
    return table.astype(
        {
            "deposit_id": np.int64,
            "discohesion_index": float,
            "growth_pattern": object,
            "fraction_single": float,
            "fraction_linear": float,
            "mean_degree": float,
            "group_count": np.int64,
        }
    )
