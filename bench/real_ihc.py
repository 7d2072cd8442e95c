"""DAB-positive cell detection on real Ki67 IHC tiles with manual labels.

Data (not redistributed): ../shared/realdata/ki67-ihc-breast (DeepLIIF / BCData,
4 x 512x512 tiles at 40x; pixel size not recorded, 0.25 µm/px assumed). Ground
truth: red = DAB-positive cell, blue = negative cell.

Ki67 is a nuclear marker (cytokeratin, NodeScope's clinical target, is
cytoplasmic). Nuclei are found by the pipeline's own nuclei stage
(:func:`pipeline.detection.find_nuclei`, stain "ihc": haematoxylin channel,
sampled global threshold, tiles) and called positive on the DAB of the whole
cell (``classify_ihc(..., compartment="cell")``). A predicted positive cell is a
true positive when its centre lies within 4 µm of an unmatched red region's centre.

Usage: python bench/real_ihc.py [--realdata DIR] [--pixel-size 0.25]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage as ndi

from pipeline.detection import find_nuclei
from pipeline.evaluation import match_points
from pipeline.options import AnalysisOptions
from pipeline.tumor import classify_ihc

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def truth_points(gt: np.ndarray, px: float):
    red = (gt[..., 0] > 200) & (gt[..., 1] < 60) & (gt[..., 2] < 60)
    blue = (gt[..., 2] > 200) & (gt[..., 0] < 60) & (gt[..., 1] < 60)
    out = []
    for mask in (red, blue):
        lab, n = ndi.label(mask)
        out.append(np.array(ndi.center_of_mass(mask, lab, range(1, n + 1))).reshape(-1, 2) * px)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=DEFAULT)
    ap.add_argument("--pixel-size", type=float, default=0.25)
    ap.add_argument("--dab-threshold", type=float, default=0.15)
    args = ap.parse_args()
    root = args.realdata / "ki67-ihc-breast"
    px = args.pixel_size
    tot = {"tp": 0, "fp": 0, "fn": 0}
    print(f"{'tile':10s} {'true+':>6s} {'true-':>6s} {'found+':>6s} {'P':>5s} {'R':>5s}")
    for f in sorted((root / "test_cli").glob("*.png")):
        rgb = np.asarray(Image.open(f).convert("RGB"))
        gt = np.asarray(Image.open(root / "test_groundtruth" / f.name).convert("RGB"))
        pos, neg = truth_points(gt, px)
        table = find_nuclei(rgb, pixel_size_um=px, options=AnalysisOptions(stain="ihc")).nuclei
        positive = table[classify_ihc(table, dab_threshold=args.dab_threshold, compartment="cell", min_size_ratio=0)]
        m = match_points(pos, positive[["y_um", "x_um"]].to_numpy(), max_distance=4.0)
        for k in tot:
            tot[k] += m[k]
        print(f"{f.stem:10s} {len(pos):6d} {len(neg):6d} {len(positive):6d} {m['precision']:5.2f} {m['recall']:5.2f}")
    p = tot["tp"] / max(1, tot["tp"] + tot["fp"])
    r = tot["tp"] / max(1, tot["tp"] + tot["fn"])
    print(f"DAB-positive cell detection over all tiles: precision {p:.3f}, recall {r:.3f}")


if __name__ == "__main__":
    main()
