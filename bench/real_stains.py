"""Stain detection on every real image in ../shared/realdata: H&E vs IHC, and the colour
fractions behind it (pipeline.stains.stain_colour_fractions / detect_stain).

Also the margin of the colour rules of ``detect_stain``: the pink purity and blueness of the
real H&E images with few pink pixels (rules 3 and 4 must leave them H&E).

Usage: python bench/real_stains.py [--realdata ../shared/realdata] [--save TABLE.csv]
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from pipeline.io import read_image
from pipeline.stains import detect_stain, stain_colour_fractions
from pipeline.tissue import tissue_mask

FOLDERS = [  # (group, glob, pixel size µm, true stain)
    ("camelyon-tiles", "camelyon-tiles-masks/images/*", 1.0, "he"),
    ("pcam-tiles", "pcam-lymph-node-tiles/tiles/*", 0.97, "he"),
    ("monuseg", "monuseg-breast/images/*", 0.25, "he"),
    ("crc", "crc-nuclei/images/*", 0.5, "he"),
    ("cpm15", "cpm15-nuclei/images/*", 0.5, "he"),
    ("pannuke", "pannuke-breast/images/*", 0.25, "he"),
    ("ki67", "ki67-ihc-breast/test_cli/*", 0.25, "ihc"),
]
FILES = [("openslide-crops/OS-1-detail.ome.tif", "he"), ("svs/CMU-1-Small-Region.svs", "he"),
         ("breast-epithelium/12947_00004.tiff", "he"), ("openslide-crops/OS-2-ndpi.ome.tif", "ihc"),
         ("openslide-crops/OS-2-vsi.ome.tif", "ihc")]


def _one(rgb, px):
    m = tissue_mask(rgb, pixel_size_um=px)
    m = m if m.any() else None
    out = stain_colour_fractions(rgb, mask=m)
    out["stain"], out["reason"] = detect_stain(rgb, mask=m)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "realdata")
    ap.add_argument("--save", type=Path, default=None, help="write the per-image table (CSV)")
    args = ap.parse_args()
    root = args.realdata
    rows = []
    labels = pd.read_csv(root / "pcam-patches" / "labels.csv")
    with zipfile.ZipFile(root / "pcam-patches" / "patches.zip") as zf:
        names = {Path(f).name: f for f in zf.namelist()}
        for fn in labels.loc[labels["split"] == "test", "file"]:
            rgb = np.asarray(Image.open(io.BytesIO(zf.read(names[fn]))).convert("RGB"))
            rows.append({"group": "pcam-test", "file": fn, "truth": "he", **_one(rgb, 0.97)})
    for group, pattern, px, truth in FOLDERS:
        for f in sorted(root.glob(pattern)):
            if f.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff"):
                rows.append({"group": group, "file": f.name, "truth": truth,
                             **_one(np.asarray(Image.open(f).convert("RGB")), px)})
    for rel, truth in FILES:
        if rel.endswith(".tiff"):
            rgb, px = np.asarray(Image.open(root / rel).convert("RGB")), 0.5
        else:
            rgb, px, _ = read_image(root / rel)
        rows.append({"group": Path(rel).parent.name, "file": Path(rel).name, "truth": truth, **_one(rgb, px or 0.5)})
    df = pd.DataFrame(rows)
    print(f"{'group':16s} {'images':>6s} {'correct':>7s}  eosin-pink fraction min / 1st pct / median")
    for g, d in df.groupby("group", sort=False):
        print(f"{g:16s} {len(d):6d} {int((d['stain'] == d['truth']).sum()):7d}  "
              f"{d['eosin'].min():.3f} / {d['eosin'].quantile(0.01):.3f} / {d['eosin'].median():.3f}")
    ok = int((df["stain"] == df["truth"]).sum())
    print(f"all: {ok} of {len(df)} images read as their true stain")
    wrong = df[df["stain"] != df["truth"]]
    for r in wrong.itertuples():
        print(f"  wrong: {r.group}/{r.file}: {r.reason} (colourless {r.colourless:.0%})")
    # the colour rules' margins on real H&E with few pink pixels (3-10 %): rule 3 needs purity < 0.2
    # and blueness >= 0.9, rule 4 blueness >= 1.3, to call an image IHC
    few = df[(df["truth"] == "he") & (df["eosin"] >= 0.03) & (df["eosin"] < 0.1)]
    if len(few):
        top = few.loc[few["pink_blueness"].idxmax()]
        print(f"real H&E with 3-10 % pink pixels: {len(few)} images; pink blueness max {top['pink_blueness']:.2f} "
              f"({top['group']}/{top['file']}); pink purity min {few['pink_purity'].min():.2f}")
    if args.save is not None:
        df.to_csv(args.save, index=False)
        print(f"table written to {args.save}")


if __name__ == "__main__":
    main()
