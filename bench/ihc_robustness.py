"""Cytokeratin IHC scanned and stained differently: does the stage hold?

NodeScope is judged on real cytokeratin slides from other laboratories and scanners, and
none is at hand here (``../shared/realdata`` has Ki67 only, a nuclear DAB stain). This bench
takes synthetic cytokeratin nodes with exact truth (``pipeline.synthetic``, seeds from
``--seed0``, never used for tuning: ITCs and micrometastases, cohesive and single file, and
negative nodes with faint diffuse background DAB of 0.05-0.12 OD, at 0.5 and 1 µm/px;
``--repeats`` nodes of each kind), changes each the way
another laboratory or scanner would, and analyses it through ``pipeline.analyze``
(``stain="auto"``, what ``nodescope analyze`` runs):

- ``as is``;
- ``jpeg 60`` / ``jpeg 30``: re-compressed (OpenCV, 4:2:0);
- stain strength, in optical density (each node unmixed with the generator's own stain
  vectors and glass colour, each stain's density scaled, then recomposed): ``DAB x0.5``
  (weak staining), ``DAB x1.8`` (strong), ``H x0.5`` (pale counterstain), ``H x1.6`` (dark);
- DAB hue: the DAB density recomposed with another DAB vector: ``DAB skimage`` (scikit-image's
  Ruifrok-Johnston vector, redder than the generator's) and ``DAB dark`` (a dark, greyish
  brown, as nickel-enhanced or over-developed DAB looks);
- ``yellow glass``: a white balance off towards yellow (RGB x 1.0, 0.96, 0.85), as some
  scanners deliver;
- ``blur 1 µm``: a Gaussian of sigma 1 µm (a slightly soft scan);
- ``2x pixels``: resampled (cubic) to half the pixel size and analysed at it (the path of a
  40x scan; softer than a true one).

For every condition: how many nodes keep their true category, the largest deposit against the
truth's (within 25 %), false deposits on the negative nodes, and the stain read.

Usage: python bench/ihc_robustness.py [--seed0 170000] [--repeats 2] [--workers 2] [--only "as is,jpeg 30,..."]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: bench/ modules
from he_robustness import chosen, recompress  # noqa: E402

#: scikit-image's DAB optical-density vector (Ruifrok & Johnston 2001), normalised
DAB_SKIMAGE = np.array([0.27, 0.57, 0.78])
#: a dark, greyish brown: nickel-enhanced or over-developed DAB absorbs more evenly
DAB_DARK = np.array([0.45, 0.58, 0.68])

CONDITIONS = {
    "as is": {},
    "jpeg 60": {"jpeg": 60},
    "jpeg 30": {"jpeg": 30},
    "DAB x0.5": {"scale": (1.0, 0.5)},
    "DAB x1.8": {"scale": (1.0, 1.8)},
    "H x0.5": {"scale": (0.5, 1.0)},
    "H x1.6": {"scale": (1.6, 1.0)},
    "DAB skimage": {"dab": DAB_SKIMAGE},
    "DAB dark": {"dab": DAB_DARK},
    "yellow glass": {"white": (1.0, 0.96, 0.85)},
    "blur 1 µm": {"blur_um": 1.0},
    "2x pixels": {"zoom": 2},
}

#: (category, pattern, benign) of the nodes, each at 0.5 and 1 µm/px
NODES = [("itc", "cohesive", "simple"), ("itc", "single_file", "simple"),
         ("micrometastasis", "cohesive", "simple"), ("micrometastasis", "single_file", "simple"),
         ("negative", "none", "typical"), ("negative", "none", "reactive")]


def _unit(v) -> np.ndarray:
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


def changed(rgb: np.ndarray, px: float, params: dict, how: dict) -> tuple[np.ndarray, float]:
    """The node's image changed one way, and its pixel size (µm)."""
    if "jpeg" in how:
        return recompress(rgb, how["jpeg"]), px
    if "zoom" in how:
        k = how["zoom"]
        return cv2.resize(rgb, None, fx=k, fy=k, interpolation=cv2.INTER_CUBIC), px / k
    if "blur_um" in how:
        return cv2.GaussianBlur(rgb, (0, 0), how["blur_um"] / px), px
    if "white" in how:
        out = rgb.astype(np.float32) * np.asarray(how["white"], np.float32)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8), px
    # unmix with the generator's own vectors and glass, change, recompose (Beer-Lambert)
    vec = params["stain_vectors"]
    m = np.stack([_unit(vec["hematoxylin"]), _unit(vec["dab"])])  # (2, 3)
    glass = np.asarray(params["background_rgb"], float)
    od = -np.log10(np.clip(rgb.astype(float), 1, None) / glass)
    conc = od.reshape(-1, 3) @ np.linalg.pinv(m)  # (n, 2) least squares
    rest = od.reshape(-1, 3) - conc @ m            # what the two stains do not explain
    h_k, d_k = how.get("scale", (1.0, 1.0))
    new = np.stack([m[0], _unit(how["dab"]) if "dab" in how else m[1]])
    od2 = (conc * [h_k, d_k]) @ new + rest
    out = glass * 10 ** (-od2.reshape(od.shape))
    return np.clip(out + 0.5, 0, 255).astype(np.uint8), px


def _one(job):
    from pipeline import analyze
    from pipeline.synthetic import make_node_category

    cat, pattern, benign, px, seed, name = job
    # negatives carry faint diffuse background DAB (0.05-0.12 OD, as bench/ihc_background.py)
    node = make_node_category(cat, stain="ihc", pattern=pattern if cat != "negative" else "cohesive",
                              pixel_size_um=px, seed=seed, benign=benign,
                              dab_background_od=0.05 + 0.07 * ((seed * 7919) % 100) / 99 if cat == "negative" else None)
    rgb, given = changed(node.rgb, px, node.params, CONDITIONS[name])
    r = analyze(rgb, pixel_size_um=given, workers=1)
    true_um = float(node.deposits["longest_diameter_um"].max()) if len(node.deposits) else 0.0
    return {"condition": name, "seed": seed, "px": px, "truth": node.category, "pattern": pattern,
            "found": r.category, "stain": r.stain, "true_um": true_um,
            "found_um": float(r.largest_deposit_um), "flags": ";".join(r.flags)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed0", type=int, default=170000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2, help="nodes of each kind and pixel size")
    ap.add_argument("--only", default=",".join(CONDITIONS), help="comma-separated condition names")
    args = ap.parse_args()
    names = chosen(args.only, CONDITIONS)
    configs = [(cat, pat, ben, px) for _ in range(args.repeats) for cat, pat, ben in NODES for px in (0.5, 1.0)]
    jobs = [(cat, pat, ben, px, args.seed0 + i, name) for name in names
            for i, (cat, pat, ben, px) in enumerate(configs)]
    n_nodes = len(configs)
    n_pos = sum(c[0] != "negative" for c in configs)
    print(f"{n_nodes} synthetic cytokeratin nodes (seeds {args.seed0}-{args.seed0 + n_nodes - 1}: ITC and "
          "micrometastasis, cohesive and single file, and negatives with background DAB 0.05-0.12 OD; 0.5 and "
          "1 µm/px), "
          "each changed one way, through pipeline.analyze:")
    print(f"{'condition':13s} {'category right':>14s} {'deposit within 25 %':>19s} "
          f"{'false deposits':>14s} {'read as H&E':>11s} {'s/node':>7s}  wrong")
    t_all = time.perf_counter()
    rows = []
    with ProcessPoolExecutor(args.workers) as pool:
        for name in names:
            t0 = time.perf_counter()
            part = pd.DataFrame(list(pool.map(_one, [j for j in jobs if j[5] == name])))
            rows.append(part)
            dt = (time.perf_counter() - t0) / len(part) * args.workers
            pos = part[part["truth"] != "negative"]
            neg = part[part["truth"] == "negative"]
            within = ((pos["found_um"] - pos["true_um"]).abs() <= 0.25 * pos["true_um"]).sum()
            false = (neg["found"].isin(["itc", "micrometastasis", "macrometastasis"])).sum()
            wrong = part[part["found"] != part["truth"]]
            note = "; ".join(f"{r.seed}@{r.px:g} {r.truth}/{r.pattern}->{r.found}" for r in wrong.itertuples())
            print(f"{name:13s} {len(part) - len(wrong):>9d} / {len(part):<2d} {within:>14d} / {n_pos:<2d} "
                  f"{false:>9d} / {len(neg):<2d} {int((part['stain'] != 'ihc').sum()):>11d} {dt:7.2f}  {note}",
                  flush=True)
    print(f"all done in {time.perf_counter() - t_all:.0f} s")


if __name__ == "__main__":
    main()
