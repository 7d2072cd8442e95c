"""Exclusion regions of a review: the polygon a drawn shape encloses, and the points inside.

A reviewer draws regions around benign inclusions (napari shapes: polygons,
rectangles, ellipses); :func:`shape_polygon` turns each into a polygon and
:func:`in_regions` says which points lie inside any of them. Coordinates are
(y, x), µm, as everywhere in :mod:`pipeline.review`.
"""

from __future__ import annotations

import numpy as np

from ._validate import check_choice

__all__ = ["SHAPE_TYPES", "points_array", "shape_polygon", "in_regions"]

#: Shape types a region may have (napari's); lines and paths enclose nothing and are ignored.
SHAPE_TYPES = ("polygon", "rectangle", "ellipse", "line", "path")


def points_array(points_yx, name: str) -> np.ndarray:
    """(N, 2) float copy of points (y, x), or a ValueError naming the argument ``name``.

    Examples
    --------
    >>> points_array([], "points_yx").shape
    (0, 2)
    """
    yx = np.array(points_yx, dtype=float, copy=True)
    if yx.size == 0:
        return yx.reshape(0, 2)
    if yx.ndim != 2 or yx.shape[1] != 2:
        raise ValueError(f"{name} must be an (N, 2) array of (y, x) in µm, got shape {yx.shape}")
    if not np.isfinite(yx).all():
        raise ValueError(f"{name} must be finite µm coordinates; found NaN or inf")
    return yx


def shape_polygon(vertices, shape_type: str = "polygon") -> np.ndarray | None:
    """The polygon (K, 2) a region encloses, in its own coordinates; None for lines and paths.

    Parameters
    ----------
    vertices : (V, D) array_like
        The shape's vertices; the last two columns are (y, x). An ellipse is
        given by the 4 corners of its bounding box (as napari stores it).
    shape_type : {"polygon", "rectangle", "ellipse", "line", "path"}

    Returns
    -------
    (K, 2) ndarray or None
        Ellipses are sampled at 64 points.

    Examples
    --------
    >>> shape_polygon([[0, 0], [0, 10], [10, 10], [10, 0]], "rectangle").shape
    (4, 2)
    >>> shape_polygon([[0, 0], [0, 10]], "line") is None
    True
    >>> shape_polygon([[0, 0], [0, 20], [10, 20], [10, 0]], "ellipse").shape
    (64, 2)
    """
    check_choice(shape_type, SHAPE_TYPES, name="shape_type")
    v = np.asarray(vertices, dtype=float)
    if v.ndim != 2 or v.shape[1] < 2:
        raise ValueError(f"vertices must be a (V, 2) array of (y, x), got shape {v.shape}")
    v = v[:, -2:]
    if shape_type in ("polygon", "rectangle"):
        return v.copy() if len(v) >= 3 else None
    if shape_type == "ellipse" and len(v) == 4:
        centre = v.mean(0)
        a = (v[1] + v[2]) / 2 - centre
        b = (v[0] + v[1]) / 2 - centre
        t = np.linspace(0, 2 * np.pi, 64, endpoint=False)[:, None]
        return centre + np.cos(t) * a + np.sin(t) * b
    return None


def in_regions(points_yx, shapes, shape_types=None) -> np.ndarray:
    """Boolean mask of the points inside any of the shapes (polygons, rectangles, ellipses).

    Parameters
    ----------
    points_yx : (N, 2) array_like
    shapes : sequence of (V, 2) array_like
        Vertices of each shape, in the points' coordinates.
    shape_types : sequence of str, optional
        One of :data:`SHAPE_TYPES` per shape (default: all ``"polygon"``).

    Returns
    -------
    (N,) bool ndarray

    Examples
    --------
    >>> import numpy as np
    >>> square = np.array([[0, 0], [0, 10], [10, 10], [10, 0]])
    >>> in_regions([[5, 5], [20, 5]], [square], ["polygon"]).tolist()
    [True, False]
    """
    from skimage.measure import points_in_poly

    shapes = list(shapes)
    kinds = ["polygon"] * len(shapes) if shape_types is None else list(shape_types)
    if len(kinds) != len(shapes):
        raise ValueError(f"shape_types has {len(kinds)} entries for {len(shapes)} shapes")
    yx = points_array(points_yx, "points_yx")
    inside = np.zeros(len(yx), bool)
    for vertices, kind in zip(shapes, kinds):
        poly = shape_polygon(vertices, kind)
        if poly is not None and len(yx):
            inside |= points_in_poly(yx, poly)
    return inside
