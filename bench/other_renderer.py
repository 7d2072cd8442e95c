"""Nodes drawn by a second, deliberately crude renderer: does NodeScope generalise beyond its generator?

NodeScope is judged on images it has not seen, another generator's among them. This
renderer shares no code with ``pipeline.synthetic``: lymphocytes are discs, carcinoma
cells are ellipses with a rim, a nucleolus and eosinophilic (H&E) or DAB-filled
(cytokeratin IHC) cell bodies, composed in optical density (Beer-Lambert) with textbook
stain vectors. Its tumour nuclei are small (IHC: 6 µm, as small as the lymphocytes and
as real nuclear profiles), and its DAB fills the whole cell, nucleus included; both
differ from ``pipeline.synthetic``. Cases: a negative node, ITC-sized clusters (60 and
120 µm), a micrometastasis (300 µm), in IHC a 150 µm single file and a cluster under
faint diffuse DAB (0.08 OD), and (1 µm/px) an H&E macrometastasis (2.5 mm); each at 0.5
and 1.0 µm/px, through ``pipeline.analyze``.

Usage: python bench/other_renderer.py [--seed 1]
"""

from __future__ import annotations

import argparse

import cv2
import numpy as np
from scipy.spatial import cKDTree

HEMATOXYLIN = np.array([0.65, 0.70, 0.29])
EOSIN = np.array([0.07, 0.99, 0.11])
DAB = np.array([0.27, 0.57, 0.78])


def _lymphocyte_centres(rng, n_px, px, keep_out):
    sp = 7.5 / px
    ys, xs = np.mgrid[0:n_px:sp, 0:n_px:sp]
    yx = np.stack([ys.ravel(), xs.ravel()], 1) + rng.normal(0, sp * 0.25, (ys.size, 2))
    yx = yx[rng.random(len(yx)) < 0.85]
    return yx[keep_out(yx)]


def _to_rgb(rng, od):
    rgb = 245 * 10 ** (-od) + rng.normal(0, 2.0, od.shape)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def render_he(*, seed, px, side_um=800.0, nest_um=300.0):
    """H&E: lymphocytes around a round nest of large pale nuclei (nest_um 0: none)."""
    rng = np.random.default_rng(seed)
    n = int(side_um / px)
    h = np.zeros((n, n), np.float32)
    e = 0.25 + cv2.GaussianBlur(rng.normal(0, 0.08, (n, n)).astype(np.float32), (0, 0), 6)
    c, rn = n / 2, nest_um / 2 / px
    for y, x in _lymphocyte_centres(rng, n, px, lambda yx: np.hypot(*(yx - c).T) > rn + 4 / px if rn else
                                    np.ones(len(yx), bool)):
        cv2.circle(h, (int(x), int(y)), int(round(2.8 / px * rng.uniform(0.85, 1.15))),
                   float(rng.uniform(0.9, 1.3)), -1, lineType=cv2.LINE_AA)
    if rn:
        cyto = np.zeros_like(e)
        cv2.circle(cyto, (int(c), int(c)), int(rn), 0.25, -1)
        e += cv2.GaussianBlur(cyto, (0, 0), 3)
        sp = 2.6 * 5.5 / px
        ty, tx = np.mgrid[c - rn:c + rn:sp, c - rn:c + rn:sp]
        t = np.stack([ty.ravel(), tx.ravel()], 1) + rng.normal(0, sp * 0.12, (ty.size, 2))
        for y, x in t[np.hypot(*(t - c).T) < rn]:
            a = 5.5 / px * rng.uniform(0.8, 1.3)
            b = a * rng.uniform(0.7, 1.0)
            m = np.zeros((int(4 * a) + 3,) * 2, np.float32)
            k = m.shape[0] // 2
            ang = rng.uniform(0, 180)
            cv2.ellipse(m, (k, k), (int(a), int(b)), ang, 0, 360, 1.0, -1, lineType=cv2.LINE_AA)
            m *= 0.55 * (0.7 + 0.8 * cv2.GaussianBlur(rng.random(m.shape).astype(np.float32), (0, 0), 1.2))
            cv2.ellipse(m, (k, k), (int(a), int(b)), ang, 0, 360, 0.77, max(1, int(0.6 / px)), lineType=cv2.LINE_AA)
            cv2.circle(m, (k + int(rng.normal(0, a / 4)), k + int(rng.normal(0, a / 4))), max(1, int(0.9 / px)), 1.0, -1)
            y0, x0 = int(y) - k, int(x) - k
            if 0 <= y0 and 0 <= x0 and y0 + m.shape[0] <= n and x0 + m.shape[1] <= n:
                sl = h[y0:y0 + m.shape[0], x0:x0 + m.shape[1]]
                np.maximum(sl, m, out=sl)
    h = cv2.GaussianBlur(h, (0, 0), 0.5 / px)
    return _to_rgb(rng, h[..., None] * HEMATOXYLIN + e[..., None] * EOSIN)


def render_ihc(*, seed, px, side_um=800.0, nest_um=60.0, single_file=False, background_od=0.0):
    """Cytokeratin IHC: haematoxylin nuclei everywhere, DAB filling the tumour cells."""
    rng = np.random.default_rng(seed)
    n = int(side_um / px)
    h = np.zeros((n, n), np.float32)
    dab = np.full((n, n), background_od, np.float32)
    if background_od:
        dab += np.abs(cv2.GaussianBlur(rng.normal(0, background_od / 2, (n, n)).astype(np.float32), (0, 0), 8))
    c, rn = n / 2, nest_um / 2 / px
    if single_file:
        ty = c + np.arange(-rn, rn, 13 / px)
        t = np.stack([ty, c + 0.15 * (ty - c)], 1)
    else:
        ty, tx = np.mgrid[c - rn:c + rn:13 / px, c - rn:c + rn:13 / px]
        t = np.stack([ty.ravel(), tx.ravel()], 1)
        t = t[np.hypot(*(t - c).T) < rn]
    tree = cKDTree(t) if len(t) else None
    for y, x in _lymphocyte_centres(rng, n, px, lambda yx: tree.query(yx)[0] > 10 / px if tree else
                                    np.ones(len(yx), bool)):
        cv2.circle(h, (int(x), int(y)), int(round(2.8 / px * rng.uniform(0.85, 1.15))),
                   float(rng.uniform(0.5, 0.8)), -1, lineType=cv2.LINE_AA)
    for y, x in t:
        cv2.circle(dab, (int(x), int(y)), int(round(6.25 / px)), 0.5 * float(rng.uniform(0.8, 1.2)), -1,
                   lineType=cv2.LINE_AA)
        cv2.circle(h, (int(x), int(y)), int(round(3.0 / px)), 0.35, -1, lineType=cv2.LINE_AA)
    h = cv2.GaussianBlur(h, (0, 0), 0.5 / px)
    dab = cv2.GaussianBlur(dab, (0, 0), 0.5 / px)
    return _to_rgb(rng, h[..., None] * HEMATOXYLIN + dab[..., None] * DAB + 0.03), len(t)


def main() -> None:
    from pipeline.analysis import analyze

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    cases = []
    for px in (0.5, 1.0):
        cases += [("he", "negative", px, dict(nest_um=0.0)), ("he", "itc", px, dict(nest_um=60.0)),
                  ("he", "itc", px, dict(nest_um=120.0)), ("he", "micrometastasis", px, dict(nest_um=300.0)),
                  ("ihc", "negative", px, dict(nest_um=0.0)), ("ihc", "itc", px, dict(nest_um=60.0)),
                  ("ihc", "micrometastasis", px, dict(nest_um=300.0)),
                  ("ihc", "itc", px, dict(nest_um=150.0, single_file=True)),
                  ("ihc", "itc", px, dict(nest_um=60.0, background_od=0.08))]
    cases.append(("he", "macrometastasis", 1.0, dict(nest_um=2500.0, side_um=3000.0)))
    right = 0
    print(f"{'stain':5s} {'px':>4s} {'case':34s} {'truth':15s} {'found':15s} {'largest µm':>10s} {'cells':>6s}")
    for k, (stain, truth, px, kw) in enumerate(cases):
        seed = args.seed + k
        rgb = render_he(seed=seed, px=px, **kw) if stain == "he" else render_ihc(seed=seed, px=px, **kw)[0]
        s = analyze(rgb, pixel_size_um=px).summary()
        ok = s["category"] == truth and s["stain"] == stain
        right += ok
        case = ", ".join(f"{a}={b:g}" if isinstance(b, float) else f"{a}={b}" for a, b in kw.items())
        print(f"{stain:5s} {px:4.1f} {case:34s} {truth:15s} {s['category']:15s} {s['largest_deposit_um']:10.0f} "
              f"{s['tumor_cell_count']:6d}{'' if ok else '  <-- wrong'}")
    print(f"right: {right} of {len(cases)} (stain and category)")


if __name__ == "__main__":
    main()
