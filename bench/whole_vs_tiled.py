"""The same answer however a slide is read: in memory vs tile by tile (issue 12, item 4).

Every real image file in ../shared/realdata that NodeScope reads with a pixel size (SVS,
OME-TIFF; PNG/JPEG tiles are written to calibrated TIFFs first, with the pixel size of the
data set's README) is analysed twice through pipeline.analyze_file: whole in memory
(wsi_threshold_mp above its size) and as a slide read tile by tile (wsi_threshold_mp=0).
Printed: stain, category and largest deposit of both, and whether they agree (category
equal; largest deposit within 10 % or 20 µm).

Usage: python bench/whole_vs_tiled.py [--per-folder 3]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from pipeline import AnalysisOptions
from pipeline.analysis import analyze_file
from pipeline.io import write_calibrated_tiff

TILES = [("camelyon-tiles-masks/images", 1.0), ("pcam-lymph-node-tiles/tiles", 0.97),
         ("monuseg-breast/images", 0.25), ("crc-nuclei/images", 0.5), ("cpm15-nuclei/images", 0.5),
         ("pannuke-breast/images", 0.25), ("ki67-ihc-breast/test_cli", 0.25)]
FILES = ["svs/CMU-1-Small-Region.svs", "openslide-crops/OS-1-detail.ome.tif",
         "openslide-crops/OS-2-ndpi.ome.tif", "openslide-crops/OS-2-vsi.ome.tif"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdata")
    ap.add_argument("--per-folder", type=int, default=3)
    args = ap.parse_args()
    root = args.realdata
    agree = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        paths = [root / f for f in FILES]
        for folder, px in TILES:
            for f in sorted((root / folder).glob("*"))[: args.per_folder]:
                if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif"):
                    out = Path(tmp) / f"{Path(folder).parts[0]}_{f.stem}.tif"
                    write_calibrated_tiff(out, np.asarray(Image.open(f).convert("RGB")), pixel_size_um=px)
                    paths.append(out)
        print(f"{'image':44s} {'whole: stain category largest µm':38s} {'tiled: stain category largest µm':38s} agree")
        for p in paths:
            whole, _ = analyze_file(p, options=AnalysisOptions(wsi_threshold_mp=1e6))
            tiled, _ = analyze_file(p, options=AnalysisOptions(wsi_threshold_mp=0))
            same = (whole.category == tiled.category and whole.stain == tiled.stain
                    and abs(whole.largest_deposit_um - tiled.largest_deposit_um)
                    <= max(20.0, 0.1 * whole.largest_deposit_um))
            agree += same
            total += 1
            print(f"{p.name[:44]:44s} {whole.stain:4s} {whole.category:15s} {whole.largest_deposit_um:8.0f}        "
                  f"{tiled.stain:4s} {tiled.category:15s} {tiled.largest_deposit_um:8.0f}        {'yes' if same else 'NO'}")
    print(f"whole vs tiled: {agree} of {total} real images agree (category and stain equal, largest deposit "
          f"within 10 % or 20 µm)")


if __name__ == "__main__":
    main()
