"""Tumour deposits: their specification, placement in the node and the tumour cells.

A deposit is drawn as a region (an irregular blob whose longest diameter is the
requested one) filled with tumour cells in one of two arrangements:

- cohesive (ductal-like): large pleomorphic cells packed in a sheet, optionally
  around small gland lumens;
- dispersed (lobular-like): small uniform cells in one-cell-wide files and as
  single cells, infiltrating between lymphocytes.

A mixed deposit is a cohesive core with dispersed files around it. Every cell
of a deposit lies within 55 µm (nuclear edge to edge, equivalent radii) of
another cell of the same deposit and the deposit is connected under that rule,
so the CAMELYON 75 µm linking rule recovers it; deposits are kept more than
170 µm apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral, Real

import cv2
import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .._validate import check_choice, check_positive
from .cells import KINDS, CellSet
from .packing import hex_grid, relax, resolve_overlaps
from .shapes import DepthField, blob_polygon

__all__ = ["DEPOSIT_PATTERNS", "DepositSpec", "coerce_deposits", "min_diameter_um"]

#: Arrangements a deposit can be asked for.
DEPOSIT_PATTERNS = ("cohesive", "single_file", "mixed")

_TUMOR = KINDS.index("tumor")
# Largest nuclear edge-to-edge gap between linked cells of one deposit, µm
# (the CAMELYON rule allows 75 µm; the margin absorbs radius conventions).
LINK_GAP_UM = 55.0
# Smallest outline-to-outline distance between two deposit regions, µm.
SEPARATION_UM = 170.0
# Largest cohesive spacing factor and nuclear diameter: used for capacity estimates.
_COHESIVE_AREA_PER_CELL = 0.866 * (1.6 * 14.5) ** 2
_DISPERSED_AREA_PER_CELL = 35.0 * 14.0 / 1.1


@dataclass(frozen=True, kw_only=True)
class DepositSpec:
    """What to draw for one tumour deposit.

    Parameters
    ----------
    diameter_um : float
        Target longest diameter of the deposit's region, in µm. The cells lie
        inside it, so the measured diameter is at most this (and close to it
        unless ``n_cells`` is small).
    center_um : (2,) float, optional
        Centre (y, x) in µm. Default: a random place inside the node, away from
        the capsule and from other deposits.
    n_cells : int, optional
        Exact number of tumour cells (for isolated tumour cells, e.g. 1-30).
        Default: as many as the arrangement fits in the region.
    pattern : {"cohesive", "single_file", "mixed"}, optional
        Arrangement of this deposit; default: the node's ``pattern``.
    dispersed_fraction : float, optional
        Fraction (0-1) of the deposit's tumour cells drawn as single cells or
        single files; 0 is all cohesive, 1 all dispersed. Default: 0 for
        cohesive, 1 for single_file, random 0.35-0.65 for mixed.

    Examples
    --------
    >>> DepositSpec(diameter_um=150.0, n_cells=12, pattern="single_file")
    DepositSpec(diameter_um=150.0, center_um=None, n_cells=12, pattern='single_file', dispersed_fraction=None)
    """

    diameter_um: float
    center_um: tuple | None = None
    n_cells: int | None = None
    pattern: str | None = None
    dispersed_fraction: float | None = None

    def __post_init__(self):
        name = "DepositSpec"
        object.__setattr__(
            self, "diameter_um", check_positive(self.diameter_um, name=f"{name}.diameter_um")
        )
        if self.diameter_um < 10.0:
            raise ValueError(
                f"{name}.diameter_um must be >= 10 µm (a single tumour cell), got {self.diameter_um:g}"
            )
        if self.center_um is not None:
            try:
                cy, cx = (float(v) for v in self.center_um)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{name}.center_um must be a (y, x) pair in µm, got {self.center_um!r}"
                ) from None
            if not (math.isfinite(cy) and math.isfinite(cx)):
                raise ValueError(f"{name}.center_um must be finite, got {self.center_um!r}")
            object.__setattr__(self, "center_um", (cy, cx))
        if self.n_cells is not None:
            if isinstance(self.n_cells, bool) or not isinstance(self.n_cells, Integral) or self.n_cells < 1:
                raise ValueError(
                    f"{name}.n_cells must be a whole number >= 1 (or None for a full deposit), "
                    f"got {self.n_cells!r}"
                )
            object.__setattr__(self, "n_cells", int(self.n_cells))
        if self.pattern is not None:
            check_choice(self.pattern, DEPOSIT_PATTERNS, name=f"{name}.pattern")
        if self.dispersed_fraction is not None:
            f = self.dispersed_fraction
            if isinstance(f, bool) or not isinstance(f, Real) or not 0.0 <= float(f) <= 1.0:
                raise ValueError(
                    f"{name}.dispersed_fraction must be a number in [0, 1] "
                    f"(0 all cohesive, 1 all dispersed), got {f!r}"
                )
            object.__setattr__(self, "dispersed_fraction", float(f))

    def as_dict(self) -> dict:
        return {
            "diameter_um": self.diameter_um,
            "center_um": None if self.center_um is None else list(self.center_um),
            "n_cells": self.n_cells,
            "pattern": self.pattern,
            "dispersed_fraction": self.dispersed_fraction,
        }


def coerce_deposits(deposits, *, name: str = "deposits") -> list[DepositSpec]:
    """Validate ``deposits`` (None, or a list of dicts / :class:`DepositSpec`).

    Examples
    --------
    >>> coerce_deposits([{"diameter_um": 500}])[0].diameter_um
    500.0
    """
    if deposits is None:
        return []
    if isinstance(deposits, (dict, DepositSpec)) or not isinstance(deposits, (list, tuple)):
        raise ValueError(
            f"{name} must be a list of dicts or DepositSpec (or None), got {type(deposits).__name__}; "
            f"wrap a single deposit in a list: {name}=[...]"
        )
    keys = {"diameter_um", "center_um", "n_cells", "pattern", "dispersed_fraction"}
    out = []
    for i, item in enumerate(deposits):
        if isinstance(item, DepositSpec):
            out.append(item)
            continue
        if not isinstance(item, dict):
            raise ValueError(f"{name}[{i}] must be a dict or DepositSpec, got {type(item).__name__}")
        unknown = sorted(set(item) - keys)
        if unknown:
            raise ValueError(
                f"{name}[{i}] has unknown key(s) {unknown}; allowed keys are {sorted(keys)}"
            )
        if "diameter_um" not in item:
            raise ValueError(f"{name}[{i}] needs 'diameter_um' (target longest diameter in µm)")
        try:
            out.append(DepositSpec(**item))
        except ValueError as err:
            raise ValueError(f"{name}[{i}]: {err}") from None
    return out


def min_diameter_um(n_cells: int, dispersed_fraction: float = 0.0) -> float:
    """Conservative smallest region diameter (µm) that holds ``n_cells`` tumour cells.

    Examples
    --------
    >>> 60 < min_diameter_um(5) < 120
    True
    """
    n_d = round(n_cells * dispersed_fraction)
    n_c = n_cells - n_d
    area = (n_c * _COHESIVE_AREA_PER_CELL + n_d * _DISPERSED_AREA_PER_CELL) / 0.5
    return float(np.sqrt(area * 1.3 * 4 / np.pi) + 25.0)


@dataclass
class Region:
    """A placed deposit region (internal)."""

    deposit_id: int
    spec: DepositSpec
    polygon: np.ndarray
    fraction: float
    center: np.ndarray
    axis: np.ndarray
    depth: DepthField = field(repr=False, default=None)


def _fraction_for(spec: DepositSpec, default_pattern: str, rng) -> float:
    if spec.dispersed_fraction is not None:
        return spec.dispersed_fraction
    pattern = spec.pattern or default_pattern
    if pattern == "cohesive":
        return 0.0
    if pattern == "single_file":
        return 1.0
    return float(rng.uniform(0.35, 0.65))


def _polygon_distance(poly_a, poly_b) -> float:
    """Signed distance between two polygons (negative when they intersect)."""
    ca = poly_a[:, ::-1].astype(np.float32).reshape(-1, 1, 2)
    cb = poly_b[:, ::-1].astype(np.float32).reshape(-1, 1, 2)
    d_ab = max(cv2.pointPolygonTest(cb, (float(x), float(y)), True) for y, x in poly_a)
    d_ba = max(cv2.pointPolygonTest(ca, (float(x), float(y)), True) for y, x in poly_b)
    # pointPolygonTest is positive inside: the largest value is the deepest vertex
    return -max(d_ab, d_ba)


def place_regions(rng, specs, layout, *, default_pattern: str, name: str = "deposits"):
    """Place deposit regions inside the node; raise ValueError when one cannot fit."""
    regions: list[Region] = []
    floor = layout.capsule_um + 8.0
    h, w = layout.size_um
    given = [s for s in specs if s.center_um is not None]
    for i, s in enumerate(given):
        cy, cx = s.center_um
        if not (0 <= cy <= h and 0 <= cx <= w):
            raise ValueError(
                f"{name}: center_um={s.center_um} lies outside the {h:g} x {w:g} µm field; "
                f"give a centre inside size_um"
            )
        for t in given[:i]:
            gap = np.hypot(cy - t.center_um[0], cx - t.center_um[1]) - (s.diameter_um + t.diameter_um) / 2
            if gap < SEPARATION_UM:
                raise ValueError(
                    f"{name}: deposits at center_um={t.center_um} and {s.center_um} would be only "
                    f"{gap:.0f} µm apart edge to edge; keep them >= {SEPARATION_UM:g} µm apart "
                    f"(centre distance >= sum of radii + {SEPARATION_UM:g})"
                )
    lo = layout.outline.min(0)
    hi = layout.outline.max(0)
    polygons = [None] * len(specs)
    aspects = [(1.0, 1.3) if s.n_cells is not None else (1.0, 1.6) for s in specs]
    fractions = [_fraction_for(s, default_pattern, rng) for s in specs]
    rough = [float(rng.uniform(0.06, 0.16)) for _ in specs]
    for i, spec in enumerate(specs):
        if spec.center_um is not None:
            polygons[i] = blob_polygon(rng, diameter_um=spec.diameter_um, center=spec.center_um,
                                       aspect=aspects[i], roughness=rough[i])
    for i, spec in enumerate(specs):
        if polygons[i] is not None:
            continue
        for _ in range(400):
            cy, cx = rng.uniform(lo[0], hi[0]), rng.uniform(lo[1], hi[1])
            if layout.depth(cy, cx) < floor + spec.diameter_um / 3.5:
                continue
            cand = blob_polygon(rng, diameter_um=spec.diameter_um, center=(cy, cx), aspect=aspects[i],
                                roughness=rough[i])
            if layout.depth(cand[:, 0], cand[:, 1]).min() < floor:
                continue
            others = [p for p in polygons if p is not None]
            if all(_polygon_distance(cand, o) >= SEPARATION_UM + 5.0 for o in others):
                polygons[i] = cand
                break
        else:
            raise ValueError(
                f"{name}[{i}]: could not fit a {spec.diameter_um:g} µm deposit inside the node "
                f"(about {min(hi - lo):.0f} µm across, minus the capsule) apart from the other "
                f"deposits; enlarge size_um or give smaller diameter_um"
            )
    for i, (spec, poly) in enumerate(zip(specs, polygons)):
        # the two vertices furthest apart define the long axis
        diff = poly[:, None, :] - poly[None, :, :]
        k = np.argmax((diff**2).sum(-1))
        p, q = poly[k // len(poly)], poly[k % len(poly)]
        axis = (q - p) / max(np.linalg.norm(q - p), 1e-9)
        regions.append(Region(deposit_id=i + 1, spec=spec, polygon=poly, fraction=fractions[i],
                              center=poly.mean(0), axis=axis))
    for r in regions:
        r.depth = DepthField(r.polygon, step_um=2.0, margin_um=40.0)
    return regions


# ----------------------------------------------------------------- cell fills


def _cohesive_candidates(rng, polygon_field, bounds, *, compact: float):
    """Hex-packed pleomorphic nuclei covering ``bounds``; kept where the field is >= a.

    ``compact`` in [0, 1] narrows spacing and size towards the tight end (used
    when a given number of cells must fit).
    """
    d_mean = rng.uniform(12.0, 14.5 - 2.0 * compact)
    k = rng.uniform(1.4, 1.8 - 0.35 * compact)
    spacing = k * d_mean
    y, x = hex_grid(rng, bounds, spacing=spacing, jitter=0.1)
    n = len(y)
    dia = np.clip(rng.lognormal(np.log(d_mean), 0.13, n), 10.0, 18.0)
    asp = rng.uniform(1.0, 1.5, n)
    a, b = dia / 2 * np.sqrt(asp), dia / 2 / np.sqrt(asp)
    y, x = relax(y, x, a, gap=1.0)
    keep = polygon_field(y, x) >= a + 0.5
    # Cytoplasm reach from the nuclear edge; neighbours share the space between
    # them, so the visible cell body is about the spacing (1.4-1.8 nuclear diameters).
    cyto = rng.uniform(0.45, 0.7, n) * dia
    cells = CellSet.new(y, x, a, b, rng.uniform(0, np.pi, n), kind=_TUMOR, cyto_um=cyto,
                        dispersed=False)
    return cells.subset(keep), spacing


def _dispersed_candidates(rng, region: Region, bounds, *, tight: float):
    """Single files (parallel wavy lines broken into chains) and single cells.

    ``tight`` in [0, 1] draws the files closer (used when a given number of
    cells must fit).
    """
    d_mean = rng.uniform(8.8, 10.0)
    step = rng.uniform(11.0, 14.0 - 2.0 * tight)
    gap_mean = rng.uniform(27.0, 50.0 - 20.0 * tight)
    phi = rng.uniform(0, np.pi)
    cu, su = np.cos(phi), np.sin(phi)
    cy, cx = region.center
    y0, x0, y1, x1 = bounds
    corners = np.array([[y0, x0], [y0, x1], [y1, x0], [y1, x1]]) - region.center
    u_c = corners[:, 1] * cu + corners[:, 0] * su
    v_c = -corners[:, 1] * su + corners[:, 0] * cu
    # All files follow one wavy stream (slope <= 0.6, so neighbouring files stay
    # >= 0.86 x their offset apart), each with a little wobble of its own.
    lam = rng.uniform(200.0, 500.0)
    amp = rng.uniform(0.2, 1.0) * 0.6 * lam / (2 * np.pi)
    ph = rng.uniform(0, 2 * np.pi)
    ys, xs, angs = [], [], []
    u_dense = np.arange(u_c.min() - 2 * step, u_c.max() + 2 * step, 1.0)
    v = v_c.min() - rng.uniform(0, gap_mean)
    while v < v_c.max() + gap_mean:
        wob, lam2, ph2 = rng.uniform(0, 3.0), rng.uniform(60.0, 150.0), rng.uniform(0, 2 * np.pi)
        v_dense = (v + amp * np.sin(2 * np.pi * u_dense / lam + ph)
                   + wob * np.sin(2 * np.pi * u_dense / lam2 + ph2))
        arc = np.concatenate([[0.0], np.cumsum(np.hypot(np.diff(u_dense), np.diff(v_dense)))])
        s_pos = rng.uniform(0, step) + np.cumsum(step * (1 + rng.normal(0, 0.06, int(arc[-1] / step) + 2)))
        s_pos = s_pos[s_pos < arc[-1]]
        u = np.interp(s_pos, arc, u_dense)
        vv = np.interp(s_pos, arc, v_dense) + rng.normal(0, 0.8, len(u))
        slope = np.interp(s_pos, arc, np.gradient(v_dense, u_dense))
        # break the file into chains of 5-25 cells separated by 1-3 missing cells;
        # now and then a chain is left out
        keep = np.zeros(len(u), dtype=bool)
        pos = -int(rng.integers(0, 25))
        while pos < len(u):
            length = int(rng.integers(5, 26))
            if rng.random() > 0.12:
                keep[max(pos, 0):max(pos + length, 0)] = True
            pos += length + int(rng.integers(1, 4))
        ys.append((cy + u * su + vv * cu)[keep])
        xs.append((cx + u * cu - vv * su)[keep])
        angs.append((phi + np.arctan(slope))[keep])
        v += float(np.clip(rng.normal(gap_mean, 8.0), 27.0, 60.0))
    y = np.concatenate(ys) if ys else np.zeros(0)
    x = np.concatenate(xs) if xs else np.zeros(0)
    ang = np.concatenate(angs) if angs else np.zeros(0)
    inside = region.depth(y, x) >= 6.0
    y, x, ang = y[inside], x[inside], ang[inside]
    # single cells between the files
    n_single = int(len(y) * rng.uniform(0.1, 0.3)) + 1
    sy = rng.uniform(y0, y1, 4 * n_single)
    sx = rng.uniform(x0, x1, 4 * n_single)
    ok = region.depth(sy, sx) >= 6.0
    if len(y):
        ok &= cKDTree(np.stack([y, x], 1)).query(np.stack([sy, sx], 1))[0] > 1.5 * step
    sy, sx = sy[ok][:n_single], sx[ok][:n_single]
    if len(sy) > 1:
        pairs = cKDTree(np.stack([sy, sx], 1)).query_pairs(1.5 * step, output_type="ndarray")
        drop = np.zeros(len(sy), bool)
        drop[pairs[:, 1]] = True
        sy, sx = sy[~drop], sx[~drop]
    y = np.concatenate([y, sy])
    x = np.concatenate([x, sx])
    ang = np.concatenate([ang + rng.normal(0, 0.2, len(ang)), rng.uniform(0, np.pi, len(sy))])
    n = len(y)
    dia = np.clip(rng.normal(d_mean, 0.5, n), 8.0, 11.0)
    asp = rng.uniform(1.0, 1.3, n)
    a, b = dia / 2 * np.sqrt(asp), dia / 2 / np.sqrt(asp)
    cyto = rng.uniform(0.25, 0.4, n) * dia
    cells = CellSet.new(y, x, a, b, ang, kind=_TUMOR, cyto_um=cyto, dispersed=True)
    return cells, step


def _radius(cells: CellSet) -> np.ndarray:
    return np.sqrt(cells.a * cells.b)


def _largest_linked_group(cells: CellSet) -> np.ndarray:
    """Mask of the largest group linked by nuclear gaps <= LINK_GAP_UM."""
    n = len(cells)
    if n <= 1:
        return np.ones(n, bool)
    r = _radius(cells)
    pairs = cKDTree(cells.yx).query_pairs(LINK_GAP_UM + 2 * r.max(), output_type="ndarray")
    d = np.hypot(*(cells.yx[pairs[:, 0]] - cells.yx[pairs[:, 1]]).T)
    pairs = pairs[d - r[pairs[:, 0]] - r[pairs[:, 1]] <= LINK_GAP_UM]
    graph = sparse.coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(n, n))
    _, comp = connected_components(graph, directed=False)
    return comp == np.argmax(np.bincount(comp))


def _grow_dispersed(rng, core: CellSet, cand: CellSet, n_take: int, region: Region, step: float):
    """Pick ``n_take`` dispersed candidates, each linked to the cells chosen so far."""
    if n_take == 0:
        return np.zeros(0, int)
    r = _radius(cand)
    gap = np.full(len(cand), np.inf)
    if len(core):
        dist, idx = cKDTree(core.yx).query(cand.yx, k=min(len(core), 8))
        dist, idx = np.atleast_2d(dist.T).T, np.atleast_2d(idx.T).T
        gap = (dist - r[:, None] - _radius(core)[idx]).min(1)
    chosen = np.zeros(len(cand), bool)
    proj = (cand.yx - region.center) @ region.axis
    order = []
    last = None
    if not len(core):
        first = int(rng.choice(np.argsort(proj)[:5]))
        order.append(first)
        chosen[first] = True
        last = first
        gap = np.minimum(gap, np.hypot(*(cand.yx - cand.yx[first]).T) - r - r[first])
    sign = 1.0
    while len(order) < n_take:
        frontier = ~chosen & (gap <= LINK_GAP_UM)
        if not frontier.any():
            return None
        pick = None
        if last is not None and rng.random() < 0.7:
            near = frontier & (np.hypot(*(cand.yx - cand.yx[last]).T) <= 1.6 * step)
            if near.any():
                pick = int(rng.choice(np.flatnonzero(near)))
        if pick is None:
            idx = np.flatnonzero(frontier)
            if rng.random() < 0.5:
                sign = -sign
                pick = int(idx[np.argmax(sign * proj[idx])])
            else:
                pick = int(rng.choice(idx))
        order.append(pick)
        chosen[pick] = True
        last = pick
        gap = np.minimum(gap, np.hypot(*(cand.yx - cand.yx[pick]).T) - r - r[pick])
    return np.array(order)


def _settle(cells: CellSet, region: Region, layout) -> CellSet:
    """Relax candidates, keep those inside the region and node and off vessels."""
    if not len(cells):
        return cells
    cells.y, cells.x = relax(cells.y, cells.x, cells.a, gap=1.0, iterations=4)
    ok = region.depth(cells.y, cells.x) >= cells.a + 0.5
    ok &= layout.depth(cells.y, cells.x) >= layout.capsule_um + cells.a + 2.0
    for vy, vx, ry, rx, ang, wall in layout.vessels:
        dy, dx = cells.y - vy, cells.x - vx
        u = dx * np.cos(ang) + dy * np.sin(ang)
        v = -dx * np.sin(ang) + dy * np.cos(ang)
        grow = wall + cells.a + 1.0
        ok &= (u / (rx + grow)) ** 2 + (v / (ry + grow)) ** 2 > 1.0
    cells = cells.subset(ok)
    return cells.subset(resolve_overlaps(cells, gap=1.0))


def _fill_region(rng, region: Region, layout, name: str):
    """Tumour cells of one region; with ``n_cells``, retry tighter packings before giving up."""
    if region.spec.n_cells is None:
        return _fill_once(rng, region, layout, 0.0)
    for tightness in (0.6, 0.8, 1.0, 1.0, 1.0):
        result = _fill_once(rng, region, layout, tightness)
        if result is not None:
            return result
    need = min_diameter_um(region.spec.n_cells, region.fraction)
    raise ValueError(
        f"{name}[{region.deposit_id - 1}]: n_cells={region.spec.n_cells} do not fit in a "
        f"{region.spec.diameter_um:g} µm deposit region; give diameter_um >= about {need:.0f} "
        f"or fewer n_cells"
    )


def _polygon_area(poly: np.ndarray) -> float:
    y, x = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def _candidates(rng, region, layout, bounds, *, want_core, want_disp, tightness):
    """Settled cohesive and dispersed candidates, each set covering the whole region."""
    core, disp = CellSet.empty(), CellSet.empty()
    spacing, step = 20.0, 12.5
    if want_core:
        core, spacing = _cohesive_candidates(rng, region.depth, bounds, compact=tightness)
    if want_disp:
        disp, step = _dispersed_candidates(rng, region, bounds, tight=tightness)
    return _settle(core, region, layout), _settle(disp, region, layout), spacing, step


def _body_reach(core: CellSet, disp: CellSet) -> float:
    """Centre distance below which a dispersed cell would touch a cohesive cell body."""
    return float((core.a + core.cyto_um).max() + disp.a.max() + 1.0)


def _split_mixed(core: CellSet, disp: CellSet, region: Region, f: float, rng):
    """Cohesive core (the deepest cohesive candidates) and the dispersed cells around it.

    The core size is the one whose remaining dispersed candidates give the
    dispersed fraction closest to ``f``.
    """
    if not len(core) or not len(disp):
        return core, disp
    depth = region.depth(core.y, core.x) + rng.normal(0.0, 4.0, len(core))
    core = core.subset(np.argsort(-depth, kind="stable"))
    # rank of the first core cell that excludes each dispersed candidate
    pairs = cKDTree(disp.yx).sparse_distance_matrix(
        cKDTree(core.yx), _body_reach(core, disp), output_type="ndarray")
    first = np.full(len(disp), len(core))
    np.minimum.at(first, pairs["i"], pairs["j"])
    k = np.arange(1, len(core) + 1)
    n_disp = len(disp) - np.cumsum(np.bincount(first, minlength=len(core) + 1))[:-1]
    frac = n_disp / (k + n_disp)
    best = int(k[np.argmin(np.abs(frac - f))])
    return core.subset(slice(0, best)), disp.subset(first >= best)


def _gland_lumens(rng, core: CellSet, region: Region, spacing: float):
    """A few small lumens inside larger cohesive cores; returns (lumens, core without them)."""
    lumens = np.zeros((0, 3))
    if len(core) <= 40 or rng.random() >= 0.5:
        return lumens, core
    area = 0.866 * spacing**2 * len(core)
    n_lum = int(rng.poisson(area / rng.uniform(15000.0, 40000.0)))
    if not n_lum:
        return lumens, core
    # centred on core cells with cohesive neighbours all around
    n_near = np.array([len(v) for v in cKDTree(core.yx).query_ball_point(core.yx, 2.2 * spacing)])
    inner = np.flatnonzero((n_near >= 12) & (region.depth(core.y, core.x) > 30.0))
    if not len(inner):
        return lumens, core
    pick = rng.choice(inner, min(n_lum, len(inner)), replace=False)
    lumens = np.column_stack([core.y[pick], core.x[pick], rng.uniform(5.0, 18.0, len(pick))])
    keep = np.ones(len(core), bool)
    for cy, cx, rr in lumens:
        keep &= np.hypot(core.y - cy, core.x - cx) >= rr + core.a + 1.0
    return lumens, core.subset(keep)


def _fill_once(rng, region: Region, layout, tightness: float):
    """One attempt; None when ``n_cells`` could not be placed."""
    spec = region.spec
    f = region.fraction
    n_req = spec.n_cells
    poly = region.polygon
    y0, x0 = poly.min(0) - 5.0
    y1, x1 = poly.max(0) + 5.0
    bounds = (y0, x0, y1, x1)

    if n_req is not None:
        n_disp_req = round(n_req * f)
        n_core = n_req - n_disp_req
        core, disp, spacing, step = _candidates(
            rng, region, layout, bounds, want_core=n_core > 0, want_disp=n_disp_req > 0,
            tightness=tightness)
        if n_core > len(core):
            return None
        if n_core:
            # a compact cluster around a point near the centre
            seed_pt = region.center + rng.normal(0, 0.1 * spec.diameter_um, 2)
            seed = np.argmin(np.hypot(*(core.yx - seed_pt).T))
            order = np.argsort(np.hypot(*(core.yx - core.yx[seed]).T), kind="stable")
            core = core.subset(order[:n_core])
            if len(disp):
                disp = disp.subset(cKDTree(core.yx).query(disp.yx)[0] > _body_reach(core, disp))
        pick = _grow_dispersed(rng, core, disp, n_disp_req, region, step)
        if pick is None:
            return None
        cells = CellSet.concat([core, disp.subset(pick)])
        lumens = np.zeros((0, 3))
    else:
        core, disp, spacing, step = _candidates(
            rng, region, layout, bounds, want_core=f < 1.0, want_disp=f > 0.0, tightness=0.0)
        if 0.0 < f < 1.0:
            core, disp = _split_mixed(core, disp, region, f, rng)
        lumens, core = _gland_lumens(rng, core, region, spacing)
        cells = CellSet.concat([core, disp])
        cells = cells.subset(resolve_overlaps(cells, gap=1.0))
        cells = cells.subset(_largest_linked_group(cells))
    cells.deposit[:] = region.deposit_id
    return cells, lumens


def fill_regions(rng, regions, layout, *, name: str = "deposits"):
    """Tumour cells for every region.

    Returns
    -------
    cells : CellSet
    lumens : (L, 3) float ndarray
        Gland lumens (cy, cx, r) in cohesive deposits.

    Raises
    ------
    ValueError
        When a region holds no tumour cell, or not the ``n_cells`` asked for.
    """
    parts, lumens = [], []
    for region in regions:
        cells, lum = _fill_region(rng, region, layout, name)
        if not len(cells):
            raise ValueError(
                f"{name}[{region.deposit_id - 1}]: no tumour cell fits in a "
                f"{region.spec.diameter_um:g} µm region at this place; give a larger diameter_um"
            )
        parts.append(cells)
        lumens.append(lum)
    lumens = np.concatenate(lumens) if lumens else np.zeros((0, 3))
    return CellSet.concat(parts), lumens
