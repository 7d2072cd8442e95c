"""Planar shapes in micrometres: irregular blobs, ellipse outlines and depth fields.

Coordinates are (y, x) in µm throughout, with y pointing down the image rows.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage as ndi

__all__ = ["DepthField", "blob_polygon", "ellipse_outlines", "polygon_diameter"]


def polygon_diameter(polygon: np.ndarray) -> float:
    """Largest distance between two vertices of ``polygon`` ((K, 2) µm), in µm.

    Examples
    --------
    >>> polygon_diameter(np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 4.0]]))
    5.0
    """
    diff = polygon[:, None, :] - polygon[None, :, :]
    return float(np.sqrt((diff**2).sum(-1)).max())


def blob_polygon(
    rng: np.random.Generator,
    *,
    diameter_um: float,
    center: tuple[float, float],
    aspect: tuple[float, float] = (1.0, 1.5),
    roughness: float = 0.08,
    n_vertices: int = 128,
) -> np.ndarray:
    """An irregular, star-shaped blob whose longest vertex distance is ``diameter_um``.

    The outline is an ellipse of random aspect ratio and orientation whose radius
    is modulated by a few low-order Fourier terms (smooth lobes, no spikes).

    Parameters
    ----------
    rng : numpy.random.Generator
    diameter_um : float
        Longest diameter of the result, in µm.
    center : (2,) float
        Centre (y, x) in µm.
    aspect : (2,) float, keyword-only
        Range of the major/minor axis ratio.
    roughness : float, keyword-only
        Relative amplitude of the lobes (0 gives a smooth ellipse).
    n_vertices : int, keyword-only

    Returns
    -------
    (n_vertices, 2) float ndarray
        Vertices (y, x) in µm, counter-clockwise on screen.

    Examples
    --------
    >>> poly = blob_polygon(np.random.default_rng(0), diameter_um=300.0, center=(500.0, 500.0))
    >>> poly.shape, round(polygon_diameter(poly), 6)
    ((128, 2), 300.0)
    """
    theta = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, 7):
        amp = roughness * rng.uniform(0.3, 1.0) / (k - 1) ** 0.8
        radius += amp * np.cos(k * theta + rng.uniform(0.0, 2.0 * np.pi))
    ratio = rng.uniform(*aspect)
    u = radius * np.cos(theta) * ratio
    v = radius * np.sin(theta)
    rot = rng.uniform(0.0, np.pi)
    x = u * np.cos(rot) - v * np.sin(rot)
    y = u * np.sin(rot) + v * np.cos(rot)
    poly = np.stack([y, x], axis=1)
    poly *= diameter_um / polygon_diameter(poly)
    return poly + np.asarray(center, dtype=float)


def ellipse_outlines(y, x, a, b, angle, *, n_vertices: int = 16) -> np.ndarray:
    """Polygons sampling ellipses, (N, n_vertices, 2) as (y, x) in µm.

    ``a`` lies along the direction ``angle`` (radians, from the +x axis towards +y).

    Examples
    --------
    >>> ellipse_outlines([0.0], [0.0], [2.0], [1.0], [0.0], n_vertices=4).round(6).tolist()
    [[[0.0, 2.0], [1.0, 0.0], [0.0, -2.0], [-1.0, -0.0]]]
    """
    y, x, a, b, angle = (np.asarray(v, dtype=float)[:, None] for v in (y, x, a, b, angle))
    t = np.linspace(0.0, 2.0 * np.pi, n_vertices, endpoint=False)[None, :]
    cu, su = a * np.cos(t), b * np.sin(t)
    px = x + cu * np.cos(angle) - su * np.sin(angle)
    py = y + cu * np.sin(angle) + su * np.cos(angle)
    return np.stack([py, px], axis=-1)


class DepthField:
    """Signed distance to a polygon's outline, sampled on a grid in µm.

    Positive inside, negative outside. Lookups are bilinear, so values are
    accurate to about the grid step.

    Parameters
    ----------
    polygon : (K, 2) float ndarray
        Vertices (y, x) in µm.
    step_um : float
        Grid step in µm.
    margin_um : float
        Extra room around the polygon's bounding box (outside depths beyond it
        are clamped).

    Examples
    --------
    >>> square = np.array([[0.0, 0.0], [0.0, 100.0], [100.0, 100.0], [100.0, 0.0]])
    >>> field = DepthField(square, step_um=1.0, margin_um=20.0)
    >>> np.round(field([50.0, 50.0, 50.0], [50.0, 10.0, -10.0]))
    array([ 50.,  10., -10.])
    """

    def __init__(self, polygon: np.ndarray, *, step_um: float = 2.0, margin_um: float = 50.0):
        polygon = np.asarray(polygon, dtype=float)
        self.step = float(step_um)
        self.origin = polygon.min(axis=0) - margin_um
        extent = polygon.max(axis=0) + margin_um - self.origin
        shape = tuple(int(np.ceil(e / self.step)) + 1 for e in extent)
        # Grid node (i, j) sits at origin + (i, j) * step; cv2 wants (x, y) pixel units.
        pts = (polygon - self.origin) / self.step
        pts_cv = np.round(pts[:, ::-1] * 16).astype(np.int32)
        inside = np.zeros(shape, dtype=np.uint8)
        cv2.fillPoly(inside, [pts_cv], 1, lineType=cv2.LINE_8, shift=4)
        d_in = cv2.distanceTransform(inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        d_out = cv2.distanceTransform(1 - inside, cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
        # Half a step moves the zero level onto the pixel boundary.
        self.grid = np.where(inside > 0, d_in - 0.5, 0.5 - d_out).astype(np.float32) * self.step

    def __call__(self, y, x) -> np.ndarray:
        """Depth (µm) at points (y, x) in µm; positive inside."""
        y = np.asarray(y, dtype=float)
        x = np.asarray(x, dtype=float)
        coords = np.stack([(y - self.origin[0]) / self.step, (x - self.origin[1]) / self.step])
        depth = ndi.map_coordinates(self.grid, coords.reshape(2, -1), order=1, mode="nearest")
        return depth.astype(float).reshape(y.shape)
