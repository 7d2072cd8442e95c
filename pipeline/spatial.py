"""Point patterns: Ripley's L function with the translation edge correction, and neighbour counts.

Ripley's L is used by :func:`pipeline.pattern.pattern_summary` on tumour-cell
centres (and re-exported from :mod:`pipeline.pattern`); :func:`count_within` by
the cytokeratin rules of :mod:`pipeline.tumor` and :mod:`pipeline.stages`. Every
length is in µm.

References
----------
.. [1] Ripley BD. Modelling spatial patterns. J R Stat Soc B 39(2):172-212, 1977.
.. [2] Ohser J. On estimators for the reduced second moment measure of point
       processes. Math Operationsforsch Statist Ser Stat 14(1):63-71, 1983
       (translation edge correction).
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial import cKDTree

from ._validate import check_positive
from .parallel import default_threads

#: Fewest query points for which the k-d tree queries run on several threads (SciPy's
#: ``workers``: the same results, computed side by side).
_PARALLEL_QUERY_MIN = 20_000


def query_workers(n: int) -> int:
    """Threads for ``n`` k-d tree queries: the cores available (at most 4) for a large
    table, else 1 (threads only add overhead to a small one).

    Examples
    --------
    >>> query_workers(10)
    1
    """
    return default_threads() if n >= _PARALLEL_QUERY_MIN else 1

__all__ = ["ripley_l", "ripley_l_minus_r", "count_within"]


def count_within(points_yx, anchors_yx, *, radius_um) -> np.ndarray:
    """How many anchors lie within ``radius_um`` of each point.

    Parameters
    ----------
    points_yx : (N, 2) array_like
        Points (y, x), µm.
    anchors_yx : (K, 2) array_like
        The points counted (y, x), µm; a point counts itself if it is also an anchor.
    radius_um : float, keyword-only
        Distance, µm (inclusive).

    Returns
    -------
    (N,) int64 ndarray

    Examples
    --------
    >>> count_within([[0, 0], [0, 50]], [[0, 5], [3, 0], [0, 100]], radius_um=10).tolist()
    [2, 0]
    """
    pts = np.asarray(points_yx, float).reshape(-1, 2)
    anchors = np.asarray(anchors_yx, float).reshape(-1, 2)
    r = check_positive(radius_um, name="radius_um", allow_zero=True)
    if len(pts) == 0 or len(anchors) == 0:
        return np.zeros(len(pts), np.int64)
    return np.asarray(cKDTree(anchors).query_ball_point(pts, r=r, return_length=True,
                                                        workers=query_workers(len(pts))), np.int64)


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
        L(r) in µm; NaN when there are fewer than 2 points, when the window has
        zero area (collinear points and no ``bbox``), and at every r at least as
        long as the window's shorter side (where the translation correction is
        undefined: e.g. a few cells in their own bounding box).

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
    # no area: collinear points, or sides so small that their product underflows to 0
    if n < 2 or height <= 0 or width <= 0 or height * width <= 0:
        return out
    area = area_um2 if area_um2 is not None else height * width
    pairs = cKDTree(pts).query_pairs(float(radii.max()), output_type="ndarray")
    defined = radii < min(height, width)
    if pairs.size == 0:
        return np.where(defined, 0.0, np.nan)
    d = pts[pairs[:, 0]] - pts[pairs[:, 1]]
    dist = np.hypot(d[:, 0], d[:, 1])
    overlap = (height - np.abs(d[:, 0])) * (width - np.abs(d[:, 1]))
    # a pair as far apart as the window is wide or high has no translate in the window (weight
    # unbounded); it is counted only at r >= the shorter side, and L there is set to NaN below
    weight = np.divide(height * width, overlap, out=np.full_like(overlap, np.inf), where=overlap > 0)
    order = np.argsort(dist)
    cum = np.concatenate([[0.0], np.cumsum(weight[order])])
    k_sum = 2.0 * cum[np.searchsorted(dist[order], radii.ravel(), side="right")]
    k = area * k_sum / (n * (n - 1))
    L = np.sqrt(k / np.pi).reshape(radii.shape)
    return np.where(defined, L, np.nan)


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
