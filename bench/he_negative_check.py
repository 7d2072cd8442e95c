"""A "check the tumour map" flag on H&E negatives, measured and not kept (docs/he_model.md).

The H&E analysis misses about a quarter of the PatchCamelyon tumour patches, and the CAMELYON
tile ``mini_test_10073`` (a sheet of pale tumour cells whose nuclei reach 0.886 against the
0.930 seed) comes out a plain negative. Would a flag on H&E nodes called negative whose tumour
map still reads >= P over >= A mm² turn those confident negatives into "look again"? Measured
through ``pipeline.analyze`` (what ``nodescope analyze`` runs) and its result's tumour map:

1. PatchCamelyon (~0.972 µm/px): the 1,600 patches the map kept for its own validation
   (where a threshold would be chosen, as the seed was) and the 3,200 of the ``test`` split.
   Among the patches called negative, the share of tumour and of normal patches the flag
   would mark, for several (P, A).
2. Synthetic H&E negative nodes (``bench/accuracy.py``'s plan: germinal centres, sinus
   histiocytes, plasma cells, venules; 0.25-1 µm/px): the map's area >= P and its largest
   connected region.
3. The two CAMELYON tiles above (the missed tumour tile and the tile with an empty mask).

Usage: python bench/he_negative_check.py [--realdata DIR] [--workers 2] [--negatives 40]
       [--neg-seed0 191000]
"""

from __future__ import annotations

import argparse
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT = ROOT.parent / "shared" / "realdata"
PCAM_UM = 0.972
POSITIVE = ("itc", "micrometastasis", "macrometastasis")
RULES = [(0.8, 0.0005), (0.8, 0.001), (0.8, 0.002), (0.9, 0.0002), (0.9, 0.0005), (0.95, 0.0001)]


def map_areas(tumour_map, probability: float) -> tuple[float, float]:
    """(area, largest 8-connected region) in mm² where the map reads >= ``probability``."""
    import cv2

    high = (tumour_map.probability >= probability).astype(np.uint8)
    n, _, stats, _ = cv2.connectedComponentsWithStats(high, connectivity=8)
    point_mm2 = tumour_map.pixel_size_um**2 / 1e6
    largest = int(stats[1:, cv2.CC_STAT_AREA].max()) if n > 1 else 0
    return float(high.sum()) * point_mm2, largest * point_mm2


def _patch(args):
    from real_he import decode_rgb

    from pipeline import analyze

    name, label, data = args
    r = analyze(decode_rgb(data), pixel_size_um=PCAM_UM, workers=1)
    row = {"file": name, "label": label, "category": r.category, "stain": r.stain}
    if r.tumour_map is not None:
        for p in sorted({p for p, _ in RULES}):
            row[f"area_{p}"] = map_areas(r.tumour_map, p)[0]
    return row


def bench_pcam(root: Path, workers: int) -> None:
    from train_he_detector import split_train_val

    labels = pd.read_csv(root / "pcam-patches" / "labels.csv")
    _, val = split_train_val(labels, 0.125, 0)
    sets = {"validation (the map's own)": labels.iloc[val], "test": labels[labels["split"] == "test"]}
    with zipfile.ZipFile(root / "pcam-patches" / "patches.zip") as zf:
        names = {Path(f).name: f for f in zf.namelist()}
        for title, table in sets.items():
            jobs = [(r.file, int(r.label), zf.read(names[r.file])) for r in table.itertuples()]
            with ProcessPoolExecutor(workers) as pool:
                rows = pd.DataFrame(list(pool.map(_patch, jobs, chunksize=16)))
            called = rows[(rows["stain"] == "he") & ~rows["category"].isin(POSITIVE)]
            fn, tn = called[called["label"] == 1], called[called["label"] == 0]
            print(f"PatchCamelyon {title}: {len(rows)} patches; called negative: {len(fn)} tumour, "
                  f"{len(tn)} normal")
            for p, a in RULES:
                col = f"area_{p}"
                f_fn = (fn[col].fillna(0) >= a).mean() if len(fn) else float("nan")
                f_tn = (tn[col].fillna(0) >= a).mean() if len(tn) else float("nan")
                print(f"  map >= {p} over >= {a} mm²: flags {f_fn:.2f} of the missed tumour patches, "
                      f"{f_tn:.2f} of the normal ones called negative")


def _negative(job):
    from pipeline import analyze
    from pipeline.synthetic import make_node_category

    node = make_node_category("negative", stain="he", pixel_size_um=job["pixel_size_um"],
                              seed=job["seed"], benign=job["benign"])
    r = analyze(node.rgb, pixel_size_um=node.pixel_size_um, workers=1)
    area, largest = map_areas(r.tumour_map, 0.8) if r.tumour_map is not None else (0.0, 0.0)
    return {**job, "category": r.category, "area": area, "largest": largest}


def bench_synthetic(n: int, seed0: int, workers: int) -> None:
    from accuracy import plan_negatives

    jobs = [j for j in plan_negatives(n, seed0) if j["stain"] == "he"]
    with ProcessPoolExecutor(workers) as pool:
        rows = pd.DataFrame(list(pool.map(_negative, jobs)))
    called = rows[rows["category"] == "negative"]
    print(f"synthetic H&E negatives (seeds {seed0}+): {len(called)} of {len(rows)} called negative; "
          f"map >= 0.8 over (mm²): " + ", ".join(f"{a:.4f}" for a in called["area"]))
    print("  largest connected region >= 0.8 (mm²): " + ", ".join(f"{a:.4f}" for a in called["largest"]))
    for a in (0.0005, 0.001, 0.002, 0.005):
        print(f"  over >= {a} mm²: {int((called['area'] >= a).sum())} of {len(called)} would be flagged")


def bench_tiles(root: Path) -> None:
    from PIL import Image

    from pipeline import analyze

    for name in ("mini_test_10073.jpg", "mini_test_10699.jpg"):
        rgb = np.asarray(Image.open(root / "camelyon-tiles-masks" / "images" / name).convert("RGB"))
        r = analyze(rgb, pixel_size_um=1.0)
        area, largest = map_areas(r.tumour_map, 0.8)
        print(f"CAMELYON tile {name}: {r.category}; map >= 0.8 over {area:.4f} mm², largest region "
              f"{largest:.4f} mm²")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=DEFAULT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--negatives", type=int, default=40, help="synthetic negative nodes planned (half H&E)")
    ap.add_argument("--neg-seed0", type=int, default=191000)
    args = ap.parse_args()
    bench_tiles(args.realdata)
    bench_synthetic(args.negatives, args.neg_seed0, args.workers)
    bench_pcam(args.realdata, args.workers)


if __name__ == "__main__":
    main()
