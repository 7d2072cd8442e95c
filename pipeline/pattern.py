"""Growth pattern of tumour cells: cohesive clusters versus single cells and single files.

Ductal carcinoma (IDC) metastasises as cohesive clusters; lobular carcinoma (ILC)
loses E-cadherin and infiltrates as single cells and one-cell-wide single-file
chains, which are easy to miss and under-stage. These functions quantify the two
patterns from a table of detected tumour cells.

The input is a pandas DataFrame with one row per tumour cell and the columns
``y_um``, ``x_um`` (cell centre, µm) and ``radius_um`` (equivalent nuclear radius,
µm); :func:`deposit_pattern_table` also needs ``deposit_id`` (int, <= 0 = none).
Every distance is in µm, so nothing depends on the pixel size.

Every measure rests on one graph, the *contact graph* of touching cells, and its
connected components, the *groups* (:mod:`pipeline.contact`: :class:`ContactGraph`,
:func:`neighbour_graph`, :func:`neighbour_distance_um`). :func:`growth_pattern`
builds the graph once and returns every table below; the single-table functions
(:func:`cell_pattern_table`, :func:`group_table`, :func:`deposit_pattern_table`,
:func:`pattern_summary`) give the same values one at a time. Ripley's L
(:func:`ripley_l`, :func:`ripley_l_minus_r`) lives in :mod:`pipeline.spatial`.

References
----------
.. [1] WHO Classification of Tumours Editorial Board. Breast Tumours, 5th edition.
       IARC, 2019. Invasive lobular carcinoma: discohesive cells, single files;
       alveolar variant: groups of >= 20 cells.
.. [2] Lugli A et al. Recommendations for reporting tumor budding in colorectal
       cancer based on the International Tumor Budding Consensus Conference
       (ITBCC) 2016. Mod Pathol 30(9):1299-1311, 2017. A bud is <= 4 cells.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ._validate import check_fraction, check_pattern_thresholds
from .contact import (
    GRAPH_METHODS,
    LINEAR_AXIS_RATIO_MAX,
    LINEAR_LOW_DEGREE_MIN,
    LINEAR_MIN_CELLS,
    LINEAR_PATH_RATIO_MIN,
    MIN_NEIGHBOUR_DISTANCE_UM,
    NEIGHBOUR_FACTOR,
    SIZE_CLASSES,
    ContactGraph,
    ContactGroups,
    neighbour_distance_um,
    neighbour_graph,
)
from .defaults import COHESIVE_MAX, MIN_PATTERN_CELLS, SINGLE_FILE_MIN
from .defaults import PATTERN_CUTOFF_MARGIN, PATTERN_SCALE_SPAN
from .spatial import ripley_l, ripley_l_minus_r

__all__ = [
    "MIN_PATTERN_CELLS",
    "COHESIVE_MAX",
    "SINGLE_FILE_MIN",
    "PATTERN_SCALE_SPAN",
    "PATTERN_CUTOFF_MARGIN",
    "NEIGHBOUR_FACTOR",
    "MIN_NEIGHBOUR_DISTANCE_UM",
    "GRAPH_METHODS",
    "SIZE_CLASSES",
    "LINEAR_MIN_CELLS",
    "LINEAR_LOW_DEGREE_MIN",
    "LINEAR_PATH_RATIO_MIN",
    "LINEAR_AXIS_RATIO_MAX",
    "CELL_PATTERN_COLUMNS",
    "GROUP_COLUMNS",
    "DEPOSIT_PATTERN_COLUMNS",
    "GrowthPattern",
    "growth_pattern",
    "neighbour_distance_um",
    "neighbour_graph",
    "cell_pattern_table",
    "group_table",
    "ripley_l",
    "ripley_l_minus_r",
    "pattern_summary",
    "deposit_pattern_table",
]

# The growth-pattern call's defaults, written once in :mod:`pipeline.defaults` (values,
# units and sources there): MIN_PATTERN_CELLS (10 cells), COHESIVE_MAX (discohesion
# index 0.3) and SINGLE_FILE_MIN (0.7), chosen on bench/pattern.py; PATTERN_SCALE_SPAN
# (0.05) and PATTERN_CUTOFF_MARGIN (0.02), the scale interval of the call.

#: Radii (µm) at which :func:`pattern_summary` reports Ripley's L.
_SUMMARY_RADII_UM = (20.0, 50.0)

#: Columns of :func:`cell_pattern_table` (``GrowthPattern.cells`` adds ``dispersed``).
CELL_PATTERN_COLUMNS = ("group_id", "group_size", "degree", "nn_distance_um")
#: Columns of :func:`group_table`.
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
#: Columns of :func:`deposit_pattern_table`.
DEPOSIT_PATTERN_COLUMNS = (
    "deposit_id",
    "discohesion_index",
    "growth_pattern",
    "discohesion_low",
    "discohesion_high",
    "pattern_borderline",
    "fraction_single",
    "fraction_linear",
    "mean_degree",
    "group_count",
)


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


def _call(low: float, high: float, n_cells: int, min_cells, cohesive_max,
          single_file_min, margin: float = 0.0) -> tuple[str, bool]:
    """The call from the scale interval ``[low, high]`` of the index, and whether it is borderline.

    Cohesive or single-file only when the whole interval, widened by ``margin``, is
    on that side of its cut-off; an interval that reaches a cut-off is ``"mixed"``,
    borderline.
    """
    if n_cells < min_cells:
        return "none", False
    m_low = min(margin, cohesive_max)
    m_high = min(margin, 1.0 - single_file_min)
    if high + m_low <= cohesive_max:
        return "cohesive", False
    if low - m_high >= single_file_min:
        return "single_file", False
    return "mixed", bool(low - m_low <= cohesive_max or high + m_high >= single_file_min)


def _scaled_graphs(cells, graph: ContactGraph, scale_span: float) -> list:
    """The contact graphs at (1 - span) and (1 + span) x the linking distance."""
    if scale_span == 0 or len(graph.centres) < 2 or graph.distance_um <= 0:
        return []
    return [ContactGraph(cells, distance_um=graph.distance_um * f, method=graph.method)
            for f in (1.0 - scale_span, 1.0 + scale_span)]


def _fractions(groups: ContactGroups) -> dict:
    """Cell fractions by group class over all cells."""
    group = groups.group
    if len(group) == 0:
        return {"single": 0.0, "2_5": 0.0, "6_19": 0.0, "20_plus": 0.0,
                "linear": 0.0, "dispersed": 0.0}
    size = groups.cell_count[group]
    return {
        "single": float(np.mean(size == 1)),
        "2_5": float(np.mean((size >= 2) & (size <= 5))),
        "6_19": float(np.mean((size >= 6) & (size <= 19))),
        "20_plus": float(np.mean(size >= 20)),
        "linear": float(np.mean(groups.linear[group])),
        "dispersed": float(np.mean(groups.dispersed[group])),
    }


def _summary(graph: ContactGraph, groups: ContactGroups, thresholds, area_um2, bbox,
             scaled=()) -> dict:
    n = len(graph.centres)
    frac = _fractions(groups)
    called = n >= thresholds[0]
    index = frac["dispersed"] if called else 0.0
    indices = [index] + [_fractions(g.groups())["dispersed"] for g in scaled if called]
    low, high = min(indices), max(indices)
    call, borderline = _call(low, high, n, *thresholds, PATTERN_CUTOFF_MARGIN if scaled else 0.0)
    # Ripley's L checks area_um2 and bbox even when it is undefined (fewer than 2 cells)
    L = ripley_l(graph.centres, radii_um=_SUMMARY_RADII_UM, area_um2=area_um2, bbox=bbox)
    return {
        "tumor_cells": int(n),
        "group_count": int(len(groups.cell_count)),
        "neighbour_distance_um": float(graph.distance_um),
        "fraction_single": frac["single"],
        "fraction_2_5": frac["2_5"],
        "fraction_6_19": frac["6_19"],
        "fraction_20_plus": frac["20_plus"],
        "fraction_linear": frac["linear"],
        "mean_degree": float(groups.degree.mean()) if n else math.nan,
        "median_nn_distance_um": float(np.median(graph.nn_distance_um)) if n >= 2 else math.nan,
        "ripley_l_20um": float(L[0]),
        "ripley_l_50um": float(L[1]),
        "discohesion_index": float(index),
        "discohesion_low": float(low),
        "discohesion_high": float(high),
        "pattern_borderline": borderline,
        "growth_pattern": call,
    }


def _dispersed_per_deposit(groups: ContactGroups, pos, inside, n_ids) -> np.ndarray:
    return np.bincount(pos, groups.dispersed[groups.group[inside]], n_ids)


def _deposit_frame(groups: ContactGroups, deposit: np.ndarray, thresholds, scaled=()) -> pd.DataFrame:
    min_cells = thresholds[0]
    ids = np.unique(deposit[deposit > 0])
    rows = {c: [] for c in DEPOSIT_PATTERN_COLUMNS}
    if len(ids):
        inside = deposit > 0
        pos = np.searchsorted(ids, deposit[inside])
        n_cells = np.bincount(pos, minlength=len(ids))
        g = groups.group[inside]
        size = groups.cell_count[g]
        single = np.bincount(pos, size == 1, len(ids)) / n_cells
        linear = np.bincount(pos, groups.linear[g], len(ids)) / n_cells
        dispersed = np.bincount(pos, groups.dispersed[g], len(ids)) / n_cells
        degree = np.bincount(pos, groups.degree[inside], len(ids)) / n_cells
        # groups never span deposits, so counting distinct groups per deposit is exact
        group_count = np.bincount(pos[np.unique(g, return_index=True)[1]], minlength=len(ids))
        called = n_cells >= min_cells
        index = np.where(called, dispersed, 0.0)
        others = [np.where(called, _dispersed_per_deposit(g.groups(within=deposit), pos, inside,
                                                          len(ids)) / n_cells, 0.0)
                  for g in scaled]
        low = np.minimum.reduce([index, *others])
        high = np.maximum.reduce([index, *others])
        margin = PATTERN_CUTOFF_MARGIN if scaled else 0.0
        calls = [_call(lo, hi, c, *thresholds, margin) for lo, hi, c in zip(low, high, n_cells)]
        rows = {
            "deposit_id": ids.astype(np.int64),
            "discohesion_index": index.astype(float),
            "growth_pattern": [c for c, _ in calls],
            "discohesion_low": low.astype(float),
            "discohesion_high": high.astype(float),
            "pattern_borderline": np.array([b for _, b in calls], dtype=bool),
            "fraction_single": single.astype(float),
            "fraction_linear": linear.astype(float),
            "mean_degree": degree.astype(float),
            "group_count": group_count.astype(np.int64),
        }
    table = pd.DataFrame(rows, columns=list(DEPOSIT_PATTERN_COLUMNS))
    dtypes = (np.int64, float, object, float, float, bool, float, float, float, np.int64)
    return table.astype(dict(zip(DEPOSIT_PATTERN_COLUMNS, dtypes)))


@dataclass(frozen=True, eq=False)
class GrowthPattern:
    """Every growth-pattern table of one set of tumour cells (see :func:`growth_pattern`).

    Attributes
    ----------
    cells : pandas.DataFrame
        One row per cell, index of the input: ``group_id``, ``group_size``,
        ``degree``, ``nn_distance_um`` (as :func:`cell_pattern_table`) and
        ``dispersed`` (bool, the cell's group is dispersed).
    groups : pandas.DataFrame
        One row per group, as :func:`group_table`.
    deposits : pandas.DataFrame or None
        One row per deposit, as :func:`deposit_pattern_table`; None when the cells
        have no ``deposit_id`` column.
    summary : dict
        The node-level measures and call, as :func:`pattern_summary`.
    """

    cells: pd.DataFrame
    groups: pd.DataFrame
    deposits: pd.DataFrame | None
    summary: dict


def growth_pattern(
    cells,
    *,
    distance_um=None,
    min_cells=MIN_PATTERN_CELLS,
    cohesive_max=COHESIVE_MAX,
    single_file_min=SINGLE_FILE_MIN,
    scale_span=PATTERN_SCALE_SPAN,
    area_um2=None,
    bbox=None,
) -> GrowthPattern:
    """Growth pattern per cell, per group, per deposit and for the node, from one graph.

    Checks the table once and builds the contact graph once; the results are
    identical to :func:`cell_pattern_table` (plus ``dispersed``), :func:`group_table`,
    :func:`deposit_pattern_table` and :func:`pattern_summary` called one by one.

    Parameters
    ----------
    cells : pandas.DataFrame
        Tumour cells with ``y_um``, ``x_um``, ``radius_um`` (µm) and optionally
        ``deposit_id`` (int, <= 0 = no deposit; e.g. from
        :func:`pipeline.measure.measure_deposits`). Not modified.
    distance_um : float, optional, keyword-only
        Linking distance in µm, > 0. Default :func:`neighbour_distance_um`.
    min_cells : int, keyword-only
        Fewest tumour cells for a pattern call (default 10); fewer: ``"none"``.
    cohesive_max, single_file_min : float, keyword-only
        Discohesion index at or below which growth is ``"cohesive"`` (default 0.3)
        and at or above which it is ``"single_file"`` (default 0.7), over the whole
        scale interval (see :func:`pattern_summary`).
    scale_span : float, keyword-only
        The scale interval spans ``(1 -+ scale_span)`` x the linking distance
        (default 0.05, :data:`PATTERN_SCALE_SPAN`; 0: the index alone).
    area_um2, bbox : optional, keyword-only
        Window of Ripley's L in :attr:`GrowthPattern.summary` (see
        :func:`pattern_summary`): area in µm² and ``(y0, x0, y1, x1)`` in µm.

    Returns
    -------
    GrowthPattern
        ``cells`` (columns ``group_id``, ``group_size``, ``degree``,
        ``nn_distance_um``, ``dispersed``; index of ``cells``), ``groups``
        (:data:`GROUP_COLUMNS`), ``deposits`` (:data:`DEPOSIT_PATTERN_COLUMNS`, or
        None without a ``deposit_id`` column) and ``summary`` (dict).

    Raises
    ------
    TypeError, ValueError
        For an invalid cells table, ``deposit_id``, threshold or window, as the
        single-table functions.

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> yy, xx = np.mgrid[0:5, 0:5] * 14.0  # a 25-cell nest, 14 µm apart
    >>> nest = pd.DataFrame({"y_um": yy.ravel(), "x_um": xx.ravel(), "radius_um": 6.0,
    ...                      "deposit_id": 1})
    >>> single = pd.DataFrame({"y_um": [500.0], "x_um": [0.0], "radius_um": 6.0,
    ...                        "deposit_id": 2})
    >>> gp = growth_pattern(pd.concat([nest, single], ignore_index=True))
    >>> gp.summary["growth_pattern"], round(gp.summary["discohesion_index"], 3)
    ('cohesive', 0.038)
    >>> gp.groups[["group_id", "cell_count", "dispersed"]]
       group_id  cell_count  dispersed
    0         1          25      False
    1         2           1       True
    >>> gp.deposits[["deposit_id", "growth_pattern", "group_count"]]
       deposit_id growth_pattern  group_count
    0           1       cohesive            1
    1           2           none            1
    >>> gp.cells["dispersed"].sum()
    np.int64(1)
    """
    thresholds = check_pattern_thresholds(min_cells, cohesive_max, single_file_min)
    scale_span = check_fraction(scale_span, name="scale_span", below_one=True)
    graph = ContactGraph(cells, distance_um=distance_um)
    deposit = _deposit_ids(cells) if "deposit_id" in cells.columns else None
    whole = graph.groups()
    scaled = _scaled_graphs(cells, graph, scale_span)
    return GrowthPattern(
        cells=whole.cell_frame(graph.nn_distance_um, cells.index, dispersed=True),
        groups=whole.group_frame(),
        deposits=None if deposit is None else _deposit_frame(
            graph.groups(within=deposit), deposit, thresholds, scaled
        ),
        summary=_summary(graph, whole, thresholds, area_um2, bbox, scaled),
    )


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
    graph = ContactGraph(cells, distance_um=distance_um)
    return graph.groups().cell_frame(graph.nn_distance_um, cells.index, dispersed=False)


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
    return ContactGraph(cells, distance_um=distance_um).groups().group_frame()


def pattern_summary(
    cells,
    *,
    distance_um=None,
    min_cells=MIN_PATTERN_CELLS,
    cohesive_max=COHESIVE_MAX,
    single_file_min=SINGLE_FILE_MIN,
    scale_span=PATTERN_SCALE_SPAN,
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
        Fewest tumour cells for which a pattern is called (default 10,
        :data:`MIN_PATTERN_CELLS`). With fewer
        cells the pattern is ``"none"`` and ``discohesion_index`` is 0.0: a handful
        of isolated tumour cells cannot tell lobular from ductal growth. The
        fractions are still reported.
    cohesive_max : float, keyword-only
        ``"cohesive"`` when the whole scale interval is <= this (default 0.3,
        :data:`COHESIVE_MAX`).
    single_file_min : float, keyword-only
        ``"single_file"`` when the whole scale interval is >= this (default 0.7,
        :data:`SINGLE_FILE_MIN`); otherwise the pattern is ``"mixed"``. Must exceed
        ``cohesive_max``.
    scale_span : float, keyword-only
        The *scale interval* of the index, ``[discohesion_low, discohesion_high]``,
        is the lowest and highest index at ``1 - scale_span``, 1 and
        ``1 + scale_span`` x the linking distance (default 0.05,
        :data:`PATTERN_SCALE_SPAN`, in [0, 1)). A node whose interval contains a
        cut-off is called ``"mixed"`` and ``pattern_borderline``: the call then does
        not flip between cohesive and mixed (or mixed and single-file) when the
        nuclei are measured a little larger or smaller, e.g. at another pixel size.
        0 gives the plain threshold call on the index.
    area_um2, bbox : optional, keyword-only
        Window of Ripley's L (see :func:`~pipeline.spatial.ripley_l`), e.g. the tissue area and its
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
        ``discohesion_index`` in [0, 1], ``discohesion_low`` and
        ``discohesion_high`` (its scale interval), ``pattern_borderline`` (bool, the
        interval contains a cut-off) and ``growth_pattern`` (``"none"``,
        ``"cohesive"``, ``"mixed"`` or ``"single_file"``). Without a call
        (``"none"``) the index and its interval are 0.0. Undefined means are NaN.

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
    thresholds = check_pattern_thresholds(min_cells, cohesive_max, single_file_min)
    scale_span = check_fraction(scale_span, name="scale_span", below_one=True)
    graph = ContactGraph(cells, distance_um=distance_um)
    return _summary(graph, graph.groups(), thresholds, area_um2, bbox,
                    _scaled_graphs(cells, graph, scale_span))


def deposit_pattern_table(
    cells,
    *,
    distance_um=None,
    min_cells=MIN_PATTERN_CELLS,
    cohesive_max=COHESIVE_MAX,
    single_file_min=SINGLE_FILE_MIN,
    scale_span=PATTERN_SCALE_SPAN,
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
    min_cells, cohesive_max, single_file_min, scale_span : keyword-only
        As in :func:`pattern_summary` (defaults 10, 0.3, 0.7, 0.1).

    Returns
    -------
    pandas.DataFrame
        One row per deposit id > 0, ascending, columns ``deposit_id``,
        ``discohesion_index``, ``growth_pattern``, ``discohesion_low``,
        ``discohesion_high``, ``pattern_borderline``, ``fraction_single``,
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
    thresholds = check_pattern_thresholds(min_cells, cohesive_max, single_file_min)
    scale_span = check_fraction(scale_span, name="scale_span", below_one=True)
    graph = ContactGraph(cells, distance_um=distance_um)
    deposit = _deposit_ids(cells)
    return _deposit_frame(graph.groups(within=deposit), deposit, thresholds,
                          _scaled_graphs(cells, graph, scale_span))
