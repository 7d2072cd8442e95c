"""Benign anatomy of a synthetic node: presets and the cell populations they add.

A tumour detector has to leave the benign look-alikes of a lymph node
negative. Three presets of :class:`BenignAnatomy` set how many there are:

- ``"simple"`` (the default of :func:`~pipeline.synthetic.make_node`): capsule,
  subcapsular sinus with scattered histiocytes, a cortex of lymphocytes with
  1-4 follicles, vessels and fat, exactly as in earlier versions, so every
  existing seed gives the same node;
- ``"typical"``: adds a medulla at the hilum (medullary cords rich in plasma
  cells, anastomosing medullary sinuses with histiocytes), fibrous trabeculae
  with spindle fibroblasts, plump high endothelial venules, scattered
  cortical plasma cells and germinal-centre mitoses;
- ``"reactive"``: a reactive node on top of that: follicular hyperplasia (about
  3.5 times the follicle density, throughout the cortex, each with a large
  germinal centre full of centroblasts, tingible-body macrophages and mitoses),
  sinus histiocytosis (subcapsular sinus 1.6 x wider and medullary sinuses
  wider, both packed with histiocytes) and plasmacytosis (cords and cortex).

Everything is laid out in µm from the layout's random generator, so the same
seed gives the same cells at every pixel size.

References
----------
.. [1] Willard-Mack CL. Normal structure, function, and histology of lymph nodes.
       Toxicol Pathol 34(5):409-424, 2006.
.. [2] Elmore SA. Histopathology of the lymph nodes. Toxicol Pathol
       34(5):425-454, 2006 (follicular hyperplasia, sinus histiocytosis,
       plasmacytosis).

Examples
--------
>>> BENIGN_ANATOMIES["reactive"].follicle_density > BENIGN_ANATOMIES["typical"].follicle_density
True
>>> BENIGN_ANATOMIES["simple"].medulla, BENIGN_ANATOMIES["typical"].medulla
(False, True)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from itertools import pairwise

import cv2
import numpy as np
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from .cells import KINDS, CellSet
from .packing import hex_grid

__all__ = [
    "BENIGN_ANATOMIES",
    "BENIGN_MODELS",
    "BenignAnatomy",
    "Medulla",
    "RegionGrid",
    "add_mitoses",
    "clear_around_plasma",
    "layout_medulla",
    "layout_trabeculae",
    "medullary_cells",
    "plasma_cells",
    "trabecula_clearance",
    "trabecular_fibroblasts",
]

_HISTIO = KINDS.index("histiocyte")
_GC = KINDS.index("germinal_centre")
_STROMA = KINDS.index("stromal")
_PLASMA = KINDS.index("plasma_cell")
_MITOSIS = KINDS.index("mitotic_figure")

#: Names of the benign anatomies, default first.
BENIGN_MODELS = ("simple", "typical", "reactive")


@dataclass(frozen=True)
class BenignAnatomy:
    """Parameters of a node's benign anatomy. Pairs are (low, high) of a uniform draw.

    The defaults reproduce the ``"simple"`` anatomy of earlier versions.

    Attributes
    ----------
    name : str
    follicle_density : float
        Multiplier on the follicles per mm² of node (0.8-2.0 at 1).
    min_follicles, max_follicles : int
        Bounds on the number of follicles tried (some may not fit).
    follicle_depth : (2,) float
        Depth of follicle centres below the sinus, in follicle radii.
    follicle_scale : float
        Multiplier on follicle radii (100-250 µm in a node of 1.2 mm or more).
    germinal_centre_fraction : (2,) float
        Germinal-centre radius as a fraction of its follicle's radius.
    p_secondary : float
        Probability that a follicle has a germinal centre.
    tbm_area_um2 : (2,) float
        Germinal-centre area per tingible-body macrophage, µm².
    sinus_scale : float
        Multiplier on the subcapsular sinus width (30-80 µm at 1).
    sinus_max_fraction : float
        Largest subcapsular sinus width as a fraction of the node's smaller
        diameter (keeps a cortex in small nodes).
    sinus_lymphocyte_scale : float
        Multiplier on the fraction of lymphocytes left in sinuses (0.1-0.3 at 1).
    sinus_histiocyte_spacing_um, sinus_histiocyte_keep : (2,) float
        Histiocytes in the sinuses: grid spacing (µm) and fraction of grid points
        used (subcapsular and medullary sinuses alike).
    hev_scale : (2,) float
        Multipliers on the long and short semi-axes of plump endothelial nuclei
        (4.0-5.5 and 2.2-3.0 µm at 1).
    hev_cyto_um : float
        Cytoplasm width of plump endothelial cells, µm.
    medulla : bool
        Draw a medulla at the hilum: cords with plasma cells between sinuses.
    medulla_radius : (2,) float
        Reach of the medulla from the hilum, as a fraction of the node's smaller
        diameter.
    medullary_sinus_half_width_um : (2,) float
    cord_plasma_keep : (2,) float
        Fraction of a 12.5-14.5 µm grid over the medullary cords that holds a
        plasma cell (the rest of the cord stays lymphocytes).
    cortical_plasma_fraction : (2,) float
        Fraction of cortical lymphocytes replaced by scattered plasma cells.
    trabeculae_per_mm : (2,) float
        Fibrous trabeculae per mm of node perimeter.
    mitosis_fraction : (2,) float
        Fraction of centroblasts drawn in mitosis.
    """

    name: str = "simple"
    follicle_density: float = 1.0
    min_follicles: int = 1
    max_follicles: int = 4
    follicle_depth: tuple = (0.6, 0.9)
    follicle_scale: float = 1.0
    germinal_centre_fraction: tuple = (0.55, 0.75)
    p_secondary: float = 0.9
    tbm_area_um2: tuple = (2500.0, 6000.0)
    sinus_scale: float = 1.0
    sinus_max_fraction: float = float("inf")
    sinus_lymphocyte_scale: float = 1.0
    sinus_histiocyte_spacing_um: tuple = (18.0, 28.0)
    sinus_histiocyte_keep: tuple = (0.5, 0.8)
    hev_scale: tuple = (1.0, 1.0)
    hev_cyto_um: float = 0.8
    medulla: bool = False
    medulla_radius: tuple = (0.30, 0.45)
    medullary_sinus_half_width_um: tuple = (8.0, 13.0)
    cord_plasma_keep: tuple = (0.0, 0.0)
    cortical_plasma_fraction: tuple = (0.0, 0.0)
    trabeculae_per_mm: tuple = (0.0, 0.0)
    mitosis_fraction: tuple = (0.0, 0.0)


_SIMPLE = BenignAnatomy()
_TYPICAL = replace(
    _SIMPLE, name="typical", hev_scale=(1.0, 1.35), hev_cyto_um=2.0, medulla=True,
    cord_plasma_keep=(0.30, 0.50), cortical_plasma_fraction=(0.002, 0.006),
    trabeculae_per_mm=(0.8, 1.6), mitosis_fraction=(0.01, 0.02),
)
_REACTIVE = replace(
    _TYPICAL, name="reactive", follicle_density=3.5, min_follicles=3, max_follicles=12,
    follicle_depth=(0.6, 1.6), germinal_centre_fraction=(0.70, 0.85), p_secondary=1.0,
    tbm_area_um2=(1800.0, 3500.0), sinus_scale=1.6, sinus_max_fraction=0.1, sinus_lymphocyte_scale=0.4,
    sinus_histiocyte_spacing_um=(15.0, 19.0), sinus_histiocyte_keep=(0.85, 0.95), medulla_radius=(0.35, 0.50),
    medullary_sinus_half_width_um=(14.0, 22.0), cord_plasma_keep=(0.75, 0.95),
    cortical_plasma_fraction=(0.03, 0.06), mitosis_fraction=(0.02, 0.04),
)

#: The presets by name (see the module docstring).
BENIGN_ANATOMIES = {a.name: a for a in (_SIMPLE, _TYPICAL, _REACTIVE)}


class RegionGrid:
    """A scalar field sampled on a grid in µm: bilinear lookups and rasters at a pixel size.

    Parameters
    ----------
    grid : (P, Q) float ndarray
        Values at grid nodes; node (i, j) sits at ``origin + (i, j) * step_um``.
    origin : (2,) float
        (y, x) of node (0, 0) in µm.
    step_um : float

    Examples
    --------
    >>> g = RegionGrid(np.array([[0.0, 1.0], [0.0, 1.0]]), origin=(0.0, 0.0), step_um=10.0)
    >>> g([5.0], [5.0]).round(3).tolist(), g.raster((2, 4), 2.5)[0].round(3).tolist()
    ([0.5], [0.125, 0.375, 0.625, 0.875])
    """

    def __init__(self, grid, *, origin, step_um: float):
        self.grid = np.ascontiguousarray(grid, dtype=np.float32)
        self.origin = np.asarray(origin, dtype=float)
        self.step = float(step_um)

    def __call__(self, y, x) -> np.ndarray:
        """Values at points (y, x) in µm (nearest edge value outside the grid)."""
        y = np.asarray(y, dtype=float)
        x = np.asarray(x, dtype=float)
        coords = np.stack([(y - self.origin[0]) / self.step, (x - self.origin[1]) / self.step])
        out = ndi.map_coordinates(self.grid, coords.reshape(2, -1), order=1, mode="nearest")
        return out.astype(float).reshape(y.shape)

    def raster(self, shape, pixel_size_um: float) -> np.ndarray:
        """The field at the centres of a ``shape`` pixel grid of ``pixel_size_um`` µm/px (0 outside)."""
        px = float(pixel_size_um)
        k = px / self.step
        matrix = np.array([[k, 0.0, (0.5 * px - self.origin[1]) / self.step],
                           [0.0, k, (0.5 * px - self.origin[0]) / self.step]], dtype=np.float64)
        return cv2.warpAffine(self.grid, matrix, (int(shape[1]), int(shape[0])),
                              flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)


@dataclass
class Medulla:
    """The medulla at the hilum: cords between anastomosing sinuses, all in µm.

    Attributes
    ----------
    hilum : (2,) float
        (y, x) of the hilum on the node's outline.
    radius_um : float
        Reach of the medulla from the hilum.
    region : RegionGrid
        1 inside the medulla (below the subcapsular sinus, within ``radius_um``).
    sinus : RegionGrid
        1 in medullary sinuses, 0 elsewhere (soft 3 µm edge).
    sinus_half_width_um : float
    """

    hilum: np.ndarray
    radius_um: float
    region: RegionGrid
    sinus: RegionGrid
    sinus_half_width_um: float

    def in_medulla(self, y, x) -> np.ndarray:
        return self.region(y, x) > 0.5

    def in_sinus(self, y, x) -> np.ndarray:
        return self.sinus(y, x) > 0.5

    def in_cord(self, y, x) -> np.ndarray:
        return self.in_medulla(y, x) & ~self.in_sinus(y, x)

    def bounds(self):
        """(y0, x0, y1, x1) box around the medulla, µm."""
        (y, x), r = self.hilum, self.radius_um
        return (y - r, x - r, y + r, x + r)


def layout_medulla(rng, outline, depth, *, cortex_top_um: float, anatomy: BenignAnatomy) -> Medulla:
    """Place the hilum on ``outline`` and draw the medulla's sinus network.

    Medullary sinuses are the thickened zero set of a Gaussian random field with
    45-65 µm features (|f| / |grad f| below the half-width), which gives the
    anastomosing channels between cords seen in sections.

    Examples
    --------
    >>> from pipeline.synthetic.shapes import DepthField
    >>> t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> outline = np.stack([500 + 400 * np.sin(t), 500 + 400 * np.cos(t)], axis=1)
    >>> med = layout_medulla(np.random.default_rng(0), outline, DepthField(outline, margin_um=20),
    ...                      cortex_top_um=80.0, anatomy=BENIGN_ANATOMIES["typical"])
    >>> 0.1 < float(med.sinus.grid.sum() / med.region.grid.sum()) < 0.7
    True
    """
    outline = np.asarray(outline, dtype=float)
    node_d = float(min(outline.max(0) - outline.min(0)))
    hilum = outline[int(rng.integers(len(outline)))].copy()
    radius = float(rng.uniform(*anatomy.medulla_radius) * node_d)
    half_width = float(rng.uniform(*anatomy.medullary_sinus_half_width_um))
    scale = float(rng.uniform(45.0, 65.0))
    step = 4.0
    origin = outline.min(0) - 2 * step
    extent = outline.max(0) + 2 * step - origin
    shape = tuple(int(np.ceil(e / step)) + 1 for e in extent)
    gh, gw = (int(np.ceil(e / scale)) + 4 for e in extent)
    coarse = rng.standard_normal((gh, gw)).astype(np.float32)
    field = cv2.resize(coarse, (round(gw * scale / step), round(gh * scale / step)),
                       interpolation=cv2.INTER_CUBIC)[: shape[0], : shape[1]]
    gy, gx = np.gradient(field.astype(float), step)
    dist = np.abs(field) / (np.hypot(gy, gx) + 1e-6)
    yy, xx = np.meshgrid(origin[0] + step * np.arange(shape[0]), origin[1] + step * np.arange(shape[1]),
                         indexing="ij")
    region = (np.hypot(yy - hilum[0], xx - hilum[1]) < radius) & (depth(yy, xx) > cortex_top_um + 10.0)
    sinus = np.clip((half_width - dist) / 3.0 + 0.5, 0.0, 1.0) * region
    return Medulla(hilum=hilum, radius_um=radius, region=RegionGrid(region, origin=origin, step_um=step),
                   sinus=RegionGrid(sinus, origin=origin, step_um=step), sinus_half_width_um=half_width)


def layout_trabeculae(rng, outline, depth, *, capsule_um: float, anatomy: BenignAnatomy,
                      avoid=None) -> np.ndarray:
    """Fibrous trabeculae running in from the capsule, as segments ``(y0, x0, y1, x1, half_width)``.

    Each trabecula starts inside the capsule and runs inwards (following the
    depth gradient, gently curving) for 12-30 % of the node's diameter, 10-22 µm
    wide and tapering to half that. ``avoid(y, x) -> bool array`` rejects paths
    that would cross, e.g., follicles.

    Examples
    --------
    >>> from pipeline.synthetic.shapes import DepthField
    >>> t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> outline = np.stack([500 + 400 * np.sin(t), 500 + 400 * np.cos(t)], axis=1)
    >>> segs = layout_trabeculae(np.random.default_rng(1), outline, DepthField(outline, margin_um=20),
    ...                          capsule_um=20.0, anatomy=BENIGN_ANATOMIES["typical"])
    >>> segs.shape[1], bool((segs[:, 4] > 2.0).all())
    (5, True)
    """
    outline = np.asarray(outline, dtype=float)
    node_d = float(min(outline.max(0) - outline.min(0)))
    perimeter = float(np.hypot(*np.diff(np.vstack([outline, outline[:1]]), axis=0).T).sum())
    n = round(perimeter / 1000.0 * rng.uniform(*anatomy.trabeculae_per_mm))
    bounds = (*outline.min(0), *outline.max(0))
    segs = []
    for _ in range(n):
        for _attempt in range(10):
            y0, x0, y1, x1 = bounds
            ys = rng.uniform(y0, y1, 400)
            xs = rng.uniform(x0, x1, 400)
            d = depth(ys, xs)
            ok = np.flatnonzero((d > 0.4 * capsule_um) & (d < 0.7 * capsule_um))
            if not len(ok):
                continue
            pts = [np.array([ys[ok[0]], xs[ok[0]]])]
            length = rng.uniform(0.12, 0.30) * node_d
            n_steps = max(2, int(np.ceil(length / 30.0)))
            heading = None
            for _k in range(n_steps):
                y, x = pts[-1]
                inward = np.arctan2(depth(y + 1.0, x) - depth(y - 1.0, x),
                                    depth(y, x + 1.0) - depth(y, x - 1.0))
                # turn towards the inward normal by 30 % of the (wrapped) angle between them
                heading = inward if heading is None else (
                    heading + 0.3 * np.angle(np.exp(1j * (inward - heading))))
                heading += rng.normal(0.0, 0.15)
                pts.append(pts[-1] + (length / n_steps) * np.array([np.sin(heading), np.cos(heading)]))
            pts = np.array(pts)
            hw = rng.uniform(5.0, 11.0) * np.linspace(1.0, 0.5, len(pts) - 1)
            dense = np.concatenate([np.linspace(p, q, 6) for p, q in pairwise(pts)])
            if (depth(dense[:, 0], dense[:, 1]) <= 0).any():
                continue
            if avoid is not None and np.asarray(avoid(dense[:, 0], dense[:, 1])).any():
                continue
            segs.extend((*p, *q, w) for p, q, w in zip(pts[:-1], pts[1:], hw))
            break
    return np.array(segs, dtype=float).reshape(-1, 5)


def trabecula_clearance(y, x, segments) -> np.ndarray:
    """Distance (µm) from points to the nearest trabecula's edge (negative inside; inf without any).

    Examples
    --------
    >>> trabecula_clearance([0.0, 10.0], [5.0, 5.0], np.array([[0.0, 0.0, 0.0, 10.0, 2.0]])).tolist()
    [-2.0, 8.0]
    """
    y = np.asarray(y, dtype=float)
    x = np.asarray(x, dtype=float)
    best = np.full(y.shape, np.inf)
    for y0, x0, y1, x1, hw in segments:
        dy, dx = y1 - y0, x1 - x0
        t = np.clip(((y - y0) * dy + (x - x0) * dx) / max(dy * dy + dx * dx, 1e-12), 0.0, 1.0)
        best = np.minimum(best, np.hypot(y - y0 - t * dy, x - x0 - t * dx) - hw)
    return best


def trabecular_fibroblasts(rng, segments) -> CellSet:
    """Spindle fibroblast nuclei (10-18 x 2-3.4 µm) along the trabeculae, one per 500-1000 µm².

    Examples
    --------
    >>> fib = trabecular_fibroblasts(np.random.default_rng(1), np.array([[0, 0, 0, 300.0, 8.0]]))
    >>> len(fib), {KINDS[k] for k in fib.kind}, bool((np.abs(fib.y) <= 8.0).all())
    (8, {'stromal'}, True)
    """
    parts = []
    for y0, x0, y1, x1, hw in segments:
        length = float(np.hypot(y1 - y0, x1 - x0))
        n = int(rng.poisson(length * 2 * hw / rng.uniform(500.0, 1000.0)))
        t = rng.uniform(0.0, 1.0, n)
        off = rng.uniform(-0.7, 0.7, n) * hw
        ang = np.arctan2(y1 - y0, x1 - x0)
        parts.append(CellSet.new(y0 + t * (y1 - y0) + off * np.cos(ang), x0 + t * (x1 - x0) - off * np.sin(ang),
                                 rng.uniform(5.0, 9.0, n), rng.uniform(1.0, 1.7, n),
                                 ang + rng.normal(0.0, 0.1, n), kind=_STROMA))
    return CellSet.concat(parts)


def plasma_cells(rng, y, x) -> CellSet:
    """Plasma cells with nuclei at (y, x) µm.

    Round nuclei of 8-10 µm (aspect 1-1.15); ``angle`` points from the nucleus
    to the cytoplasm, which reaches 2.5-3.5 µm on average and up to 1.8 x that
    on the far side (an eccentric nucleus in an oval cell of about 14-17 µm).
    The renderer draws coarse clock-face chromatin, amphophilic cytoplasm and a
    pale perinuclear halo.

    Examples
    --------
    >>> pc = plasma_cells(np.random.default_rng(0), [10.0, 40.0], [10.0, 10.0])
    >>> bool(np.all((2 * np.sqrt(pc.a * pc.b) >= 8) & (2 * np.sqrt(pc.a * pc.b) <= 10)))
    True
    """
    y = np.asarray(y, dtype=float)
    n = len(y)
    r = rng.uniform(8.0, 10.0, n) / 2
    asp = rng.uniform(1.0, 1.15, n)
    return CellSet.new(y, x, r * np.sqrt(asp), r / np.sqrt(asp), rng.uniform(0.0, 2 * np.pi, n),
                       kind=_PLASMA, cyto_um=rng.uniform(2.5, 3.5, n))


def _histiocytes(rng, y, x) -> CellSet:
    n = len(y)
    r = rng.uniform(10.0, 14.0, n) / 2
    asp = rng.uniform(1.2, 1.6, n)
    a, b = r * np.sqrt(asp), r / np.sqrt(asp)
    return CellSet.new(y, x, a, b, rng.uniform(0, np.pi, n), kind=_HISTIO,
                       cyto_um=rng.uniform(0.5, 0.9, n) * 2 * np.sqrt(a * b))


def medullary_cells(rng, medulla: Medulla, anatomy: BenignAnatomy, *, cortical_yx) -> CellSet:
    """Plasma cells in the cords and scattered in the cortex, histiocytes in the medullary sinuses.

    ``cortical_yx`` ((N, 2) µm) are lymphocyte positions of the cortex; a
    fraction of them become plasma cells (the lymphocytes there give way when
    overlaps are resolved).

    Examples
    --------
    >>> from pipeline.synthetic.shapes import DepthField
    >>> t = np.linspace(0, 2 * np.pi, 64, endpoint=False)
    >>> outline = np.stack([300 + 250 * np.sin(t), 300 + 250 * np.cos(t)], axis=1)
    >>> rng = np.random.default_rng(0)
    >>> anat = BENIGN_ANATOMIES["reactive"]
    >>> med = layout_medulla(rng, outline, DepthField(outline, margin_um=20), cortex_top_um=60.0,
    ...                      anatomy=anat)
    >>> cells = medullary_cells(rng, med, anat, cortical_yx=np.zeros((0, 2)))
    >>> sorted({KINDS[k] for k in cells.kind})
    ['histiocyte', 'plasma_cell']
    """
    box = medulla.bounds()
    py, px_ = hex_grid(rng, box, spacing=rng.uniform(12.5, 14.5), jitter=0.12)
    keep = medulla.in_cord(py, px_) & (rng.random(len(py)) < rng.uniform(*anatomy.cord_plasma_keep))
    cords = plasma_cells(rng, py[keep], px_[keep])
    hy, hx = hex_grid(rng, box, spacing=rng.uniform(*anatomy.sinus_histiocyte_spacing_um), jitter=0.2)
    keep = medulla.in_sinus(hy, hx) & (rng.random(len(hy)) < rng.uniform(*anatomy.sinus_histiocyte_keep))
    sinus = _histiocytes(rng, hy[keep], hx[keep])
    cortical_yx = np.asarray(cortical_yx, dtype=float).reshape(-1, 2)
    n = round(len(cortical_yx) * rng.uniform(*anatomy.cortical_plasma_fraction))
    pick = rng.choice(len(cortical_yx), n, replace=False) if n else np.zeros(0, int)
    scattered = plasma_cells(rng, cortical_yx[pick, 0], cortical_yx[pick, 1])
    return CellSet.concat([cords, sinus, scattered])


def clear_around_plasma(cells: CellSet) -> CellSet:
    """Plasma cells first, and without the lymphocytes whose nuclei sit in their cytoplasm.

    Plasma cells share the lymphocytes' overlap priority, so overlap removal only
    keeps nuclei apart (earlier cells win); here lymphocytes inside a plasma
    cell's eccentric body (nucleus plus up to 1.8 x ``cyto_um`` on the side
    ``angle`` points to) are dropped, so medullary cords stay densely packed
    with lymphocytes touching the plasma cells' nuclear side.

    Examples
    --------
    >>> pc = plasma_cells(np.random.default_rng(0), [0.0], [0.0])
    >>> side = 9.0 * np.array([np.sin(pc.angle[0]), np.cos(pc.angle[0])])
    >>> lym = CellSet.new([side[0], -side[0]], [side[1], -side[1]], [3.3, 3.3], [3.3, 3.3], 0.0, kind=0)
    >>> out = clear_around_plasma(CellSet.concat([lym, pc]))
    >>> [KINDS[k] for k in out.kind], bool(out.y[1] == -side[0])
    (['plasma_cell', 'lymphocyte'], True)
    """
    plasma = np.flatnonzero(cells.kind == _PLASMA)
    lymph = np.flatnonzero(cells.kind == KINDS.index("lymphocyte"))
    drop = np.zeros(len(cells), bool)
    if len(plasma) and len(lymph):
        tree = cKDTree(cells.yx[lymph])
        reach = cells.a[plasma] + 1.8 * cells.cyto_um[plasma] + cells.a[lymph].max()
        for p, near in zip(plasma, tree.query_ball_point(cells.yx[plasma], reach)):
            near = lymph[np.asarray(near, dtype=int)]
            dy, dx = cells.y[near] - cells.y[p], cells.x[near] - cells.x[p]
            dist = np.hypot(dy, dx)
            cos = (dy * np.sin(cells.angle[p]) + dx * np.cos(cells.angle[p])) / np.maximum(dist, 1e-6)
            body = cells.a[p] + np.maximum(cells.cyto_um[p] * (1.0 + 0.8 * cos), 0.4)
            drop[near[dist < body + 0.6 * cells.a[near]]] = True
    order = np.concatenate([plasma, np.setdiff1d(np.flatnonzero(~drop), plasma)])
    return cells.subset(order)


def add_mitoses(rng, cells: CellSet, fraction) -> CellSet:
    """A copy of ``cells`` with a ``fraction`` (low, high) of centroblasts turned into mitotic figures.

    Half are metaphase plates (7-10 x 2.4-3.6 µm), half clumped prometaphase
    chromatin (7-9 µm); each sits in a clear halo of 2.5-4 µm.

    Examples
    --------
    >>> gc = CellSet.new(np.arange(50.0) * 12, 0.0, np.full(50, 5.0), np.full(50, 4.5), 0.0,
    ...                  kind=KINDS.index("germinal_centre"))
    >>> out = add_mitoses(np.random.default_rng(0), gc, (0.5, 0.5))
    >>> 10 < int((out.kind == KINDS.index("mitotic_figure")).sum()) < 40
    True
    """
    out = cells.subset(np.arange(len(cells)))
    blasts = np.flatnonzero(cells.kind == _GC)
    pick = blasts[rng.random(len(blasts)) < rng.uniform(*fraction)]
    m = len(pick)
    plate = rng.random(m) < 0.5
    a = np.where(plate, rng.uniform(3.5, 5.0, m), rng.uniform(3.5, 4.5, m))
    b = np.where(plate, rng.uniform(1.2, 1.8, m), a / rng.uniform(1.0, 1.25, m))
    out.kind[pick] = _MITOSIS
    out.a[pick], out.b[pick] = a, b
    out.cyto_um[pick] = rng.uniform(2.5, 4.0, m)
    return out
