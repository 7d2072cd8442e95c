"""The contact graph of tumour cells, built once, and its groups of touching cells.

The growth-pattern measures of :mod:`pipeline.pattern` all rest on one graph, the
*contact graph* (:class:`ContactGraph`):

* two cells are *candidates* when their centres lie within the linking distance,
  ``factor`` (default 2.1) x the median nuclear diameter of the table
  (:func:`neighbour_distance_um`): neighbours in a file or a nest, not the next file;
* a candidate pair is kept when no third cell lies strictly inside the circle whose
  diameter is the pair (the Gabriel rule [1]_): only cells that face each other
  without another cell in between are contact neighbours. A cell in a chain
  therefore has two neighbours whatever the linking distance; a cell inside a
  nest has about six.

Connected components of the contact graph are *groups* (:meth:`ContactGraph.groups`).
Pruning never splits a group: the Gabriel graph contains the Euclidean minimum
spanning tree, so the groups are exactly those of the plain distance graph (single
linkage). Every distance is in µm, so nothing depends on the pixel size.

References
----------
.. [1] Gabriel KR, Sokal RR. A new statistical approach to geographic variation
       analysis. Syst Zool 18(3):259-278, 1969.
.. [2] Lu C et al. Feature-driven local cell graph (FLocK): new computational
       pathology-based descriptors for prognosis of lung cancer and HPV status of
       oropharyngeal cancers. Med Image Anal 68:101903, 2021 (preprint 2018).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from scipy import sparse
from scipy.sparse.csgraph import dijkstra, minimum_spanning_tree
from scipy.spatial import cKDTree

from ._validate import check_choice, check_positive
from .celltable import cell_arrays, link_groups
from .spatial import query_workers

__all__ = [
    "NEIGHBOUR_FACTOR",
    "MIN_NEIGHBOUR_DISTANCE_UM",
    "GRAPH_METHODS",
    "SIZE_CLASSES",
    "LINEAR_MIN_CELLS",
    "LINEAR_LOW_DEGREE_MIN",
    "LINEAR_PATH_RATIO_MIN",
    "LINEAR_AXIS_RATIO_MAX",
    "ContactGraph",
    "ContactGroups",
    "neighbour_distance_um",
    "neighbour_graph",
]

#: Default linking distance in median nuclear diameters (see :func:`neighbour_distance_um`).
NEIGHBOUR_FACTOR = 2.1
#: Shortest default linking distance, µm: touching carcinoma cells (12-20 µm across with
#: their cytoplasm) have centres this close even when their nuclear profiles measure small
#: (see :func:`neighbour_distance_um`).
MIN_NEIGHBOUR_DISTANCE_UM = 18.0

#: Graphs built by :class:`ContactGraph` and :func:`neighbour_graph`.
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

# Relative tolerance of the Gabriel test: a cell on the circle does not block.
_GABRIEL_RTOL = 1e-9


def _default_distance(radii: np.ndarray, factor: float, min_um: float = MIN_NEIGHBOUR_DISTANCE_UM) -> float:
    if radii.size == 0:
        return 0.0
    diameter = 2.0 * float(np.median(radii))
    if diameter <= 0:
        raise ValueError(
            "the median radius_um of cells is 0 µm, so no neighbour distance can be derived "
            "from the cell size; fill radius_um with the nuclear radius in µm or pass "
            "distance_um explicitly"
        )
    return max(factor * diameter, min_um)


def _edges(yx: np.ndarray, distance: float, method: str):
    """Unordered edges ``(i, j, length)`` with ``i < j``, and the k-d tree (or None)."""
    empty = (np.zeros(0, np.intp), np.zeros(0, np.intp), np.zeros(0, float))
    if len(yx) < 2 or distance <= 0:
        return empty, None
    tree = cKDTree(yx)
    pairs = tree.query_pairs(distance, output_type="ndarray")
    if pairs.size == 0:
        return empty, tree
    i, j = pairs[:, 0].astype(np.intp), pairs[:, 1].astype(np.intp)
    length = np.hypot(*(yx[i] - yx[j]).T)
    if method == "gabriel" and len(yx) > 2:
        half = 0.5 * length
        nearest, _ = tree.query(0.5 * (yx[i] + yx[j]), k=1, workers=query_workers(len(i)))
        keep = nearest >= half * (1.0 - _GABRIEL_RTOL)
        i, j, length = i[keep], j[keep], length[keep]
    order = np.lexsort((j, i))
    return (i[order], j[order], length[order]), tree


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


def _read_only(*arrays):
    for a in arrays:
        a.flags.writeable = False


@dataclass(frozen=True, eq=False)
class ContactGroups:
    """Groups of touching cells (connected components of a contact graph) and their shape.

    Made by :meth:`ContactGraph.groups`; the arrays are read-only. Groups are numbered
    0..G-1, largest first (ties: the group of the earlier cell first). See
    :func:`pipeline.pattern.group_table` for the meaning of the shape measures.

    Attributes
    ----------
    group : (N,) int64 ndarray
        Group of every cell, 0..G-1.
    degree : (N,) int64 ndarray
        Contact neighbours of every cell.
    cell_count : (G,) int64 ndarray
        Cells per group (non-increasing).
    size_class : (G,) object ndarray
        One of :data:`SIZE_CLASSES`.
    axis_ratio, low_degree_fraction, mst_path_ratio : (G,) float ndarray
        Shape of every group (NaN where undefined).
    linear, dispersed : (G,) bool ndarray
        Single-file groups; groups that are single cells, 2-5 cells or linear.
    """

    group: np.ndarray
    degree: np.ndarray
    cell_count: np.ndarray
    size_class: np.ndarray
    axis_ratio: np.ndarray
    low_degree_fraction: np.ndarray
    mst_path_ratio: np.ndarray
    linear: np.ndarray
    dispersed: np.ndarray

    @classmethod
    def _of_edges(cls, yx, i, j, length) -> ContactGroups:
        n = len(yx)
        degree = np.bincount(i, minlength=n) + np.bincount(j, minlength=n)
        group, counts = link_groups(n, i, j)
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
        out = cls(group, degree.astype(np.int64), counts, size_class, axis, low.astype(float),
                  path_ratio, linear.astype(bool), dispersed.astype(bool))
        _read_only(*(getattr(out, f) for f in cls.__dataclass_fields__))
        return out

    def group_frame(self) -> pd.DataFrame:
        """One row per group: the table of :func:`pipeline.pattern.group_table`."""
        return pd.DataFrame({
            "group_id": np.arange(1, len(self.cell_count) + 1, dtype=np.int64),
            "cell_count": self.cell_count.astype(np.int64),
            "size_class": pd.array(self.size_class, dtype=object),
            "axis_ratio": self.axis_ratio.copy(),
            "low_degree_fraction": self.low_degree_fraction.astype(float),
            "mst_path_ratio": self.mst_path_ratio.copy(),
            "linear": self.linear.astype(bool),
            "dispersed": self.dispersed.astype(bool),
        })

    def cell_frame(self, nn_distance_um, index, *, dispersed: bool) -> pd.DataFrame:
        """One row per cell (``index``): :func:`pipeline.pattern.cell_pattern_table`'s columns,
        with ``dispersed`` when asked."""
        g = self.group
        columns = {"group_id": (g + 1).astype(np.int64), "group_size": self.cell_count[g].astype(np.int64),
                   "degree": self.degree.astype(np.int64), "nn_distance_um": np.asarray(nn_distance_um, float)}
        if dispersed:
            columns["dispersed"] = self.dispersed[g].astype(bool)
        return pd.DataFrame(columns, index=index.copy())


class ContactGraph:
    """The contact graph of a table of tumour cells, built once.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm), N rows. Not
        modified; the graph keeps copies of the centres and radii.
    distance_um : float, optional, keyword-only
        Linking distance between cell centres in µm, > 0. Default
        :func:`neighbour_distance_um` of ``cells``.
    method : {"gabriel", "radius"}, keyword-only
        ``"gabriel"`` (default): the contact graph; ``"radius"``: every pair of
        cells within ``distance_um`` (see :func:`neighbour_graph`).

    Attributes
    ----------
    centres : (N, 2) float ndarray
        Cell centres (y, x) in µm (read-only).
    radii : (N,) float ndarray
        Radii in µm (read-only).
    distance_um : float
        The linking distance used, µm (0.0 for an empty table).
    method : str
    i, j : (E,) intp ndarray
        The two cells of every edge, ``i < j``, sorted (read-only).
    length_um : (E,) float ndarray
        Centre distance of every edge, µm (read-only).

    Raises
    ------
    TypeError, ValueError
        For a cells table that is not a DataFrame or has missing or invalid columns,
        a ``distance_um`` that is not > 0, an unknown ``method``, or a median radius
        of 0 without ``distance_um``.

    Examples
    --------
    >>> import pandas as pd
    >>> chain = pd.DataFrame({"y_um": [0.0, 0.0, 0.0, 0.0], "x_um": [0.0, 12.0, 24.0, 200.0],
    ...                       "radius_um": 4.5})
    >>> graph = ContactGraph(chain)
    >>> graph.i.tolist(), graph.j.tolist(), round(graph.distance_um, 1)
    ([0, 1], [1, 2], 18.9)
    >>> groups = graph.groups()
    >>> groups.group.tolist(), groups.cell_count.tolist(), groups.degree.tolist()
    ([0, 0, 0, 1], [3, 1], [1, 2, 1, 0])
    >>> graph.groups(within=[1, 1, 2, 2]).cell_count.tolist()  # cut between 2nd and 3rd
    [2, 1, 1]
    """

    def __init__(self, cells, *, distance_um=None, method="gabriel"):
        method = check_choice(method, GRAPH_METHODS, name="method")
        yx, radii = cell_arrays(cells)
        if distance_um is None:
            distance = _default_distance(radii, NEIGHBOUR_FACTOR) if len(yx) else 0.0
        else:
            distance = check_positive(distance_um, name="distance_um")
        (i, j, length), self._tree = _edges(yx, distance, method)
        _read_only(yx, radii, i, j, length)
        self.centres, self.radii, self.distance_um, self.method = yx, radii, distance, method
        self.i, self.j, self.length_um = i, j, length

    def __repr__(self) -> str:
        return (f"ContactGraph({len(self.centres)} cells, {len(self.i)} edges, "
                f"distance_um={self.distance_um:g}, method={self.method!r})")

    @cached_property
    def _whole(self) -> ContactGroups:
        return ContactGroups._of_edges(self.centres, self.i, self.j, self.length_um)

    def groups(self, *, within=None) -> ContactGroups:
        """Groups of touching cells, optionally never linking cells of different labels.

        Parameters
        ----------
        within : (N,) array_like, optional, keyword-only
            A label per cell (e.g. its deposit id): edges between cells with different
            labels are left out. Default: every edge counts.

        Returns
        -------
        ContactGroups
            Computed once per graph for ``within=None`` (and for labels that cut no edge).
        """
        if within is None:
            return self._whole
        within = np.asarray(within)
        if within.shape != (len(self.centres),):
            raise ValueError(
                f"within must have one label per cell ({len(self.centres)}), got shape "
                f"{within.shape}"
            )
        same = within[self.i] == within[self.j]
        if same.all():
            return self._whole
        return ContactGroups._of_edges(
            self.centres, self.i[same], self.j[same], self.length_um[same]
        )

    @cached_property
    def nn_distance_um(self) -> np.ndarray:
        """(N,) float ndarray: distance to the nearest other cell in µm (NaN for one cell)."""
        n = len(self.centres)
        if n < 2:
            return np.full(n, np.nan)
        tree = self._tree if self._tree is not None else cKDTree(self.centres)
        nn = tree.query(self.centres, k=2, workers=query_workers(n))[0][:, 1]
        _read_only(nn)
        return nn

    def adjacency(self) -> sparse.csr_matrix:
        """Boolean symmetric (N, N) adjacency matrix with an empty diagonal (a new one)."""
        n = len(self.centres)
        rows = np.concatenate([self.i, self.j])
        cols = np.concatenate([self.j, self.i])
        return sparse.csr_matrix((np.ones(len(rows), bool), (rows, cols)), shape=(n, n))


def neighbour_distance_um(cells, *, factor=NEIGHBOUR_FACTOR, min_distance_um=MIN_NEIGHBOUR_DISTANCE_UM) -> float:
    """Linking distance of the tumour-cell neighbour graph, from the measured cell size.

    The distance is ``factor`` x the median nuclear diameter (``2 * radius_um``) of the
    table, and at least ``min_distance_um``. Cells in single-file chains of lobular
    carcinoma lie about 1.2-1.6 nuclear diameters apart (nuclei 8-11 µm, centres
    11-14 µm apart) and cells in cohesive nests 1.4-1.8 diameters apart, so a factor of
    2.1 links touching cells while parallel files 2.5 or more diameters apart
    (infiltrating between lymphocytes) stay separate instead of merging into a ladder
    that reads as a nest. The call is also made at 0.95 and 1.05 x the distance
    (:data:`pipeline.pattern.PATTERN_SCALE_SPAN`): 2.0-2.2 diameters, between the two
    (bench/pattern.py: a factor of 2.3 with a 10 % span reached 2.5 diameters and read
    single-file nodes "mixed"; 1.8 diameters broke nests apart). A missed cell breaks a file into two shorter files or small
    groups, which still count as dispersed, so the discohesion index barely moves.
    Because the distance is a multiple of the measured cell size, it follows the scale
    of the cells, not the pixel size.

    The floor: a section cuts most nuclei off their equator, so real nuclear profiles
    measure smaller than the nuclei (breast-carcinoma fields of MoNuSeg: median
    equivalent diameter 4.9-7.0 µm by the manual outlines, and the same by
    segmentation at 0.25-1 µm/px), while touching carcinoma cells, 12-20 µm across
    with their cytoplasm, keep their centres 12-18 µm apart. 2.3 x a 6 µm profile is
    14 µm (2.1 x: 12.6 µm), too short to link them: on 60 real lymph-node metastases
    (``camelyon-tiles-masks``) 55 read "mixed" and 3 "single_file" without the floor,
    51 cohesive and 9 mixed with it (54 and 6 with the present scale interval,
    docs/growth_pattern.md).

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um`` and ``radius_um`` (µm).
    factor : float, keyword-only
        Multiple of the median nuclear diameter, > 0. Default 2.1.
    min_distance_um : float, keyword-only
        Shortest distance returned, µm, >= 0. Default 18 (0: no floor).

    Returns
    -------
    float
        Linking distance in µm; 0.0 for an empty table (no cells, no neighbours).

    Raises
    ------
    ValueError
        When ``factor`` is not > 0, ``min_distance_um`` is negative, a column is missing
        or invalid, or the median ``radius_um`` is 0 (no size to derive a distance
        from; pass ``distance_um``).

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 12.0], "x_um": [0.0, 0.0], "radius_um": [4.5, 4.5]})
    >>> round(neighbour_distance_um(cells.assign(radius_um=5.0)), 2)
    21.0
    >>> round(neighbour_distance_um(cells.assign(radius_um=3.0)), 2)  # small profiles: the floor
    18.0
    """
    factor = check_positive(factor, name="factor")
    min_distance_um = check_positive(min_distance_um, name="min_distance_um", allow_zero=True)
    _, radii = cell_arrays(cells)
    return _default_distance(radii, factor, min_distance_um)


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
        ``"gabriel"`` (default, the *contact graph* used by all growth-pattern
        measures): those pairs, minus the pairs with another cell strictly inside
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
    return ContactGraph(cells, distance_um=distance_um, method=method).adjacency()
