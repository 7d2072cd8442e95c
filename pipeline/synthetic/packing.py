"""Vectorised packing helpers: jittered hexagonal grids, relaxation and overlap removal."""

from __future__ import annotations

import numpy as np
from scipy.spatial import cKDTree

from .cells import PRIORITY, CellSet

__all__ = ["hex_grid", "relax", "resolve_overlaps"]


def hex_grid(rng: np.random.Generator, bounds, *, spacing: float, jitter: float = 0.15):
    """Points of a randomly shifted, rotated and jittered hexagonal grid.

    Parameters
    ----------
    rng : numpy.random.Generator
    bounds : (y0, x0, y1, x1) float
        Rectangle to cover, in µm.
    spacing : float, keyword-only
        Distance between grid neighbours, µm.
    jitter : float, keyword-only
        Standard deviation of the jitter, as a fraction of ``spacing``.

    Returns
    -------
    y, x : (N,) float ndarrays
        Points inside ``bounds``.

    Examples
    --------
    >>> y, x = hex_grid(np.random.default_rng(0), (0, 0, 100, 100), spacing=10.0)
    >>> 100 < len(y) < 130
    True
    """
    y0, x0, y1, x1 = (float(v) for v in bounds)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    half = np.hypot(y1 - y0, x1 - x0) / 2 + spacing
    row = spacing * np.sqrt(3.0) / 2
    rows = np.arange(-half, half + row, row)
    cols = np.arange(-half, half + spacing, spacing)
    gy, gx = np.meshgrid(rows, cols, indexing="ij")
    gx = gx + (np.arange(len(rows))[:, None] % 2) * spacing / 2
    gy, gx = gy.ravel(), gx.ravel()
    gy += rng.uniform(0, row)
    gx += rng.uniform(0, spacing)
    rot = rng.uniform(0, np.pi / 3)
    y = cy + gy * np.cos(rot) + gx * np.sin(rot)
    x = cx - gy * np.sin(rot) + gx * np.cos(rot)
    keep = (y >= y0) & (y < y1) & (x >= x0) & (x < x1)
    y, x = y[keep], x[keep]
    y = y + rng.normal(0.0, jitter * spacing, len(y))
    x = x + rng.normal(0.0, jitter * spacing, len(x))
    return y, x


def relax(y, x, reach, *, gap: float = 1.0, iterations: int = 8):
    """Push apart points closer than ``reach_i + reach_j + gap`` (a few Jacobi sweeps).

    Returns new (y, x) arrays; points move by at most what their overlaps need.

    Examples
    --------
    >>> y, x = relax(np.array([0.0, 0.0]), np.array([0.0, 4.0]), np.array([3.0, 3.0]))
    >>> round(float(x[1] - x[0]), 3)
    7.0
    """
    y = np.array(y, dtype=float)
    x = np.array(x, dtype=float)
    reach = np.asarray(reach, dtype=float)
    if len(y) < 2:
        return y, x
    for _ in range(iterations):
        tree = cKDTree(np.stack([y, x], axis=1))
        pairs = tree.query_pairs(2 * reach.max() + gap, output_type="ndarray")
        if len(pairs) == 0:
            break
        i, j = pairs[:, 0], pairs[:, 1]
        dy, dx = y[j] - y[i], x[j] - x[i]
        dist = np.hypot(dy, dx)
        need = reach[i] + reach[j] + gap
        over = need - dist
        hit = over > 1e-6
        if not hit.any():
            break
        i, j, dy, dx, dist, over = i[hit], j[hit], dy[hit], dx[hit], dist[hit], over[hit]
        dist = np.maximum(dist, 1e-6)
        push = 0.5 * over / dist
        my = np.zeros_like(y)
        mx = np.zeros_like(x)
        np.add.at(my, i, -dy * push)
        np.add.at(mx, i, -dx * push)
        np.add.at(my, j, dy * push)
        np.add.at(mx, j, dx * push)
        y += my
        x += mx
    return y, x


def resolve_overlaps(cells: CellSet, *, gap: float = 0.3) -> np.ndarray:
    """Boolean mask of cells to keep so that no two nuclei overlap.

    Nuclei are taken as discs of their semi-major axis. Between kinds of different
    priority (:data:`~pipeline.synthetic.cells.PRIORITY`) the winner's whole cell
    body (nucleus plus ``cyto_um``) is kept clear of the loser's nucleus; between
    cells of the same priority only the nuclei must not touch, and the later cell
    gives way.

    Examples
    --------
    >>> c = CellSet.new([0.0, 0.0, 0.0], [0.0, 5.0, 30.0], [3.0] * 3, [3.0] * 3, 0.0, kind=[0, 4, 0],
    ...                 cyto_um=[0.0, 4.0, 0.0])
    >>> resolve_overlaps(c).tolist()
    [False, True, True]
    """
    n = len(cells)
    keep = np.ones(n, dtype=bool)
    if n < 2:
        return keep
    prio = PRIORITY[cells.kind]
    body = cells.a + cells.cyto_um
    tree = cKDTree(cells.yx)
    pairs = tree.query_pairs(body.max() + cells.a.max() + gap, output_type="ndarray")
    if len(pairs) == 0:
        return keep
    i, j = pairs[:, 0], pairs[:, 1]
    dist = np.hypot(cells.y[i] - cells.y[j], cells.x[i] - cells.x[j])
    i_wins = (prio[i] > prio[j]) | ((prio[i] == prio[j]) & (i < j))
    win = np.where(i_wins, i, j)
    lose = np.where(i_wins, j, i)
    same = prio[i] == prio[j]
    reach = np.where(same, cells.a[win], body[win])
    clash = dist < reach + cells.a[lose] + gap
    win, lose = win[clash], lose[clash]
    # Greedy in rounds: a loser is removed only when its winner is not itself
    # going to lose, so chains of overlaps do not remove more cells than needed.
    while len(win):
        losing = np.zeros(n, dtype=bool)
        losing[lose] = True
        sure = ~losing[win]
        keep[lose[sure]] = False
        alive = keep[win] & keep[lose]
        win, lose = win[alive], lose[alive]
    return keep
