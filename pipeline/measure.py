"""Measurements of tumour deposits in micrometres: Feret diameter and deposit grouping.

Every length is in µm and every area in µm²; pixel coordinates are converted with
the pixel size exactly once, at the boundary.

References
----------
.. [1] Amin MB et al. (eds). AJCC Cancer Staging Manual, 8th edition. Springer, 2017.
       Breast chapter: the size of a nodal metastasis is its largest dimension.
.. [2] Ehteshami Bejnordi B et al. Diagnostic assessment of deep learning algorithms for
       detection of lymph node metastases in women with breast cancer (CAMELYON16).
       JAMA 318(22), 2017. Tumour cells within 75 µm of each other form one deposit.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.spatial import ConvexHull, QhullError, cKDTree

from ._validate import check_choice, check_pixel_size, check_positive
from .celltable import cell_arrays, link_groups
from .defaults import CAMELYON_LINK_UM, CONTACT_UM, RULES

__all__ = [
    "CAMELYON_LINK_UM",
    "CONTACT_UM",
    "DEPOSIT_COLUMNS",
    "empty_deposits",
    "summarize_deposits",
    "RULES",
    "assign_deposits",
    "group_deposits",
    "measure_deposits",
    "max_feret_diameter_um",
]

# Defaults, each written once with its unit and source in pipeline.defaults:
# RULES, the deposit-linking rules of group_deposits ("camelyon", "contiguous");
# CAMELYON_LINK_UM, 75 µm: cells whose outlines are this close form one deposit
# (CAMELYON16); CONTACT_UM, 3 µm: the largest outline gap that is contact under
# "contiguous" (the cytoplasm two neighbouring cells share).

#: Columns of the deposits table, in order.
DEPOSIT_COLUMNS = (
    "deposit_id",
    "cell_count",
    "longest_diameter_um",
    "area_um2",
    "tumour_cell_area_um2",
    "centroid_y_um",
    "centroid_x_um",
    "outline",
    "feret_y0_um",
    "feret_x0_um",
    "feret_y1_um",
    "feret_x1_um",
)

# Vertices used to stand for a disc-shaped cell outline. The polygon is
# circumscribed (vertices at r / cos(pi / n)), so a caliper across it is never
# shorter than the disc; with 32 vertices it is at most 0.5 % longer.
_DISC_VERTICES = 32
#: Cells per block of the deposit-linking neighbour query (bounds the pairs held at once).
_LINK_BLOCK = 1 << 15


def _hull_points(points: np.ndarray) -> np.ndarray:
    """Vertices of the convex hull of ``points`` (or the distinct points when degenerate)."""
    # Qhull takes duplicate points as they are (a deposit's disc outlines hold many);
    # removing them first (np.unique over rows) took 8x the hull's own time
    if len(points) > 3:
        try:
            return points[ConvexHull(points).vertices]
        except QhullError:  # collinear points: the extreme points are all we need
            pass
    return np.unique(points, axis=0)


def _max_pairwise_distance(points: np.ndarray) -> float:
    if len(points) < 2:
        return 0.0
    hull = _hull_points(points)
    diff = hull[:, None, :] - hull[None, :, :]
    return float(np.sqrt((diff**2).sum(-1)).max())


def _mask_boundary_points(mask: np.ndarray) -> np.ndarray:
    """Pixel-edge corners of a binary mask's boundary, in pixel units (row, col).

    Each foreground pixel is a unit square; its four corners are candidates. Only
    pixels on the boundary can hold hull corners, so only they are used.
    """
    from scipy import ndimage as ndi

    inner = ndi.binary_erosion(mask, border_value=0)
    rows, cols = np.nonzero(mask & ~inner)
    offsets = np.array([[-0.5, -0.5], [-0.5, 0.5], [0.5, -0.5], [0.5, 0.5]])
    centres = np.stack([rows, cols], axis=1).astype(float)
    return (centres[:, None, :] + offsets[None]).reshape(-1, 2)


def max_feret_diameter_um(shape, *, pixel_size_um=None) -> float:
    """Longest caliper (maximum Feret) diameter of a mask, point set or outlines, in µm.

    The maximum Feret diameter is the largest distance between two parallel
    tangents of the object, i.e. the largest distance between two points of
    its convex hull. It is neither an ellipse axis nor a bounding-circle diameter.

    Parameters
    ----------
    shape : (M, N) bool ndarray, (K, 2) ndarray, or sequence of (K_i, 2) ndarrays
        Either a binary mask (pixels are unit squares; ``pixel_size_um`` is then
        required), or points / polygon outlines whose coordinates are (y, x) in µm.
    pixel_size_um : float, optional, keyword-only
        Pixel size in µm per pixel. Required for a mask; when given with points or
        outlines, their coordinates are taken as pixels and scaled by it.

    Returns
    -------
    float
        The diameter in µm (0.0 for an empty input or a single point).

    Raises
    ------
    ValueError
        If a mask comes without ``pixel_size_um`` or coordinates are not (K, 2).

    References
    ----------
    .. [1] AJCC Cancer Staging Manual, 8th ed. (2017): the largest dimension of a
           nodal deposit is its size.

    Examples
    --------
    >>> import numpy as np
    >>> square = np.ones((10, 10), dtype=bool)   # 10 x 10 pixels
    >>> round(max_feret_diameter_um(square, pixel_size_um=0.5), 3)   # its diagonal
    7.071
    >>> max_feret_diameter_um(np.array([[0.0, 0.0], [3.0, 4.0]]))
    5.0
    """
    if isinstance(shape, np.ndarray) and shape.ndim == 2 and shape.dtype == bool:
        if pixel_size_um is None:
            raise ValueError(
                "pixel_size_um is required when shape is a mask; pass pixel_size_um=<µm per pixel>"
            )
        px = check_pixel_size(pixel_size_um)
        if not shape.any():
            return 0.0
        return _max_pairwise_distance(_mask_boundary_points(shape)) * px

    scale = 1.0 if pixel_size_um is None else check_pixel_size(pixel_size_um)
    if isinstance(shape, np.ndarray) and shape.dtype != object:
        parts = [shape]
    else:
        parts = list(shape)
    arrays = []
    for i, part in enumerate(parts):
        arr = np.asarray(part, dtype=float)
        if arr.size == 0:
            continue
        if arr.ndim != 2 or arr.shape[1] != 2:
            raise ValueError(
                f"shape must be (K, 2) coordinates or a list of (K, 2) outlines; "
                f"item {i} has shape {arr.shape}"
            )
        if not np.isfinite(arr).all():
            raise ValueError(f"shape item {i} contains NaN or infinite coordinates")
        arrays.append(arr)
    if not arrays:
        return 0.0
    return _max_pairwise_distance(np.concatenate(arrays)) * scale


def assign_deposits(
    cells, *, rule="camelyon", link_um=CAMELYON_LINK_UM, contact_um=CONTACT_UM
) -> np.ndarray:
    """Deposit id of every tumour cell.

    Each cell is a disc of its equivalent nuclear radius. Two cells are linked
    when the gap between their outlines (centre distance minus both radii) is
    at most the linking distance; deposits are the connected groups.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per tumour cell with ``y_um``, ``x_um`` (centre, µm) and
        ``radius_um`` (equivalent nuclear radius, µm).
    rule : {"camelyon", "contiguous"}, keyword-only
        ``"camelyon"`` links outlines within ``link_um`` (CAMELYON16: 75 µm, about
        five tumour cells). ``"contiguous"`` links only touching cells (the strict
        AJCC/CAP reading, where a gap or an intervening benign cell splits a
        cluster): nuclear outlines no more than ``contact_um`` apart, the width of
        the cytoplasm two neighbouring cells share.
    link_um : float, keyword-only
        Linking distance for ``rule="camelyon"``, in µm (default 75 µm).
    contact_um : float, keyword-only
        Largest nuclear-outline gap that counts as contact for ``"contiguous"``, µm
        (default 3 µm). A lymphocyte (6-7 µm) lying between two tumour cells breaks
        contact.

    Returns
    -------
    (N,) int ndarray
        Deposit ids 1..K, numbered by decreasing cell count (ties by position);
        empty when there are no cells.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0, 0, 0], "x_um": [0, 20, 500], "radius_um": [5, 5, 5]})
    >>> assign_deposits(cells).tolist()
    [1, 1, 2]
    """
    centres, radii = cell_arrays(cells)
    gap = _link_gap(rule, link_um, contact_um)
    return _link_deposits(centres, radii, gap)


def _link_gap(rule, link_um, contact_um) -> float:
    """The checked outline gap, µm, that links two cells under ``rule``."""
    check_choice(rule, RULES, name="rule")
    link = check_positive(link_um, name="link_um", allow_zero=True)
    contact = check_positive(contact_um, name="contact_um", allow_zero=True)
    return link if rule == "camelyon" else contact


def _link_deposits(centres: np.ndarray, radii: np.ndarray, gap: float) -> np.ndarray:
    """Deposit ids 1..K (largest first) of discs linked when their outlines are <= gap apart.

    Cells are taken ``_LINK_BLOCK`` at a time in order of their y, each block with the
    cells within reach above it, so every linked pair is found in some block; of a
    block's links only a spanning forest is kept. The groups are those of all pairs at
    once, but a dense macrometastasis (hundreds of neighbours within 75 µm per cell)
    never holds all its pairs together.
    """
    n = len(centres)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    reach = gap + 2 * float(radii.max())
    order = np.argsort(centres[:, 0], kind="stable")
    ys = centres[order, 0]
    firsts, seconds = [], []
    for start in range(0, n, _LINK_BLOCK):
        stop = min(n, start + _LINK_BLOCK)
        idx = order[int(np.searchsorted(ys, ys[start] - reach, side="left")):stop]
        pairs = cKDTree(centres[idx]).query_pairs(reach, output_type="ndarray")
        if not len(pairs):
            continue
        dist = np.linalg.norm(centres[idx[pairs[:, 0]]] - centres[idx[pairs[:, 1]]], axis=1)
        pairs = pairs[dist - radii[idx[pairs[:, 0]]] - radii[idx[pairs[:, 1]]] <= gap]
        if n > _LINK_BLOCK:  # a spanning forest: each cell linked to its group's first cell
            local, _ = link_groups(len(idx), pairs[:, 0], pairs[:, 1])
            first = np.full(int(local.max()) + 1, -1)
            first[local[::-1]] = np.arange(len(idx))[::-1]
            pairs = np.stack([np.arange(len(idx)), first[local]], axis=1)
            pairs = pairs[pairs[:, 0] != pairs[:, 1]]
        firsts.append(idx[pairs[:, 0]])
        seconds.append(idx[pairs[:, 1]])
    # largest deposit first, ties broken by the deposit's first cell (stable)
    labels, _ = link_groups(n, np.concatenate(firsts) if firsts else np.zeros(0, np.intp),
                            np.concatenate(seconds) if seconds else np.zeros(0, np.intp))
    return labels + 1


def _polygon_area(ring: np.ndarray) -> float:
    """Shoelace area of a simple polygon given as (K, 2) vertices (0 below 3 vertices)."""
    if len(ring) < 3:
        return 0.0
    y, x = ring[:, 0], ring[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))


def _disc_outline_points(centres: np.ndarray, radii: np.ndarray) -> np.ndarray:
    theta = np.linspace(0, 2 * np.pi, _DISC_VERTICES, endpoint=False)
    ring = np.stack([np.sin(theta), np.cos(theta)], axis=1) / np.cos(np.pi / _DISC_VERTICES)
    return (centres[:, None, :] + radii[:, None, None] * ring[None]).reshape(-1, 2)


def _disc_union_feret(centres: np.ndarray, radii: np.ndarray, pts: np.ndarray):
    """Exact maximum Feret diameter of a union of discs and its two end points.

    The diameter is max over pairs of |ci - cj| + ri + rj; only discs with a
    vertex on the hull of their circumscribed polygons can hold the extreme
    pair, so the formula is evaluated on those candidates. Returns the diameter
    and the end points (y0, x0, y1, x1) on the two discs' outlines.
    """
    cand = np.arange(len(centres))
    if len(centres) > 2:
        try:
            cand = np.unique(ConvexHull(pts).vertices // _DISC_VERTICES)
        except QhullError:
            pass
    c, r = centres[cand], radii[cand]
    d = np.sqrt(((c[:, None, :] - c[None, :, :]) ** 2).sum(-1))
    total = d + r[:, None] + r[None, :]
    i, j = np.unravel_index(int(np.argmax(total)), total.shape)
    if d[i, j] > 0:
        u = (c[j] - c[i]) / d[i, j]
    else:
        u = np.array([0.0, 1.0])
    p0, p1 = c[i] - r[i] * u, c[j] + r[j] * u
    return float(total[i, j]), (float(p0[0]), float(p0[1]), float(p1[0]), float(p1[1]))


def empty_deposits() -> pd.DataFrame:
    """An empty deposits table with typed columns."""
    return pd.DataFrame(
        {
            "deposit_id": pd.Series(dtype="int64"),
            "cell_count": pd.Series(dtype="int64"),
            "longest_diameter_um": pd.Series(dtype="float64"),
            "area_um2": pd.Series(dtype="float64"),
            "tumour_cell_area_um2": pd.Series(dtype="float64"),
            "centroid_y_um": pd.Series(dtype="float64"),
            "centroid_x_um": pd.Series(dtype="float64"),
            "outline": pd.Series(dtype="object"),
            **{c: pd.Series(dtype="float64") for c in DEPOSIT_COLUMNS[-4:]},
        }
    )


def summarize_deposits(cells, deposit_ids) -> pd.DataFrame:
    """Deposits table from cells and their deposit ids (see :func:`group_deposits`).

    Cells with a deposit id <= 0 belong to no deposit and are left out.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 0.0], "x_um": [0.0, 60.0], "radius_um": [5.0, 5.0]})
    >>> summarize_deposits(cells, [1, 0])["longest_diameter_um"].tolist()
    [10.0]
    """
    centres, radii = cell_arrays(cells)
    deposit_ids = np.asarray(deposit_ids)
    if deposit_ids.shape != (len(centres),):
        raise ValueError(
            f"deposit_ids must have one id per cell ({len(centres)}), got shape {deposit_ids.shape}"
        )
    return _deposit_table(centres, radii, deposit_ids)


def _deposit_table(centres: np.ndarray, radii: np.ndarray, deposit_ids: np.ndarray) -> pd.DataFrame:
    """The deposits table of checked centres, radii and one deposit id per cell."""
    keep = deposit_ids > 0
    if not keep.any():
        return empty_deposits()
    centres, radii, deposit_ids = centres[keep], radii[keep], deposit_ids[keep]
    order = np.argsort(deposit_ids, kind="stable")
    ids, starts = np.unique(deposit_ids[order], return_index=True)
    rows = []
    for dep, idx in zip(ids, np.split(order, starts[1:])):
        pts = _disc_outline_points(centres[idx], radii[idx])
        hull = _hull_points(pts)
        diameter, ends = _disc_union_feret(centres[idx], radii[idx], pts)
        if len(hull) >= 3:
            # order hull vertices counter-clockwise around their centroid for drawing
            c = hull.mean(0)
            hull = hull[np.argsort(np.arctan2(hull[:, 0] - c[0], hull[:, 1] - c[1]))]
        rows.append(
            {
                "deposit_id": int(dep),
                "cell_count": int(len(idx)),
                "longest_diameter_um": diameter,
                "area_um2": _polygon_area(hull),
                "tumour_cell_area_um2": float(np.pi * (radii[idx] ** 2).sum()),
                "centroid_y_um": float(centres[idx, 0].mean()),
                "centroid_x_um": float(centres[idx, 1].mean()),
                "outline": hull,
                "feret_y0_um": ends[0],
                "feret_x0_um": ends[1],
                "feret_y1_um": ends[2],
                "feret_x1_um": ends[3],
            }
        )
    table = pd.DataFrame(rows, columns=list(DEPOSIT_COLUMNS))
    return table.sort_values("deposit_id", kind="stable").reset_index(drop=True)


def group_deposits(
    cells, *, rule="camelyon", link_um=CAMELYON_LINK_UM, contact_um=CONTACT_UM
) -> pd.DataFrame:
    """Group tumour cells into deposits and measure each one.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per tumour cell with ``y_um``, ``x_um`` (centre, µm) and
        ``radius_um`` (equivalent nuclear radius, µm). Not modified.
    rule, link_um, contact_um
        See :func:`assign_deposits`.

    Returns
    -------
    pandas.DataFrame
        One row per deposit, largest first: ``deposit_id`` (1..K, matching
        :func:`assign_deposits`), ``cell_count``, ``longest_diameter_um`` (maximum
        Feret diameter over the cells' disc outlines), ``area_um2`` (area of
        ``outline``, µm²), ``tumour_cell_area_um2`` (summed nuclear area of its
        tumour cells, µm²), ``centroid_y_um``, ``centroid_x_um`` and ``outline`` (convex hull of
        the cell outlines, (K, 2) array of (y, x) in µm) and the end points of the
        longest diameter (``feret_y0_um``, ``feret_x0_um``, ``feret_y1_um``,
        ``feret_x1_um``). Typed and empty when there are no cells.

    References
    ----------
    .. [1] CAMELYON16 (Ehteshami Bejnordi et al., JAMA 2017): 75 µm linking.
    .. [2] AJCC Cancer Staging Manual, 8th ed. (2017).

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 0.0], "x_um": [0.0, 60.0], "radius_um": [5.0, 5.0]})
    >>> table = group_deposits(cells)
    >>> int(table.loc[0, "cell_count"]), round(float(table.loc[0, "longest_diameter_um"]), 1)
    (2, 70.0)
    >>> len(group_deposits(cells, rule="contiguous"))
    2
    """
    return measure_deposits(cells, rule=rule, link_um=link_um, contact_um=contact_um)[1]


def measure_deposits(
    cells, *, rule="camelyon", link_um=CAMELYON_LINK_UM, contact_um=CONTACT_UM
) -> tuple[np.ndarray, pd.DataFrame]:
    """Deposit of every tumour cell and the deposits table, from one check and one link graph.

    The same as :func:`assign_deposits` followed by :func:`summarize_deposits`, but the
    cells table is checked once and the cells are linked once.

    Parameters
    ----------
    cells : pandas.DataFrame
        One row per tumour cell with ``y_um``, ``x_um`` (centre, µm) and
        ``radius_um`` (equivalent nuclear radius, µm). Not modified.
    rule : {"camelyon", "contiguous"}, keyword-only
        Linking rule, see :func:`assign_deposits`.
    link_um : float, keyword-only
        Linking distance of ``"camelyon"``, µm (default 75 µm, CAMELYON16).
    contact_um : float, keyword-only
        Outline gap that is contact for ``"contiguous"``, µm (default 3 µm).

    Returns
    -------
    deposit_ids : (N,) int64 ndarray
        Deposit of every cell, 1..K, largest deposit first (as :func:`assign_deposits`).
    deposits : pandas.DataFrame
        One row per deposit, columns :data:`DEPOSIT_COLUMNS` (as :func:`group_deposits`);
        typed and empty when there are no cells.

    Raises
    ------
    TypeError, ValueError
        For a cells table that is not a DataFrame, lacks a column or has invalid
        values, an unknown ``rule`` or a negative distance.

    References
    ----------
    .. [1] CAMELYON16 (Ehteshami Bejnordi et al., JAMA 2017): 75 µm linking.
    .. [2] AJCC Cancer Staging Manual, 8th ed. (2017): size is the largest dimension.

    Examples
    --------
    >>> import pandas as pd
    >>> cells = pd.DataFrame({"y_um": [0.0, 0.0, 0.0], "x_um": [0.0, 60.0, 500.0],
    ...                       "radius_um": [5.0, 5.0, 5.0]})
    >>> ids, deposits = measure_deposits(cells)
    >>> ids.tolist()
    [1, 1, 2]
    >>> deposits[["deposit_id", "cell_count", "longest_diameter_um"]]
       deposit_id  cell_count  longest_diameter_um
    0           1           2                 70.0
    1           2           1                 10.0
    """
    centres, radii = cell_arrays(cells)
    ids = _link_deposits(centres, radii, _link_gap(rule, link_um, contact_um))
    return ids, _deposit_table(centres, radii, ids)
