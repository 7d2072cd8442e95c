"""Tissue layout of a lymph node in micrometres: outline, capsule, sinus, follicles,
vessels, perinodal fat and the benign cells that fill them (plus, for the
``"typical"`` and ``"reactive"`` anatomies, the medulla and trabeculae of
:mod:`~pipeline.synthetic.benign`).

Everything here is drawn from one random generator and never depends on the
pixel size, so the same seed gives the same node at any resolution.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import Delaunay

from . import benign as _benign
from .benign import BENIGN_ANATOMIES, BenignAnatomy, Medulla
from .cells import KINDS, CellSet
from .packing import hex_grid, relax
from .shapes import DepthField

__all__ = ["NodeLayout", "layout_node"]

_LYMPH = KINDS.index("lymphocyte")
_HISTIO = KINDS.index("histiocyte")
_GC = KINDS.index("germinal_centre")
_ENDO = KINDS.index("endothelial")
_STROMA = KINDS.index("stromal")


@dataclass
class NodeLayout:
    """Non-cellular structures of a synthetic node, all in µm.

    Attributes
    ----------
    size_um : (2,) float
        Field height and width.
    outline : (K, 2) float ndarray
        Node outline (y, x), outer edge of the capsule.
    depth : DepthField
        Signed distance to ``outline`` (positive inside the node).
    capsule_um, sinus_um : float
        Width of the fibrous capsule and of the subcapsular sinus below it.
    follicles, germinal_centres : (F, 5) float ndarrays
        Ellipses ``(cy, cx, ry, rx, angle)`` of follicles and of their germinal
        centres (a germinal centre row is NaN for a primary follicle).
    vessels : (V, 6) float ndarray
        ``(cy, cx, ry, rx, angle, wall)``: lumen ellipse and wall width.
    rbc : (R, 3) float ndarray
        Red blood cells ``(cy, cx, r)`` inside the lumens (no nucleus).
    fat : (P, 2) float ndarray
        Adipocyte centres of a perinodal fat lobule (may be empty); the lobule is
        the union of discs of radius ``fat_radius_um`` around them.
    apoptotic : (B, 3) float ndarray
        Tingible bodies (nuclear debris) in germinal-centre macrophages.
    debris : (S, 3) float ndarray
        Specks ``(cy, cx, r)`` that take up DAB non-specifically (drawn in IHC only).
    lumens : (L, 3) float ndarray
        Gland lumens in tumour deposits (filled in by the deposit generator).
    trabeculae : (T, 5) float ndarray
        Fibrous trabeculae as segments ``(y0, x0, y1, x1, half_width)`` (empty
        for the ``"simple"`` anatomy).
    medulla : Medulla or None
        Medullary cords and sinuses at the hilum (None for ``"simple"``).
    benign : str
        Name of the benign anatomy.
    """

    size_um: tuple
    outline: np.ndarray
    depth: DepthField
    capsule_um: float
    sinus_um: float
    follicles: np.ndarray
    germinal_centres: np.ndarray
    vessels: np.ndarray
    rbc: np.ndarray
    fat: np.ndarray
    fat_radius_um: float
    fat_wall_um: float
    apoptotic: np.ndarray
    debris: np.ndarray
    lumens: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    lymphocyte_spacing_um: float = 8.0
    trabeculae: np.ndarray = field(default_factory=lambda: np.zeros((0, 5)))
    medulla: Medulla | None = None
    benign: str = "simple"

    def summary(self) -> dict:
        """JSON-friendly description of the layout (for ``params``)."""
        out = {
            "capsule_um": round(self.capsule_um, 3),
            "sinus_um": round(self.sinus_um, 3),
            "lymphocyte_spacing_um": round(self.lymphocyte_spacing_um, 3),
            "n_follicles": int(len(self.follicles)),
            "n_germinal_centres": int(np.isfinite(self.germinal_centres[:, 0]).sum()),
            "n_vessels": int(len(self.vessels)),
            "n_adipocytes": int(len(self.fat)),
            "n_debris_specks": int(len(self.debris)),
        }
        if self.benign != "simple":  # only the other anatomies add keys: "simple" stays as it was
            seg = self.trabeculae
            starts = ~np.isclose(seg[1:, :2], seg[:-1, 2:4]).all(axis=1)
            out.update({
                "benign": self.benign,
                "n_trabeculae": int(1 + starts.sum()) if len(seg) else 0,
                "medulla_radius_um": round(self.medulla.radius_um, 3) if self.medulla else 0.0,
                "medullary_sinus_half_width_um": (round(self.medulla.sinus_half_width_um, 3)
                                                  if self.medulla else 0.0),
            })
        return out


def _node_outline(rng, size_um):
    h, w = size_um
    theta = np.linspace(0, 2 * np.pi, 256, endpoint=False)
    radius = np.ones_like(theta)
    for k in range(2, 6):
        radius += rng.uniform(0.01, 0.04) / (k - 1) ** 0.5 * np.cos(k * theta + rng.uniform(0, 2 * np.pi))
    ry, rx = rng.uniform(0.40, 0.46) * h, rng.uniform(0.40, 0.46) * w
    rot = rng.uniform(-0.3, 0.3)
    u, v = radius * np.cos(theta) * rx, radius * np.sin(theta) * ry
    x = u * np.cos(rot) - v * np.sin(rot)
    y = u * np.sin(rot) + v * np.cos(rot)
    # keep the node inside the field with a margin, then shift it a little
    margin = 0.03 * min(h, w) + 5.0
    scale = min(1.0, (h / 2 - margin) / np.abs(y).max(), (w / 2 - margin) / np.abs(x).max())
    y, x = y * scale, x * scale
    room_y = h / 2 - margin - np.abs(y).max()
    room_x = w / 2 - margin - np.abs(x).max()
    cy = h / 2 + rng.uniform(-1, 1) * room_y
    cx = w / 2 + rng.uniform(-1, 1) * room_x
    return np.stack([y + cy, x + cx], axis=1)


def inside_ellipses(y, x, ellipses, *, grow=0.0):
    """Index of the ellipse (cy, cx, ry, rx, angle) containing each point, or -1."""
    hit = np.full(len(y), -1)
    for k, (cy, cx, ry, rx, ang) in enumerate(ellipses):
        if not np.isfinite(cy):
            continue
        dy, dx = y - cy, x - cx
        u = dx * np.cos(ang) + dy * np.sin(ang)
        v = -dx * np.sin(ang) + dy * np.cos(ang)
        inside = (u / (rx + grow)) ** 2 + (v / (ry + grow)) ** 2 <= 1.0
        hit[inside & (hit < 0)] = k
    return hit


def _sample_at_depth(rng, layout_depth, bounds, lo, hi, n_try=4000):
    y0, x0, y1, x1 = bounds
    y = rng.uniform(y0, y1, n_try)
    x = rng.uniform(x0, x1, n_try)
    d = layout_depth(y, x)
    ok = (d >= lo) & (d <= hi)
    return y[ok], x[ok], d[ok]


def _ellipse_nuclei(rng, n, d_range, aspect_range):
    """Semi-axes (a, b) for ``n`` nuclei of equivalent diameter and aspect in ranges."""
    r = rng.uniform(*d_range, n) / 2
    asp = rng.uniform(*aspect_range, n)
    return r * np.sqrt(asp), r / np.sqrt(asp)


def layout_node(rng: np.random.Generator, size_um, *,
                anatomy: BenignAnatomy | None = None) -> tuple[NodeLayout, CellSet]:
    """Lay out a benign lymph node filling most of a ``size_um`` (height, width) field.

    Parameters
    ----------
    rng : numpy.random.Generator
    size_um : (2,) float
        Field height and width, µm.
    anatomy : BenignAnatomy, optional, keyword-only
        Benign anatomy (default: the ``"simple"`` preset, which draws exactly
        the same node for a given generator state as earlier versions).

    Returns
    -------
    layout : NodeLayout
    cells : CellSet
        Lymphocytes, germinal-centre cells, histiocytes, endothelial and stromal
        cells (and plasma cells and mitotic figures for the other anatomies);
        they may still overlap (resolved once the tumour is added).

    Examples
    --------
    >>> layout, cells = layout_node(np.random.default_rng(0), (300.0, 300.0))
    >>> layout.benign, len(cells) > 300
    ('simple', True)
    >>> layout, cells = layout_node(np.random.default_rng(0), (600.0, 600.0),
    ...                             anatomy=BENIGN_ANATOMIES["reactive"])
    >>> layout.benign, int((cells.kind == KINDS.index("plasma_cell")).sum()) > 10
    ('reactive', True)
    """
    anat = BENIGN_ANATOMIES["simple"] if anatomy is None else anatomy
    extras = (anat.medulla or anat.trabeculae_per_mm[1] > 0 or anat.cortical_plasma_fraction[1] > 0
              or anat.mitosis_fraction[1] > 0)
    h, w = (float(v) for v in size_um)
    outline = _node_outline(rng, (h, w))
    depth = DepthField(outline, step_um=2.0, margin_um=max(h, w) * 0.1 + 20)
    bounds = (*outline.min(0), *outline.max(0))
    node_d = float(min(outline.max(0) - outline.min(0)))
    area_mm2 = float(np.pi * np.prod((outline.max(0) - outline.min(0)) / 2) / 1e6)

    capsule = rng.uniform(15.0, 40.0)
    sinus = min(rng.uniform(30.0, 80.0) * anat.sinus_scale, anat.sinus_max_fraction * node_d)
    cortex_top = capsule + sinus
    medulla = (_benign.layout_medulla(rng, outline, depth, cortex_top_um=cortex_top, anatomy=anat)
               if anat.medulla else None)

    # ---- follicles: just below the sinus, in the outer cortex ----
    n_fol = int(np.clip(round(area_mm2 * rng.uniform(0.8, 2.0) * anat.follicle_density),
                        anat.min_follicles, anat.max_follicles))
    fol_scale = float(np.clip(node_d / 1200.0, 0.3, 1.0))
    follicles, centres = [], []
    for _ in range(n_fol):
        radius = rng.uniform(100.0, 250.0) * fol_scale * anat.follicle_scale
        lo, hi = anat.follicle_depth
        ys, xs, _ = _sample_at_depth(rng, depth, bounds, cortex_top + lo * radius, cortex_top + hi * radius,
                                     3000)
        if medulla is not None:  # follicles stay in the cortex, away from the hilum
            away = np.hypot(ys - medulla.hilum[0], xs - medulla.hilum[1]) > medulla.radius_um + 0.5 * radius
            ys, xs = ys[away], xs[away]
        for fy, fx in zip(ys, xs):
            if all(np.hypot(fy - f[0], fx - f[1]) > radius + max(f[2], f[3]) + 20 for f in follicles):
                break
        else:
            continue
        ry, rx = radius * rng.uniform(0.85, 1.0), radius * rng.uniform(0.85, 1.0)
        ang = rng.uniform(0, np.pi)
        follicles.append((fy, fx, ry, rx, ang))
        if rng.random() < anat.p_secondary:  # secondary follicle: germinal centre shifted inwards
            k = rng.uniform(*anat.germinal_centre_fraction)
            gy, gx = depth(fy + 1.0, fx) - depth(fy - 1.0, fx), depth(fy, fx + 1.0) - depth(fy, fx - 1.0)
            norm = np.hypot(gy, gx) + 1e-9
            shift = rng.uniform(0.0, 0.15) * radius
            centres.append((fy + gy / norm * shift, fx + gx / norm * shift, ry * k, rx * k, ang))
        else:
            centres.append((np.nan,) * 5)
    follicles = np.array(follicles, dtype=float).reshape(-1, 5)
    centres = np.array(centres, dtype=float).reshape(-1, 5)
    trabeculae = np.zeros((0, 5))
    if anat.trabeculae_per_mm[1] > 0:
        trabeculae = _benign.layout_trabeculae(
            rng, outline, depth, capsule_um=capsule, anatomy=anat,
            avoid=lambda y, x: inside_ellipses(y, x, follicles, grow=25.0) >= 0)

    # ---- vessels (high endothelial venules and small vessels) in the paracortex ----
    n_ves = int(rng.poisson(area_mm2 * rng.uniform(6.0, 12.0))) + 1
    ys, xs, _ = _sample_at_depth(rng, depth, bounds, cortex_top + 30.0, np.inf, 4 * n_ves + 20)
    vessels, endo_parts, rbc_parts = [], [], []
    for vy, vx in zip(ys, xs):
        if len(vessels) >= n_ves:
            break
        big = rng.random() < 0.25
        r_l = rng.uniform(10.0, 22.0) if big else rng.uniform(4.0, 10.0)
        asp = rng.uniform(1.0, 1.6)
        ry, rx = r_l / np.sqrt(asp), r_l * np.sqrt(asp)
        ang = rng.uniform(0, np.pi)
        plump = (not big) or rng.random() < 0.3
        na, nb = (rng.uniform(4.0, 5.5), rng.uniform(2.2, 3.0)) if plump else (
            rng.uniform(5.0, 7.5), rng.uniform(1.2, 1.8))
        if plump:  # high endothelial venule: plumper nuclei with the other anatomies
            na, nb = na * anat.hev_scale[0], nb * anat.hev_scale[1]
        wall = 2 * nb + 1.0
        if inside_ellipses(np.array([vy]), np.array([vx]), centres, grow=rx + wall)[0] >= 0:
            continue
        if any(np.hypot(vy - v[0], vx - v[1]) < max(rx, ry) + max(v[2], v[3]) + 40 for v in vessels):
            continue
        vessels.append((vy, vx, ry, rx, ang, wall))
        # endothelial nuclei lining the lumen, tangential
        perim = np.pi * (3 * (rx + ry) - np.sqrt((3 * rx + ry) * (rx + 3 * ry)))
        n_endo = max(3, int(perim / rng.uniform(9.0, 13.0)))
        t = np.linspace(0, 2 * np.pi, n_endo, endpoint=False) + rng.uniform(0, 2 * np.pi)
        t += rng.normal(0, 0.15, n_endo)
        eu, ev = (rx + nb + 0.5) * np.cos(t), (ry + nb + 0.5) * np.sin(t)
        ey = vy + eu * np.sin(ang) + ev * np.cos(ang)
        ex = vx + eu * np.cos(ang) - ev * np.sin(ang)
        tang = np.arctan2(-(rx * np.sin(t)) * np.sin(ang) + ry * np.cos(t) * np.cos(ang),
                          -(rx * np.sin(t)) * np.cos(ang) - ry * np.cos(t) * np.sin(ang))
        endo_parts.append(
            CellSet.new(ey, ex, na * rng.uniform(0.85, 1.1, n_endo), nb * rng.uniform(0.85, 1.1, n_endo),
                        tang + rng.normal(0, 0.1, n_endo), kind=_ENDO,
                        cyto_um=anat.hev_cyto_um if plump else 0.8,
                        group=len(vessels) - 1)
        )
        if rng.random() < 0.75:
            fill = rng.uniform(0.2, 0.8)
            n_rbc = int(fill * rx * ry / 3.6**2) + 1
            rr = np.sqrt(rng.uniform(0, 1, n_rbc)) * 0.85
            tt = rng.uniform(0, 2 * np.pi, n_rbc)
            ru, rv = rr * rx * np.cos(tt), rr * ry * np.sin(tt)
            rbc_parts.append(np.stack([vy + ru * np.sin(ang) + rv * np.cos(ang),
                                       vx + ru * np.cos(ang) - rv * np.sin(ang),
                                       rng.uniform(3.3, 4.0, n_rbc)], axis=1))
    vessels = np.array(vessels, dtype=float).reshape(-1, 6)
    rbc = np.concatenate(rbc_parts) if rbc_parts else np.zeros((0, 3))

    # ---- lymphocytes on a jittered hexagonal grid ----
    spacing = rng.uniform(7.5, 9.0)
    ly, lx = hex_grid(rng, bounds, spacing=spacing, jitter=0.12)
    ld = depth(ly, lx)
    # the sinus holds a few lymphocytes, the cortex is packed; a smooth field
    # thins some paracortical areas a little
    p_keep = np.clip((ld - cortex_top) / 10.0 + 0.5, 0.0, 1.0)
    p_sinus = rng.uniform(0.1, 0.3) * anat.sinus_lymphocyte_scale
    p_keep = np.where((ld > capsule + 2) & (ld < cortex_top), np.maximum(p_keep, p_sinus), p_keep)
    wave = _smooth_field(rng, ly, lx, scale_um=150.0)
    p_keep = p_keep * (1.0 - rng.uniform(0.0, 0.15) * wave)
    keep = rng.random(len(ly)) < p_keep
    if medulla is not None:  # medullary sinuses hold as few lymphocytes as the subcapsular one
        keep &= ~medulla.in_sinus(ly, lx) | (rng.random(len(ly)) < p_sinus)
    in_gc = inside_ellipses(ly, lx, centres) >= 0
    walls = [(v[0], v[1], v[2] + v[5] + 2.0, v[3] + v[5] + 2.0, v[4]) for v in vessels]
    in_vessel = inside_ellipses(ly, lx, walls) >= 0
    keep &= ~in_gc & ~in_vessel
    ly, lx = ly[keep], lx[keep]
    d_mean = rng.uniform(6.4, 7.0)
    dia = np.clip(rng.normal(d_mean, 0.35, len(ly)), 6.02, 7.48)
    ecc = rng.uniform(0.0, 0.08, len(ly))
    dia = np.where(inside_ellipses(ly, lx, follicles) >= 0, np.maximum(dia * 0.93, 6.02), dia)  # mantle
    ly, lx = relax(ly, lx, dia / 2 * (1 + ecc), gap=0.4, iterations=3)
    lymph = CellSet.new(ly, lx, dia / 2 * (1 + ecc), dia / 2 / (1 + ecc), rng.uniform(0, np.pi, len(ly)),
                        kind=_LYMPH)
    # a few scattered macrophages in the cortex replace lymphocytes
    cortical = np.flatnonzero(depth(ly, lx) > cortex_top + 10)
    n_mac = int(len(cortical) * rng.uniform(0.001, 0.005))
    mac = rng.choice(cortical, n_mac, replace=False) if n_mac else np.zeros(0, int)
    a, b = _ellipse_nuclei(rng, n_mac, (10.0, 14.0), (1.2, 1.6))
    macrophages = CellSet.new(ly[mac], lx[mac], a, b, rng.uniform(0, np.pi, n_mac), kind=_HISTIO,
                              cyto_um=rng.uniform(0.3, 0.5, n_mac) * 2 * np.sqrt(a * b))
    lymph = lymph.subset(np.setdiff1d(np.arange(len(lymph)), mac))

    # ---- germinal centres: larger, paler centroblasts, some small cells, macrophages ----
    gc_parts, apoptotic = [], []
    for gcy, gcx, gry, grx, gang in centres:
        if not np.isfinite(gcy):
            continue
        box = (gcy - max(gry, grx), gcx - max(gry, grx), gcy + max(gry, grx), gcx + max(gry, grx))
        gy, gx = hex_grid(rng, box, spacing=rng.uniform(10.0, 12.5), jitter=0.18)
        inside = inside_ellipses(gy, gx, [(gcy, gcx, gry, grx, gang)]) >= 0
        gy, gx = gy[inside], gx[inside]
        blast = rng.random(len(gy)) < rng.uniform(0.55, 0.75)
        a, b = _ellipse_nuclei(rng, len(gy), (8.0, 11.0), (1.0, 1.35))
        small = np.clip(rng.normal(d_mean, 0.35, len(gy)), 6.02, 7.48) / 2
        gc_parts.append(CellSet.new(gy, gx, np.where(blast, a, small), np.where(blast, b, small),
                                    rng.uniform(0, np.pi, len(gy)),
                                    kind=np.where(blast, _GC, _LYMPH),
                                    cyto_um=np.where(blast, rng.uniform(1.0, 1.8, len(gy)), 0.0)))
        n_tbm = int(np.pi * gry * grx / rng.uniform(*anat.tbm_area_um2))
        if n_tbm:
            rr = np.sqrt(rng.uniform(0, 0.8, n_tbm))
            tt = rng.uniform(0, 2 * np.pi, n_tbm)
            ty = gcy + rr * gry * np.sin(tt)
            tx = gcx + rr * grx * np.cos(tt)
            a, b = _ellipse_nuclei(rng, n_tbm, (9.0, 12.0), (1.1, 1.5))
            cyto = rng.uniform(6.0, 10.0, n_tbm)
            gc_parts.append(CellSet.new(ty, tx, a, b, rng.uniform(0, np.pi, n_tbm), kind=_HISTIO,
                                        cyto_um=cyto))
            for k in range(n_tbm):
                m = int(rng.integers(2, 6))
                ang = rng.uniform(0, 2 * np.pi, m)
                rad = rng.uniform(a[k] + 1.5, a[k] + cyto[k] - 1.5, m)
                apoptotic.append(np.stack([ty[k] + rad * np.sin(ang), tx[k] + rad * np.cos(ang),
                                           rng.uniform(0.8, 2.0, m)], axis=1))
    apoptotic = np.concatenate(apoptotic) if apoptotic else np.zeros((0, 3))

    # ---- sinus histiocytes: loosely scattered, pale oval nuclei, abundant cytoplasm ----
    hy, hx = hex_grid(rng, bounds, spacing=rng.uniform(*anat.sinus_histiocyte_spacing_um), jitter=0.25)
    hd = depth(hy, hx)
    keep = ((hd > capsule + 5) & (hd < cortex_top - 3)
            & (rng.random(len(hy)) < rng.uniform(*anat.sinus_histiocyte_keep)))
    hy, hx = hy[keep], hx[keep]
    a, b = _ellipse_nuclei(rng, len(hy), (10.0, 14.0), (1.2, 1.6))
    sinus_histio = CellSet.new(hy, hx, a, b, rng.uniform(0, np.pi, len(hy)), kind=_HISTIO,
                               cyto_um=rng.uniform(0.5, 0.9, len(hy)) * 2 * np.sqrt(a * b))

    # ---- capsule fibroblasts: sparse, elongated, parallel to the surface ----
    perimeter = float(np.hypot(*np.diff(np.vstack([outline, outline[:1]]), axis=0).T).sum())
    n_fib = int(perimeter * capsule / rng.uniform(600.0, 1200.0))
    fy, fx, _ = _sample_at_depth(rng, depth, bounds, 2.0, capsule - 2.0, max(20 * n_fib, 2000))
    fy, fx = fy[:n_fib], fx[:n_fib]
    gy = depth(fy + 1.0, fx) - depth(fy - 1.0, fx)
    gx = depth(fy, fx + 1.0) - depth(fy, fx - 1.0)
    tang = np.arctan2(gx, -gy) + rng.normal(0, 0.12, len(fy))  # perpendicular to the gradient
    fibro = CellSet.new(fy, fx, rng.uniform(6.0, 10.0, len(fy)), rng.uniform(1.0, 1.8, len(fy)), tang,
                        kind=_STROMA)

    # ---- perinodal fat lobule in one corner (sometimes) ----
    fat = np.zeros((0, 2))
    fat_r = rng.uniform(35.0, 50.0)
    fat_wall = rng.uniform(1.5, 3.0)
    fat_cells = []
    if rng.random() < 0.5:
        corner = np.array([rng.choice([0.0, h]), rng.choice([0.0, w])])
        reach = rng.uniform(0.25, 0.45) * min(h, w)
        cy, cx = hex_grid(rng, (0, 0, h, w), spacing=2 * fat_r, jitter=0.12)
        near = np.hypot(cy - corner[0], cx - corner[1]) < reach
        outside = depth(cy, cx) < -(fat_r * 0.6)
        fat = np.stack([cy, cx], axis=1)[near & outside]
        if len(fat) >= 4:
            tri = Delaunay(fat)
            edges = np.unique(np.sort(np.concatenate(
                [tri.simplices[:, [0, 1]], tri.simplices[:, [1, 2]], tri.simplices[:, [0, 2]]]), axis=1),
                axis=0)
            length = np.linalg.norm(fat[edges[:, 0]] - fat[edges[:, 1]], axis=1)
            edges = edges[length < 2.6 * fat_r]
            pick = edges[rng.random(len(edges)) < 0.12]
            mid = (fat[pick[:, 0]] + fat[pick[:, 1]]) / 2
            direction = fat[pick[:, 1]] - fat[pick[:, 0]]
            ang = np.arctan2(direction[:, 0], direction[:, 1]) + np.pi / 2
            fat_cells.append(CellSet.new(mid[:, 0], mid[:, 1], rng.uniform(5.0, 8.0, len(mid)),
                                         rng.uniform(1.0, 1.6, len(mid)), ang, kind=_STROMA))
        elif len(fat):
            fat = np.zeros((0, 2))

    # ---- non-specific DAB specks (IHC only) ----
    n_deb = int(rng.poisson(area_mm2 * rng.uniform(8.0, 25.0)))
    dy, dx, _ = _sample_at_depth(rng, depth, bounds, 5.0, np.inf, 20 * n_deb + 50)
    dy, dx = dy[:n_deb], dx[:n_deb]
    parts = []
    for k in range(len(dy)):
        m = int(rng.integers(1, 4))
        parts.append(np.stack([dy[k] + rng.normal(0, 1.2, m), dx[k] + rng.normal(0, 1.2, m),
                               rng.uniform(0.8, 2.5, m)], axis=1))
    debris = np.concatenate(parts) if parts else np.zeros((0, 3))

    layout = NodeLayout(
        size_um=(h, w), outline=outline, depth=depth, capsule_um=float(capsule), sinus_um=float(sinus),
        follicles=follicles, germinal_centres=centres, vessels=vessels, rbc=rbc, fat=fat,
        fat_radius_um=float(fat_r), fat_wall_um=float(fat_wall), apoptotic=apoptotic, debris=debris,
        lymphocyte_spacing_um=float(spacing), trabeculae=trabeculae, medulla=medulla, benign=anat.name,
    )
    cells = CellSet.concat([lymph, macrophages, *gc_parts, sinus_histio, *endo_parts, fibro, *fat_cells])
    if not extras:
        return layout, cells
    # ---- the other anatomies: plasma cells, medullary histiocytes, trabeculae, mitoses ----
    if medulla is not None:
        # scattered plasma cells in the paracortex: not in the sinus, medulla or follicles
        cortex = ((depth(lymph.y, lymph.x) > cortex_top + 10) & ~medulla.in_medulla(lymph.y, lymph.x)
                  & (inside_ellipses(lymph.y, lymph.x, follicles) < 0))
        more = _benign.medullary_cells(rng, medulla, anat, cortical_yx=lymph.yx[cortex])
        cells = CellSet.concat([cells, more.subset(inside_ellipses(more.y, more.x, walls) < 0)])
    if len(trabeculae):
        cells = cells.subset((cells.kind == _STROMA) | (cells.kind == _ENDO)
                             | (_benign.trabecula_clearance(cells.y, cells.x, trabeculae) > cells.a + 0.5))
        cells = CellSet.concat([cells, _benign.trabecular_fibroblasts(rng, trabeculae)])
    cells = _benign.add_mitoses(rng, cells, anat.mitosis_fraction)
    return layout, _benign.clear_around_plasma(cells)


def _smooth_field(rng, y, x, *, scale_um):
    """A smooth random field in [0, 1] evaluated at points (sum of random cosines)."""
    out = np.zeros_like(y)
    for _ in range(6):
        k = rng.normal(0, 1.0 / scale_um, 2) * 2 * np.pi
        out += np.cos(k[0] * y + k[1] * x + rng.uniform(0, 2 * np.pi))
    return (out / 6.0 + 1.0) / 2.0
