"""Rasterise a node laid out in µm at a pixel size, and stain it (Beer–Lambert).

Each pixel (r, c) covers y in [r * px, (r + 1) * px) and x in [c * px, (c + 1) * px)
micrometres. Nuclei are drawn as filled ellipses into an instance label image;
optical-density maps of haematoxylin, eosin and DAB are then built from per-cell
look-up tables indexed by that image, smooth texture fields and the tissue
structures, and turned into RGB with the Beer–Lambert law.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .cells import KINDS, CellSet
from .geometry import NodeLayout, inside_ellipses
from .staining import Acquisition, beer_lambert

__all__ = ["Rendered", "render_node"]

_K = {name: i for i, name in enumerate(KINDS)}
_SHIFT = 4
_ONE = 1 << _SHIFT


@dataclass
class Rendered:
    rgb: np.ndarray
    labels: np.ndarray
    tumor_mask: np.ndarray
    tissue_mask: np.ndarray


def _fixed(v):
    """Pixel coordinates (float) to cv2 fixed point."""
    return int(round(float(v) * _ONE))


def _to_px(v_um, px):
    """µm coordinate to pixel coordinate where integers are pixel centres."""
    return np.asarray(v_um, dtype=float) / px - 0.5


def _smoothstep(x, lo, hi):
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return t * t * (3 - 2 * t)


def _smooth_noise(rng, size_um, shape, px, scale_um):
    """Zero-mean, unit-variance-ish noise with features of ``scale_um``, defined in µm.

    The random grid depends only on ``size_um`` and ``scale_um``, so the same
    field is sampled at every pixel size.
    """
    gh = int(np.ceil(size_um[0] / scale_um)) + 3
    gw = int(np.ceil(size_um[1] / scale_um)) + 3
    grid = rng.standard_normal((gh, gw)).astype(np.float32)
    out_h = max(1, int(round(gh * scale_um / px)))
    out_w = max(1, int(round(gw * scale_um / px)))
    field = cv2.resize(grid, (out_w, out_h), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(field[: shape[0], : shape[1]]) / np.float32(0.75)


def _fine_noise(rng, shape, px, scale_um):
    """Pixel-level grain (chromatin, fibres) of about ``scale_um``, unit variance."""
    noise = rng.standard_normal(shape, dtype=np.float32)
    sigma = max(scale_um / px, 0.5)
    noise = cv2.GaussianBlur(noise, (0, 0), sigma)
    sd = float(noise[:: max(1, shape[0] // 256), :: max(1, shape[1] // 256)].std()) or 1.0
    noise /= np.float32(sd)
    return noise


def _appearance(rng, cells: CellSet, layout: NodeLayout):
    """Per-cell look-up tables (index 0 = background), drawn in µm terms only."""
    n = len(cells)
    kind = cells.kind
    coh = (kind == _K["tumor"]) & ~cells.dispersed
    dis = (kind == _K["tumor"]) & cells.dispersed

    def per_kind(table):
        lo = np.array([table[k][0] for k in KINDS])[kind]
        hi = np.array([table[k][1] for k in KINDS])[kind]
        return rng.uniform(0, 1, n) * (hi - lo) + lo

    # plasma cells: moderately dark between coarse chromatin clumps (added below);
    # mitotic figures: very dark, clumpy chromosomes in a clear halo
    h = per_kind({
        "lymphocyte": (1.05, 1.40), "histiocyte": (0.42, 0.60), "germinal_centre": (0.50, 0.72),
        "endothelial": (0.75, 1.00), "tumor": (0.42, 0.68), "stromal": (0.90, 1.25),
        "plasma_cell": (0.70, 0.90), "mitotic_figure": (1.50, 1.90)})
    h[dis] = rng.uniform(0.62, 0.85, dis.sum())
    # follicle mantles: small, tightly packed, darker lymphocytes
    mantle = (kind == _K["lymphocyte"]) & (inside_ellipses(cells.y, cells.x, layout.follicles) >= 0)
    mantle &= inside_ellipses(cells.y, cells.x, layout.germinal_centres) < 0
    h[mantle] *= 1.15
    rim = per_kind({
        "lymphocyte": (0.05, 0.15), "histiocyte": (0.25, 0.45), "germinal_centre": (0.4, 0.7),
        "endothelial": (0.05, 0.15), "tumor": (0.6, 1.1), "stromal": (0.0, 0.1),
        "plasma_cell": (0.35, 0.55), "mitotic_figure": (0.0, 0.1)})
    rim[dis] = rng.uniform(0.15, 0.35, dis.sum())
    tex = per_kind({
        "lymphocyte": (0.12, 0.2), "histiocyte": (0.1, 0.18), "germinal_centre": (0.18, 0.28),
        "endothelial": (0.1, 0.15), "tumor": (0.3, 0.45), "stromal": (0.08, 0.12),
        "plasma_cell": (0.12, 0.18), "mitotic_figure": (0.45, 0.60)})
    tex[dis] = rng.uniform(0.15, 0.25, dis.sum())
    # nucleoli: offsets (u, v) in the nucleus frame, radius and OD
    nuc = np.zeros((2, 4, n))
    for slot in range(2):
        p = np.zeros(n)
        p[coh] = 1.0 if slot == 0 else 0.45
        p[dis] = 0.3 if slot == 0 else 0.0
        p[kind == _K["germinal_centre"]] = 0.8 if slot == 0 else 0.4
        p[kind == _K["histiocyte"]] = 0.5 if slot == 0 else 0.0
        has = rng.random(n) < p
        peripheral = kind == _K["germinal_centre"]
        rho = np.where(peripheral, rng.uniform(0.55, 0.7, n), rng.uniform(0.0, 0.5, n))
        t = rng.uniform(0, 2 * np.pi, n)
        nuc[slot, 0] = rho * cells.a * np.cos(t)
        nuc[slot, 1] = rho * cells.b * np.sin(t)
        nuc[slot, 2] = np.where(has, np.where(coh, rng.uniform(0.7, 1.4, n), rng.uniform(0.45, 0.8, n)), 0.0)
        nuc[slot, 3] = np.where(coh, rng.uniform(0.8, 1.4, n), rng.uniform(0.5, 0.9, n))
    # cytoplasm
    deposit_factor = np.ones(n)
    if (cells.deposit > 0).any():
        per_dep = rng.uniform(0.8, 1.2, cells.deposit.max() + 1)
        deposit_factor = np.where(cells.deposit > 0, per_dep[np.maximum(cells.deposit, 0)], 1.0)
    cyto_e = per_kind({
        "lymphocyte": (0.1, 0.15), "histiocyte": (0.08, 0.16), "germinal_centre": (0.06, 0.1),
        "endothelial": (0.15, 0.25), "tumor": (0.25, 0.45), "stromal": (0.3, 0.4),
        "plasma_cell": (0.16, 0.24), "mitotic_figure": (0.03, 0.06)})
    cyto_e[dis] = rng.uniform(0.14, 0.26, dis.sum())
    cyto_e *= deposit_factor
    cyto_d = np.zeros(n)
    tum = kind == _K["tumor"]
    cyto_d[tum] = rng.uniform(0.35, 1.0, tum.sum()) * deposit_factor[tum]
    mem_d = np.where(tum, rng.uniform(0.25, 0.7, n) * cyto_d, 0.0)

    def lut(v):
        return np.concatenate([[0.0], v]).astype(np.float32)

    # plasma cells (drawn only when there are any, so other nodes keep their draws):
    # clock-face chromatin of 5-7 peripheral clumps plus a central one, amphophilic
    # (haematoxylin-tinged) cytoplasm and a pale perinuclear halo (Golgi zone)
    plasma = kind == _K["plasma_cell"]
    extra = {"is_plasma": np.concatenate([[False], plasma])}
    if plasma.any():
        extra.update({
            "clock_n": lut(rng.integers(5, 8, n)), "clock_phase": lut(rng.uniform(0, 2 * np.pi, n)),
            "clock_od": lut(rng.uniform(0.55, 0.8, n)), "cyto_h": lut(rng.uniform(0.16, 0.24, n)),
            "halo_um": lut(rng.uniform(1.0, 1.6, n)),
        })

    return {
        **extra,
        "h": lut(h), "rim": lut(rim), "tex": lut(tex),
        "nucleoli": [[lut(nuc[s, k]) for k in range(4)] for s in range(2)],
        "e_nuc": lut(rng.uniform(0.04, 0.1, n)),
        "cyto_e": lut(cyto_e), "cyto_d": lut(cyto_d), "mem_d": lut(mem_d),
        "cyto_um": lut(cells.cyto_um), "is_tumor": np.concatenate([[False], tum]),
        "is_histio": np.concatenate([[False], kind == _K["histiocyte"]]),
        "levels": {  # slide-level tissue optical densities
            "e_cortex": rng.uniform(0.10, 0.18), "e_sinus": rng.uniform(0.05, 0.09),
            "e_capsule": rng.uniform(0.3, 0.45), "lamella_um": rng.uniform(3.0, 6.0),
            "dab_background": rng.uniform(0.015, 0.05), "e_rbc": rng.uniform(0.8, 1.1),
            "fat_wall": rng.uniform(0.35, 0.5),
        },
    }


def _draw_labels(cells: CellSet, shape, px, rng_notch):
    labels = np.zeros(shape, dtype=np.int32)
    ids = np.arange(1, len(cells) + 1)
    cy, cx = _to_px(cells.y, px), _to_px(cells.x, px)
    a, b = cells.a / px, cells.b / px
    deg = np.degrees(cells.angle)
    histio = np.flatnonzero(cells.kind == _K["histiocyte"])
    tumor = cells.kind == _K["tumor"]
    rest = np.flatnonzero((cells.kind != _K["histiocyte"]) & ~tumor)
    notch = rng_notch.random(len(cells)) < 0.5
    for i in histio:
        cv2.ellipse(labels, (_fixed(cx[i]), _fixed(cy[i])), (_fixed(a[i]), _fixed(b[i])), deg[i], 0, 360,
                    int(ids[i]), -1, cv2.LINE_8, _SHIFT)
        if notch[i]:  # kidney-shaped nucleus: a bite out of one long side
            t = cells.angle[i]
            ny, nx = cy[i] + 1.05 * b[i] * np.cos(t), cx[i] - 1.05 * b[i] * np.sin(t)
            cv2.ellipse(labels, (_fixed(nx), _fixed(ny)), (_fixed(0.35 * a[i]), _fixed(0.45 * b[i])),
                        deg[i], 0, 360, 0, -1, cv2.LINE_8, _SHIFT)
    for i in np.concatenate([rest, np.flatnonzero(tumor)]):
        cv2.ellipse(labels, (_fixed(cx[i]), _fixed(cy[i])), (_fixed(max(a[i], 0.3)), _fixed(max(b[i], 0.3))),
                    deg[i], 0, 360, int(ids[i]), -1, cv2.LINE_8, _SHIFT)
    return labels


def _fill_ellipses(mask, ellipses, px, value=1, grow=0.0):
    for cy, cx, ry, rx, ang in ellipses:
        if not np.isfinite(cy):
            continue
        cv2.ellipse(mask, (_fixed(_to_px(cx, px)), _fixed(_to_px(cy, px))),
                    (_fixed((rx + grow) / px), _fixed((ry + grow) / px)), float(np.degrees(ang)), 0, 360,
                    value, -1, cv2.LINE_8, _SHIFT)
    return mask


def _fill_discs(mask, discs, px, value=1.0, scale=1.0):
    for cy, cx, r in discs:
        cv2.circle(mask, (_fixed(_to_px(cx, px)), _fixed(_to_px(cy, px))), max(1, _fixed(r * scale / px)),
                   value, -1, cv2.LINE_8, _SHIFT)
    return mask


def render_node(layout: NodeLayout, cells: CellSet, *, stain: str, pixel_size_um: float,
                acquisition: Acquisition, appearance_rng, noise_rng, jpeg_quality=None,
                dab_background_od=None) -> Rendered:
    """Draw ``cells`` (ids 1..N in order) and ``layout`` at ``pixel_size_um`` µm/px
    (``dab_background_od``: mean non-specific DAB of the tissue in IHC, default 0.015-0.05)."""
    px = float(pixel_size_um)
    h_um, w_um = layout.size_um
    shape = (int(round(h_um / px)), int(round(w_um / px)))
    he = stain == "he"
    look = _appearance(appearance_rng, cells, layout)
    lv = look["levels"]
    if dab_background_od is not None:
        lv["dab_background"] = float(dab_background_od)
    # smooth fields in µm (identical at every pixel size)
    wobble = _smooth_noise(appearance_rng, layout.size_um, shape, px, 6.0)
    reticulum = _smooth_noise(appearance_rng, layout.size_um, shape, px, 4.0)
    uneven = _smooth_noise(appearance_rng, layout.size_um, shape, px, 300.0)
    fibres = _smooth_noise(appearance_rng, layout.size_um, shape, px, 25.0)

    labels = _draw_labels(cells, shape, px, appearance_rng)
    nuclei = labels > 0

    # ---- tissue: node and perinodal fat ----
    node = np.zeros(shape, np.uint8)
    outline_px = np.round(_to_px(layout.outline[:, ::-1], px) * _ONE).astype(np.int32)
    cv2.fillPoly(node, [outline_px], 1, cv2.LINE_8, _SHIFT)
    fat = np.zeros(shape, np.uint8)
    fat_walls = np.zeros(shape, bool)
    if len(layout.fat):
        discs = np.column_stack([layout.fat, np.full(len(layout.fat), layout.fat_radius_um * 1.08)])
        _fill_discs(fat, discs, px, 1)
        fat &= 1 - node
        seeds = np.ones(shape, np.uint8)
        for cy, cx in layout.fat:
            r, c = int(cy // px), int(cx // px)
            if 0 <= r < shape[0] and 0 <= c < shape[1]:
                seeds[r, c] = 0
        _, lab = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 3, labelType=cv2.DIST_LABEL_PIXEL)
        edge = np.zeros(shape, bool)
        edge[:-1] |= lab[:-1] != lab[1:]
        edge[:, :-1] |= lab[:, :-1] != lab[:, 1:]
        inner = cv2.erode(fat, np.ones((3, 3), np.uint8))
        edge |= (fat > 0) & (inner == 0)
        k = max(1, int(round(layout.fat_wall_um / px)))
        fat_walls = (cv2.dilate(edge.astype(np.uint8), np.ones((k, k), np.uint8)) > 0) & (fat > 0)
    tissue = (node > 0) | (fat > 0)
    depth = cv2.distanceTransform(node, cv2.DIST_L2, 5) * np.float32(px)

    # ---- cell bodies: each pixel near a nucleus with cytoplasm belongs to the nearest one ----
    cyto_lut = look["cyto_um"]
    seed_labels = np.where(cyto_lut[labels] > 0, labels, 0)
    seeds = (seed_labels == 0).astype(np.uint8)
    dist, lab = cv2.distanceTransformWithLabels(seeds, cv2.DIST_L2, 5, labelType=cv2.DIST_LABEL_PIXEL)
    owner_of = np.concatenate([[0], seed_labels[seed_labels > 0]]).astype(np.int32)
    owner = owner_of[lab]
    del lab
    reach = cyto_lut[owner] * (1.0 + 0.25 * np.clip(wobble, -1.5, 1.5))
    halo = None
    if look["is_plasma"].any():  # eccentric nucleus: cytoplasm mostly on the side ``angle`` points to
        pr, pc = np.nonzero(look["is_plasma"][owner] & (dist * np.float32(px) <= 2.0 * cyto_lut[owner]))
        o = owner[pr, pc]
        dy = (pr + 0.5) * px - cells.y[o - 1]
        dx = (pc + 0.5) * px - cells.x[o - 1]
        cos = ((dy * np.sin(cells.angle[o - 1]) + dx * np.cos(cells.angle[o - 1]))
               / np.maximum(np.hypot(dy, dx), 1e-6))
        reach[pr, pc] *= (1.0 + 0.8 * cos).astype(np.float32)
        near = (dist[pr, pc] * px < look["halo_um"][o]) & (cos > 0.2)
        halo = (pr[near], pc[near])
        del pr, pc, o, dy, dx, cos, near
    body = (dist * np.float32(px) <= reach) & ~nuclei & (owner > 0) & (node > 0)
    del dist, reach
    lumens = _fill_discs(np.zeros(shape, np.uint8), layout.lumens, px, 1) > 0
    body &= ~lumens
    cellmap = np.where(body, owner, seed_labels)
    membrane = np.zeros(shape, bool)
    membrane[:-1] |= cellmap[:-1] != cellmap[1:]
    membrane[1:] |= cellmap[1:] != cellmap[:-1]
    membrane[:, :-1] |= cellmap[:, :-1] != cellmap[:, 1:]
    membrane[:, 1:] |= cellmap[:, 1:] != cellmap[:, :-1]
    membrane &= body
    if px < 0.75:
        membrane = (cv2.dilate(membrane.astype(np.uint8), np.ones((2, 2), np.uint8)) > 0) & body
    is_tumor = look["is_tumor"]
    tumor_mask = is_tumor[labels] | (body & is_tumor[owner])

    # ---- optical density maps ----
    H = np.zeros(shape, np.float32)
    E = np.zeros(shape, np.float32)
    D = np.zeros(shape, np.float32)
    cap, sin = layout.capsule_um, layout.sinus_um
    w_cap = 1.0 - _smoothstep(depth, cap - 3.0, cap + 3.0)
    w_cortex = _smoothstep(depth, cap + sin - 6.0, cap + sin + 6.0)
    w_sinus = 1.0 - w_cap - w_cortex
    lamella = 0.5 + 0.5 * np.sin(2 * np.pi * depth / np.float32(lv["lamella_um"]) + 2.0 * fibres)
    gc = _fill_ellipses(np.zeros(shape, np.uint8), layout.germinal_centres, px) > 0
    inside = node > 0
    if he:
        E[:] = (w_cap * lv["e_capsule"] * (0.7 + 0.45 * lamella)
                + w_sinus * lv["e_sinus"] * (1.0 + 0.35 * reticulum)
                + w_cortex * lv["e_cortex"] * (1.0 + 0.3 * reticulum) * np.where(gc, 0.8, 1.0))
        H[:] = w_cap * 0.03 + w_sinus * 0.03 + w_cortex * np.where(gc, 0.08, 0.05)
    else:
        H[:] = w_cap * 0.05 * (0.6 + 0.6 * lamella) + w_sinus * 0.025 + w_cortex * np.where(gc, 0.06, 0.04)
        D[:] = lv["dab_background"] * np.clip(1.0 + 0.5 * uneven, 0.3, 2.0)
    if layout.medulla is not None:  # medullary sinuses: pale like the subcapsular sinus
        ms = layout.medulla.sinus.raster(shape, px) * w_cortex
        if he:
            E[:] = E * (1.0 - ms) + ms * lv["e_sinus"] * (1.0 + 0.35 * reticulum)
            H[:] = H * (1.0 - ms) + ms * 0.03
        else:
            H[:] = H * (1.0 - ms) + ms * 0.025
        del ms
    if len(layout.trabeculae):  # fibrous trabeculae: collagen like the capsule
        trab = np.zeros(shape, np.uint8)
        for y0, x0, y1, x1, hw in layout.trabeculae:
            cv2.line(trab, (_fixed(_to_px(x0, px)), _fixed(_to_px(y0, px))),
                     (_fixed(_to_px(x1, px)), _fixed(_to_px(y1, px))), 1,
                     max(1, int(round(2 * hw / px))), cv2.LINE_8, _SHIFT)
        trab = trab.astype(bool)
        if he:
            E[trab] = lv["e_capsule"] * (0.8 + 0.25 * np.clip(fibres[trab], -1.5, 1.5))
            H[trab] = 0.03
        else:
            H[trab] = 0.05 * (0.9 + 0.25 * np.clip(fibres[trab], -1.5, 1.5))
        del trab
    H *= inside
    E *= inside
    D *= tissue
    # perinodal fat: empty adipocytes with thin walls
    if fat_walls.any():
        (E if he else H)[fat_walls] = lv["fat_wall"] * (1.0 if he else 0.25)
    # vessels: pale lumen, eosinophilic wall, red cells
    if len(layout.vessels):
        ellipses = [(v[0], v[1], v[2], v[3], v[4]) for v in layout.vessels]
        walls = _fill_ellipses(np.zeros(shape, np.uint8), ellipses, px, 1)
        lumen = walls > 0
        outer = np.zeros(shape, np.uint8)
        for v in layout.vessels:
            _fill_ellipses(outer, [(v[0], v[1], v[2], v[3], v[4])], px, 1, grow=float(v[5]))
        ring = (outer > 0) & ~lumen
        if he:
            E[lumen] = 0.04
            E[ring] = np.maximum(E[ring], 0.3)
        else:
            H[lumen] = 0.01
            D[lumen] *= 0.5
        rbc = np.zeros(shape, np.float32)
        _fill_discs(rbc, layout.rbc, px, 1.0)
        _fill_discs(rbc, layout.rbc, px, 0.7, scale=0.45)
        rbc *= lumen
        if he:
            E += rbc * np.float32(lv["e_rbc"])
        else:
            D += rbc * np.float32(0.12)
    # nuclei
    rows, cols = np.nonzero(nuclei)
    idx = labels[rows, cols]
    yy = (rows.astype(np.float32) + 0.5) * np.float32(px) - cells.y[idx - 1].astype(np.float32)
    xx = (cols.astype(np.float32) + 0.5) * np.float32(px) - cells.x[idx - 1].astype(np.float32)
    ca = np.cos(cells.angle).astype(np.float32)[idx - 1]
    sa = np.sin(cells.angle).astype(np.float32)[idx - 1]
    u = xx * ca + yy * sa
    v = -xx * sa + yy * ca
    del xx, yy, ca, sa
    semi_a = cells.a.astype(np.float32)[idx - 1]
    semi_b = cells.b.astype(np.float32)[idx - 1]
    rho = np.sqrt((u / semi_a) ** 2 + (v / semi_b) ** 2)
    clock = None
    if look["is_plasma"].any():  # coarse chromatin clumps around the rim and one in the middle
        sel = np.flatnonzero(look["is_plasma"][idx])
        ids = idx[sel]
        theta = np.arctan2(v[sel] / semi_b[sel], u[sel] / semi_a[sel])
        wave = np.cos(look["clock_n"][ids] * theta + look["clock_phase"][ids])
        spokes = np.clip((wave - 0.2) / 0.5, 0.0, 1.0)
        ring = _smoothstep(rho[sel], 0.35, 0.6) * (1.0 - _smoothstep(rho[sel], 0.95, 1.05))
        centre = 1.0 - _smoothstep(rho[sel], 0.18, 0.3)
        clock = (sel, look["clock_od"][ids] * np.maximum(spokes * ring, centre))
        del ids, theta, wave, spokes, ring, centre
    del semi_a, semi_b
    rim_w = np.float32(max(0.25, 0.9 * px / 5.0))
    profile = 1.0 + look["rim"][idx] * _smoothstep(rho, 1.0 - rim_w, 1.0)
    grain = _fine_noise(noise_rng, shape, px, 0.45)
    h_nuc = look["h"][idx] * profile * np.clip(1.0 + look["tex"][idx] * grain[rows, cols], 0.2, 2.5)
    if clock is not None:
        h_nuc[clock[0]] += clock[1]
    e_nuc = look["e_nuc"][idx].copy()
    for slot in look["nucleoli"]:
        nu, nv, nr, nod = (t[idx] for t in slot)
        dn = np.sqrt((u - nu) ** 2 + (v - nv) ** 2)
        w = np.clip((nr - dn) / np.float32(max(px, 0.3)) + 0.5, 0.0, 1.0) * (nr > 0)
        h_nuc += w * nod
        if he:
            e_nuc += w * np.float32(0.25)
    del u, v, rho, profile
    H[rows, cols] = h_nuc
    E[rows, cols] = e_nuc if he else 0.0
    D[rows, cols] = 0.0 if he else lv["dab_background"] * 0.5
    del rows, cols, idx, h_nuc, e_nuc
    # cytoplasm
    br, bc = np.nonzero(body)
    o = owner[br, bc]
    mem = membrane[br, bc].astype(np.float32)
    foam = np.where(look["is_histio"][o], 0.4, 0.12).astype(np.float32)
    texture = np.clip(1.0 + foam * grain[br, bc], 0.3, 2.0)
    if he:
        E[br, bc] = look["cyto_e"][o] * texture * (1.0 + 0.35 * mem)
        H[br, bc] = np.where(is_tumor[o], 0.06, 0.02).astype(np.float32)
    else:
        grainy = np.clip(0.75 + 0.25 * grain[br, bc], 0.4, 1.3)
        D[br, bc] = look["cyto_d"][o] * grainy + look["mem_d"][o] * mem
        H[br, bc] = np.where(look["is_histio"][o], 0.035, 0.02).astype(np.float32)
    if halo is not None:  # amphophilic plasma-cell cytoplasm with a pale perinuclear halo
        pl = look["is_plasma"][o]
        H[br[pl], bc[pl]] = look["cyto_h"][o[pl]] * (texture[pl] if he else np.float32(0.4))
        hr, hc = halo[0], halo[1]
        in_body = body[hr, hc]
        hr, hc = hr[in_body], hc[in_body]
        H[hr, hc] *= np.float32(0.3)
        E[hr, hc] *= np.float32(0.35)
        del pl, hr, hc, in_body
    del br, bc, o, mem, texture
    # tingible bodies: dark nuclear debris inside germinal-centre macrophages
    if len(layout.apoptotic):
        apo = _fill_discs(np.zeros(shape, np.float32), layout.apoptotic, px, 1.0)
        apo *= body & look["is_histio"][owner]
        H += apo * np.float32(1.8)
    # gland lumens
    if lumens.any():
        H[lumens] = 0.01
        E[lumens] = 0.03 if he else 0.0
        D[lumens] = 0.0
    # non-specific DAB specks (no nucleus) in IHC
    if not he and len(layout.debris):
        speck = _fill_discs(np.zeros(shape, np.float32), layout.debris, px, 1.0)
        D += speck * np.float32(1.2) * (~nuclei)
    del owner, body, membrane, cellmap, seed_labels, grain

    # glass: a whisper of colour and dust
    glass = ~tissue
    E[glass] = 0.004 if he else 0.0
    H[glass] = 0.004
    # uneven staining across the slide
    gain = np.clip(1.0 + 0.08 * uneven, 0.75, 1.25)
    s = acquisition.strengths
    H *= gain * np.float32(s[0])
    E *= gain * np.float32(s[1])
    D *= gain * np.float32(s[2])
    del gain, uneven, wobble, reticulum, fibres, lamella, depth, w_cap, w_sinus, w_cortex
    intensity = beer_lambert([H, E, D], acquisition.vectors, acquisition.background)
    del H, E, D
    sigma = acquisition.blur_um / px
    if sigma > 0.2:
        intensity = cv2.GaussianBlur(intensity, (0, 0), sigma)
    if acquisition.noise_sigma > 0:
        for c in range(3):
            intensity[..., c] += noise_rng.standard_normal(shape, dtype=np.float32) * np.float32(
                acquisition.noise_sigma)
    rgb = np.clip(np.rint(intensity), 0, 255).astype(np.uint8)
    del intensity
    if jpeg_quality is not None:
        ok, buf = cv2.imencode(".jpg", rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        rgb = np.ascontiguousarray(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return Rendered(rgb=rgb, labels=labels, tumor_mask=tumor_mask, tissue_mask=tissue)
