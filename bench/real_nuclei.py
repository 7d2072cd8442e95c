"""Score nuclear segmentation against manual labels on real H&E images.

Datasets (not redistributed; read from ../shared/realdata):
  monuseg-breast  4 x 1000x1000 breast carcinoma tiles, 40x (~0.25 µm/px)
  cpm15-nuclei    15 tiles; image01-07 at 20x (~0.5 µm/px), image08-15 at 40x (~0.25)

Prints object F1 at IoU >= 0.5 and the aggregated Jaccard index per image and
the mean per dataset. Usage: python bench/real_nuclei.py [--realdata DIR]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from pipeline.detection import find_nuclei
from pipeline.evaluation import aggregated_jaccard_index, object_f1
from pipeline.options import AnalysisOptions

HERE = Path(__file__).resolve().parent
DEFAULT = HERE.parent.parent / "shared" / "realdata"


def load_rgb(path: Path) -> np.ndarray:
    if path.suffix.lower() in (".tif", ".tiff"):
        a = tifffile.imread(path)
    else:
        a = np.asarray(Image.open(path))
    if a.ndim == 3 and a.shape[0] in (3, 4) and a.shape[-1] not in (3, 4):
        a = np.moveaxis(a, 0, -1)
    return np.ascontiguousarray(a[..., :3]).astype(np.uint8)


def segment(rgb: np.ndarray, px: float) -> np.ndarray:
    """The pipeline's own nuclei stage (sampled global threshold, tiles), as a label image."""
    found = find_nuclei(rgb, pixel_size_um=px, options=AnalysisOptions(stain="he"), return_labels=True)
    return found.labels


def score(name: str, pairs: list[tuple[Path, Path, float]]) -> dict:
    f1s, ajis = [], []
    print(f"\n{name}")
    print(f"{'image':34s} {'px um':>6s} {'true':>5s} {'pred':>5s} {'F1@0.5':>7s} {'AJI':>6s} {'sec':>5s}")
    for img, lab, px in pairs:
        rgb = load_rgb(img)
        truth = tifffile.imread(lab).astype(np.int64)
        t0 = time.perf_counter()
        pred = segment(rgb, px)
        dt = time.perf_counter() - t0
        f = object_f1(truth, pred)
        aji = aggregated_jaccard_index(truth, pred)
        f1s.append(f["f1"])
        ajis.append(aji)
        print(f"{img.name:34s} {px:6.3f} {len(np.unique(truth)) - 1:5d} {pred.max():5d} "
              f"{f['f1']:7.3f} {aji:6.3f} {dt:5.1f}")
    print(f"{'mean':34s} {'':6s} {'':5s} {'':5s} {np.mean(f1s):7.3f} {np.mean(ajis):6.3f}")
    return {"f1": float(np.mean(f1s)), "aji": float(np.mean(ajis))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=DEFAULT)
    args = ap.parse_args()
    root = args.realdata
    if not root.is_dir():
        raise SystemExit(f"{root}: real data folder not found")
    mon = sorted((root / "monuseg-breast" / "images").glob("*.tif"))
    score("MoNuSeg breast (0.25 µm/px)",
          [(p, root / "monuseg-breast" / "labels" / f"{p.stem}_label.tif", 0.25) for p in mon])
    cpm = sorted((root / "cpm15-nuclei" / "images").glob("image*.png"))
    score("CPM-15 (20x: 0.5, 40x: 0.25 µm/px)",
          [(p, root / "cpm15-nuclei" / "labels" / f"{p.stem}_label.tif",
            0.5 if int(p.stem[-2:]) <= 7 else 0.25) for p in cpm])


if __name__ == "__main__":
    main()
