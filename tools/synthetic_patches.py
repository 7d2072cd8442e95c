"""PatchCamelyon-like patches cut from synthetic H&E nodes, for training the tumour map.

The tumour-map network is trained mainly on real PatchCamelyon patches; these synthetic
patches are mixed in so that it also recognises carcinoma as rendered by
:mod:`pipeline.synthetic` (ITC clusters, cohesive nests, single files) and keeps the
generator's benign look-alikes (germinal centres, sinus histiocytes, plasma cells, high
endothelial venules; ``benign="typical"`` / ``"reactive"``) negative. Each patch is 96 x 96 px
at the network's pixel size; its label follows PatchCamelyon's rule: 1 when a tumour pixel
lies in the centre 32 x 32 px.

With ``--lookalikes F`` that fraction of each node's negative patches is centred (within
8 px) on one of its benign look-alike nuclei (high endothelial venules, germinal-centre cells,
sinus histiocytes, plasma cells, mitoses, stromal cells; a kind chosen uniformly among those
present, then a nucleus of it): placed at random, a patch rarely has a venule in its centre, and
the map read a venule's ring of plump endothelium as a small tumour cluster (``bench/accuracy.py``
false ITCs).

Seeds 300000+ (disjoint from the benches' 90000-97999 and the tests').

Usage: python tools/synthetic_patches.py --out synthetic_patches.npz [--nodes 160] [--per-node 40]
                                         [--lookalikes 0.5]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

PATCH, CENTRE = 96, 32
SEED0 = 300000
CATEGORIES = ("negative", "itc", "itc", "micrometastasis", "micrometastasis", "macrometastasis")
PATTERNS = ("cohesive", "single_file", "mixed")
BENIGN = ("simple", "typical", "reactive")


def node_patches(args):
    """Patches of one synthetic node: about half tumour (when it has tumour), half not."""
    from pipeline.synthetic import make_node_category
    from pipeline.synthetic.cells import LOOKALIKE_KINDS

    k, per_node, pixel_size_um, lookalikes = args
    rng = np.random.default_rng(SEED0 + k)
    cat = CATEGORIES[k % len(CATEGORIES)]
    node = make_node_category(cat, stain="he", pattern="none" if cat == "negative" else PATTERNS[k % 3],
                              pixel_size_um=pixel_size_um, seed=SEED0 + k, benign=BENIGN[(k // 6) % 3],
                              jpeg_quality=int(rng.choice([0, 60, 75, 90])) or None)
    rgb, tumour, tissue = node.rgb, node.tumor_mask, node.tissue_mask
    m, n = tumour.shape
    if m < PATCH or n < PATCH:
        return np.zeros((0, PATCH, PATCH, 3), np.uint8), np.zeros(0, np.uint8)
    half = (PATCH - CENTRE) // 2
    # a patch's label: any tumour pixel in its centre square (integral image)
    ii = np.pad(tumour.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    tt = np.pad(tissue.astype(np.int32).cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    ys, xs = np.mgrid[0:m - PATCH + 1:4, 0:n - PATCH + 1:4]
    ys, xs = ys.ravel(), xs.ravel()
    cy, cx = ys + half, xs + half
    centre = ii[cy + CENTRE, cx + CENTRE] - ii[cy, cx + CENTRE] - ii[cy + CENTRE, cx] + ii[cy, cx]
    tissue_frac = (tt[ys + PATCH, xs + PATCH] - tt[ys, xs + PATCH] - tt[ys + PATCH, xs] + tt[ys, xs]) / PATCH**2
    ok = tissue_frac > 0.3
    pos = np.flatnonzero(ok & (centre > 0))
    neg = np.flatnonzero(ok & (centre == 0))
    n_pos = min(len(pos), per_node // 2)
    n_neg = min(len(neg), per_node - n_pos)
    pick = np.concatenate([rng.choice(pos, n_pos, replace=False) if n_pos else np.zeros(0, int),
                           rng.choice(neg, n_neg, replace=False) if n_neg else np.zeros(0, int)])
    corners = [(ys[i], xs[i]) for i in pick]
    if lookalikes > 0 and n_neg:
        # replace that share of the negatives by patches centred on look-alike nuclei
        n_look = int(round(lookalikes * n_neg))
        cells = node.cells[node.cells["kind"].isin(LOOKALIKE_KINDS)]
        cy_px = np.round(cells["y_um"].to_numpy() / pixel_size_um).astype(int)
        cx_px = np.round(cells["x_um"].to_numpy() / pixel_size_um).astype(int)
        y0 = cy_px - PATCH // 2 + rng.integers(-8, 9, len(cells))
        x0 = cx_px - PATCH // 2 + rng.integers(-8, 9, len(cells))
        inside = (y0 >= 0) & (x0 >= 0) & (y0 <= m - PATCH) & (x0 <= n - PATCH)
        y0c, x0c = np.clip(y0, 0, m - PATCH), np.clip(x0, 0, n - PATCH)
        free = ii[y0c + half + CENTRE, x0c + half + CENTRE] - ii[y0c + half, x0c + half + CENTRE] \
            - ii[y0c + half + CENTRE, x0c + half] + ii[y0c + half, x0c + half] == 0
        ok_cells = np.flatnonzero(inside & free)
        kinds = cells["kind"].to_numpy()[ok_cells]
        chosen = []
        present = sorted(set(kinds))
        for _ in range(min(n_look, len(ok_cells))):
            kind = present[rng.integers(len(present))]
            chosen.append(rng.choice(ok_cells[kinds == kind]))
        # the first len(chosen) random negatives give way to them
        corners = corners[:n_pos] + [(y0[j], x0[j]) for j in chosen] + corners[n_pos + len(chosen):]
    x = np.stack([rgb[a:a + PATCH, b:b + PATCH] for a, b in corners]) if corners \
        else np.zeros((0, PATCH, PATCH, 3), np.uint8)
    y = np.concatenate([np.ones(n_pos, np.uint8), np.zeros(len(corners) - n_pos, np.uint8)])
    return x, y


def synthetic_patches(nodes: int, per_node: int, *, pixel_size_um: float, workers: int = 2, lookalikes: float = 0.0):
    """(patches (K, 96, 96, 3) uint8, labels (K,) uint8, node index (K,) int) from ``nodes`` nodes."""
    with ProcessPoolExecutor(workers) as pool:
        parts = list(pool.map(node_patches, [(k, per_node, pixel_size_um, lookalikes) for k in range(nodes)]))
    x = np.concatenate([p[0] for p in parts])
    y = np.concatenate([p[1] for p in parts])
    node = np.concatenate([np.full(len(p[1]), k) for k, p in enumerate(parts)])
    return x, y, node


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--nodes", type=int, default=160)
    ap.add_argument("--per-node", type=int, default=40)
    ap.add_argument("--pixel-size", type=float, default=0.97)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--lookalikes", type=float, default=0.0,
                    help="share of the negative patches centred on a benign look-alike nucleus (0-1)")
    args = ap.parse_args()
    if not 0 <= args.lookalikes <= 1:
        raise SystemExit(f"--lookalikes must be within 0-1, got {args.lookalikes}")
    t0 = time.perf_counter()
    x, y, node = synthetic_patches(args.nodes, args.per_node, pixel_size_um=args.pixel_size, workers=args.workers,
                                   lookalikes=args.lookalikes)
    np.savez_compressed(args.out, x=x, y=y, node=node)
    print(f"{len(y)} synthetic patches ({int(y.sum())} tumour) from {args.nodes} nodes in "
          f"{time.perf_counter() - t0:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
