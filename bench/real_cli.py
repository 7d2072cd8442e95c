"""Run every real image in ../shared/realdata through `nodescope analyze`.

Each group of files is passed with its pixel size where the file has none (MoNuSeg and
the epithelium image declare 72 dpi, the PNG sets and the TCGA frozen section carry no
calibration). Label and mask images are not inputs. Prints per image the category and
tumour-cell count, and the failures (there should be none).

Usage: python bench/real_cli.py [--realdata DIR] [--out DIR]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import pandas as pd

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def groups(root: Path):
    yield "openslide-crops (own OME calibration)", sorted((root / "openslide-crops").glob("*.ome.tif")), None
    yield "CMU-1 SVS (Aperio MPP)", [root / "svs" / "CMU-1-Small-Region.svs"], None
    yield "TCGA frozen SVS (no MPP; 0.25 given)", [root / "svs" / "tcga-cr-7395-01a-01-ts1.svs"], 0.25
    yield "MoNuSeg breast (0.25)", sorted((root / "monuseg-breast" / "images").glob("*.tif")), 0.25
    cpm = sorted((root / "cpm15-nuclei" / "images").glob("image*.png"))
    yield "CPM-15 20x (0.5)", [p for p in cpm if int(p.stem[-2:]) <= 7], 0.5
    yield "CPM-15 40x (0.25)", [p for p in cpm if int(p.stem[-2:]) > 7], 0.25
    yield "Ki67 IHC (0.25)", sorted((root / "ki67-ihc-breast" / "test_cli").glob("*.png")), 0.25
    yield "breast epithelium (0.5)", [root / "breast-epithelium" / "12947_00004.tiff"], 0.5
    yield "PCam lymph-node tiles (0.97)", sorted((root / "pcam-lymph-node-tiles" / "tiles").glob("*.png")), 0.97


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=DEFAULT)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    out_root = args.out or Path(tempfile.mkdtemp(prefix="nodescope-real-"))
    total = failed = 0
    for i, (name, files, px) in enumerate(groups(args.realdata)):
        files = [f for f in files if f.exists()]
        if not files:
            continue
        out = out_root / f"group{i}"
        cmd = [sys.executable, "-m", "pipeline.cli", "analyze", *map(str, files), "--out", str(out), "--quiet",
               "--no-report"]
        if px is not None:
            cmd += ["--pixel-size", str(px)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        summary = pd.read_csv(out / "summary.csv") if (out / "summary.csv").exists() else pd.DataFrame()
        errors = pd.read_csv(out / "errors.csv") if (out / "errors.csv").exists() else pd.DataFrame()
        total += len(files)
        failed += len(errors)
        cats = summary["category"].value_counts().to_dict() if len(summary) else {}
        stains = summary["stain"].value_counts().to_dict() if len(summary) else {}
        print(f"{name:40s} {len(files):3d} files, exit {res.returncode}, analysed {len(summary)}, "
              f"failed {len(errors)}; stains {stains}; categories {cats}")
        for _, row in errors.iterrows():
            print(f"    {row['error']}")
    print(f"{total} real images, {failed} failed; outputs in {out_root}")


if __name__ == "__main__":
    main()
