"""The focus and pixel-size thresholds of pipeline.quality, measured on real and synthetic images.

``pipeline.quality.QUALITY_THRESHOLDS`` calls an image *blurry* (a flag) at a focus ratio
>= 0.80 and *out of focus* (not assessable) at >= 0.90, and the pixel size *suspect* (a
flag) when the nuclear scale implies one 3x or more from the given one (5x: not
assessable). This bench measures, with the public functions (``pipeline.detection.
find_nuclei`` for the image-level measures and the nuclei, ``pipeline.quality.
assess_quality`` for the flags and the image-level reasons, as ``pipeline.analyze`` calls it,
and ``pipeline.quality.negative_call_reason`` for the rules of a negative call, which
``measure_node`` applies when no tumour is found: too little tissue, no lymph node):

(a) sharp real images at their true pixel size (``../shared/realdata``: PCam patches
    and tiles, CAMELYON tiles, MoNuSeg, CRC, PanNuke, CPM-15, the breast-epithelium image,
    the OpenSlide H&E crop and CMU-1) and synthetic nodes (H&E and IHC, 0.5 and 1 µm/px);
(b) the same blurred by a Gaussian of sigma 1, 2 and 4 µm;
(c) the same with a wrong pixel size given: x0.2, x0.5, x2 and x5 the true one,

and prints the distribution of the focus ratio and of the pixel-size factor
(``max(f, 1/f)`` of implied / given), the false-flag and false-not-assessable rates on
(a), the detection rates on (b) and (c), and the nuclear-density flags (``low_nuclear_
density`` and the density rule of ``pixel_size_suspect``) on every condition, and (d) how often
sharp images of each set are flagged ``not_lymph_node``. With no tumour found, a negative call
refused is expected on small fields and on tissue that is no lymph node (a) and wanted under a
wrong pixel size (c).

Usage: python bench/quality_thresholds.py [--per-set 12] [--pcam 40] [--seed 0] [--sets crc,...]
                                         [--synthetic 4] [--csv out.csv]
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "realdata"

#: (set name, glob under REAL, true pixel size in µm/px, from realdata/README.md)
SETS = [
    ("pcam-tiles", "pcam-lymph-node-tiles/tiles/*.png", 0.97),
    ("camelyon", "camelyon-tiles-masks/images/*.jpg", 1.0),
    ("monuseg", "monuseg-breast/images/*.tif", 0.25),
    ("crc", "crc-nuclei/images/*.png", 0.5),
    ("pannuke", "pannuke-breast/images/*.png", 0.25),
    ("cpm15-20x", "cpm15-nuclei/images/image0[1-7].png", 0.5),
    ("cpm15-40x", "cpm15-nuclei/images/image0[89].png", 0.25),
    ("cpm15-40x", "cpm15-nuclei/images/image1[0-5].png", 0.25),
    ("epithelium", "breast-epithelium/12947_00004.tiff", 0.5),
    ("os-1", "openslide-crops/OS-1-detail.ome.tif", 0.2271),
    ("cmu-1", "svs/CMU-1-Small-Region.svs", 0.499),
]
BLUR_UM = (1.0, 2.0, 4.0)
WRONG = (0.2, 0.5, 2.0, 5.0)
#: largest side read from a real image (a centred crop), pixels
MAX_SIDE = 1024


def _crop(rgb):
    h, w = rgb.shape[:2]
    r0, c0 = max(0, (h - MAX_SIDE) // 2), max(0, (w - MAX_SIDE) // 2)
    return np.ascontiguousarray(rgb[r0:r0 + MAX_SIDE, c0:c0 + MAX_SIDE, :3])


def real_images(per_set: int, pcam: int, rng, sets=None):
    """(set, name, rgb, true pixel size) of a sample of the real images."""
    from pipeline.io import read_image

    for name, pattern, px in SETS:
        if sets and name not in sets:
            continue
        files = sorted(REAL.glob(pattern))
        if len(files) > per_set:
            files = [files[i] for i in sorted(rng.choice(len(files), per_set, replace=False))]
        for f in files:
            opened = read_image(f, pixel_size_um=px)
            rgb = opened[0] if isinstance(opened, tuple) else getattr(opened, "image", opened)
            yield name, f.name, _crop(np.asarray(rgb)), px
    zpath = REAL / "pcam-patches" / "patches.zip"
    if zpath.exists() and pcam:
        from PIL import Image

        with zipfile.ZipFile(zpath) as z:
            names = sorted(n for n in z.namelist() if n.endswith(".jpg"))
            for i in sorted(rng.choice(len(names), min(pcam, len(names)), replace=False)):
                rgb = np.asarray(Image.open(io.BytesIO(z.read(names[i]))).convert("RGB"))
                yield "pcam-patches", names[i], rgb, 0.97


def synthetic_images(seed: int):
    from pipeline.synthetic import make_node

    for k, (stain, px) in enumerate([(s, p) for s in ("he", "ihc") for p in (0.5, 1.0)]):
        node = make_node(size_um=(600.0, 600.0), pixel_size_um=px, stain=stain, pattern="cohesive",
                         deposits=[{"diameter_um": 200.0}], seed=seed + k)
        yield f"synthetic-{stain}", f"seed{seed + k}@{px:g}", node.rgb, px


def measure(rgb, given_px) -> dict:
    """Quality measures and flags as pipeline.analyze gets them (no tumour found)."""
    from pipeline.detection import find_nuclei
    from pipeline.quality import assess_quality, negative_call_reason

    found = find_nuclei(rgb, pixel_size_um=given_px)
    # the image-level rules (tumour_found=None), then those of a negative call (no tumour found)
    q = assess_quality(pixel_size_um=found.pixel_size_um, shape=found.shape,
                       tissue_area_mm2=found.tissue_area_mm2, nuclei=found.nuclei,
                       measures=found.stats.quality if found.stats is not None else {},
                       tumour_found=None, flags=found.flags, stain=found.stain,
                       stain_vectors_source=found.stats.vectors_source if found.stats is not None else None)
    m = q.measures
    factor = m.get("pixel_size_factor", np.nan)
    reason = q.not_assessable_reason or ""
    refused = (negative_call_reason(tissue_area_mm2=found.tissue_area_mm2, flags=q.flags, measures=m)
               if not reason else (None, None))
    return {"focus": m.get("focus_ratio", np.nan), "factor": factor, "off": max(factor, 1 / factor) if factor > 0 else np.nan,
            "blurry": "blurry" in q.flags, "out_of_focus": "out_of_focus" in q.flags,
            "suspect": "pixel_size_suspect" in q.flags, "median_um": m.get("median_nucleus_um", np.nan),
            "factor_na": "the nuclei imply" in reason, "density_na": "nuclei per mm²" in reason,
            "low_density": "low_nuclear_density" in q.flags, "coarse": "coarse_pixels" in q.flags,
            "not_assessable": q.not_assessable_reason is not None, "flags": ";".join(q.flags),
            "little_tissue": refused[0] is not None, "no_node": refused[1] is not None and refused[0] is None,
            "not_lymph": "not_lymph_node" in q.flags, "packed": m.get("packed_lymphocyte_fraction", np.nan),
            "density": m.get("nuclear_density_per_mm2", np.nan), "lymph": m.get("lymphocyte_fraction", np.nan)}


def conditions(rgb, px):
    yield "sharp", rgb, px
    for s in BLUR_UM:
        yield f"blur {s:g} µm", cv2.GaussianBlur(rgb, (0, 0), s / px), px
    for m in WRONG:
        yield f"px x{m:g}", rgb, px * m


def _dist(v) -> str:
    v = np.asarray(v, float)
    ok = v[np.isfinite(v)]
    if not len(ok):
        return f"all NaN ({len(v)})"
    q = np.percentile(ok, [0, 5, 50, 95, 100])
    return (f"min {q[0]:.2f} p5 {q[1]:.2f} median {q[2]:.2f} p95 {q[3]:.2f} max {q[4]:.2f}"
            f" (n {len(ok)}, NaN {len(v) - len(ok)})")


def _rate(mask) -> str:
    mask = np.asarray(mask, bool)
    return f"{mask.mean():.1%} ({mask.sum()}/{len(mask)})" if len(mask) else "n/a"


def report(t: pd.DataFrame) -> None:
    order = ["sharp", *[f"blur {s:g} µm" for s in BLUR_UM], *[f"px x{m:g}" for m in WRONG]]
    for source in ("real", "synthetic"):
        d = t[t["source"] == source]
        print(f"\n=== {source}: {d.loc[d['condition'] == 'sharp', 'name'].nunique()} images "
              f"({', '.join(f'{k} {v}' for k, v in d[d['condition'] == 'sharp'].groupby('set').size().items())})")
        for c in order:
            x = d[d["condition"] == c]
            print(f"{c:12s} focus ratio: {_dist(x['focus'])}")
            print(f"{'':12s} pixel-size factor: {_dist(x['off'])}")
            print(f"{'':12s} median nucleus (µm): {_dist(x['median_um'])}")
            print(f"{'':12s} blurry or worse {_rate(x['blurry'] | x['out_of_focus'])}, out_of_focus "
                  f"{_rate(x['out_of_focus'])}, pixel_size_suspect {_rate(x['suspect'])}, factor >= 5x "
                  f"(not assessable) {_rate(x['factor_na'])}, low density {_rate(x['low_density'])}, "
                  f"density rule (not assessable) {_rate(x['density_na'])}, coarse_pixels {_rate(x['coarse'])}, "
                  f"not assessable (any reason) {_rate(x['not_assessable'])}")
        sharp = d[d["condition"] == "sharp"]
        print(f"(a) sharp, true pixel size: false flag rate (blurry or pixel_size_suspect) "
              f"{_rate(sharp['blurry'] | sharp['suspect'])}; false not-assessable rate: focus "
              f"{_rate(sharp['out_of_focus'])}, pixel-size factor {_rate(sharp['factor_na'])}, "
              f"any image-level reason {_rate(sharp['not_assessable'])}")
        print("    with no tumour found, a negative call refused (expected on small fields and on tissue "
              "that is no lymph node): too little tissue / no lymph node, by set")
        for s, x in sharp.groupby("set"):
            print(f"    {s:12s} {_rate(x['little_tissue'])} / {_rate(x['no_node'])}")
        if len(sharp):
            for s, x in sharp.groupby("set"):
                bad = x[x["blurry"] | x["suspect"] | x["not_assessable"]]  # image-level reasons only
                if len(bad):
                    print(f"    {s}: " + "; ".join(f"{r.name} focus {r.focus:.2f} factor {r.off:.2f} [{r.flags}]"
                                                   for r in bad.itertuples()))
        if len(sharp):
            print("(d) sharp, true pixel size: not_lymph_node by set (lymph nodes: pcam-tiles, camelyon, "
                  "synthetic; the CAMELYON tiles are mostly carcinoma) and the packed-lymphocyte fraction")
            for s, x in sharp.groupby("set"):
                print(f"    {s:12s} not_lymph_node {_rate(x['not_lymph'])}; packed lymphocytes {_dist(x['packed'])}")
        for s in BLUR_UM:
            x = d[d["condition"] == f"blur {s:g} µm"]
            print(f"(b) blurred {s:g} µm: detected as blurry or out of focus "
                  f"{_rate(x['blurry'] | x['out_of_focus'])}, not assessable (out of focus) "
                  f"{_rate(x['out_of_focus'])}, focus measured on {_rate(np.isfinite(x['focus']))}")
        for m in WRONG:
            x = d[d["condition"] == f"px x{m:g}"]
            as_negative = x["not_assessable"] | x["little_tissue"] | x["no_node"]
            print(f"(c) pixel size x{m:g}: pixel_size_suspect {_rate(x['suspect'])}, not assessable by the "
                  f"pixel-size rules {_rate(x['factor_na'] | x['density_na'])}, by any image-level reason "
                  f"{_rate(x['not_assessable'])}; with no tumour found, not called negative {_rate(as_negative)} "
                  f"(lymph-node sets pcam-tiles, pcam-patches, camelyon: "
                  f"{_rate(as_negative[x['set'].isin(['pcam-tiles', 'pcam-patches', 'camelyon'])])})")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--per-set", type=int, default=12, help="most images per real set")
    ap.add_argument("--pcam", type=int, default=40, help="PCam patches (96 x 96) to sample")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--csv", type=Path, default=None, help="write every measurement here")
    ap.add_argument("--sets", default="", help="only these real sets (comma-separated names of SETS)")
    ap.add_argument("--synthetic", type=int, default=4, help="synthetic nodes (0-4)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    rows = []
    sets = {s for s in args.sets.split(",") if s}
    images = [("real", *im) for im in real_images(args.per_set, args.pcam, rng, sets)]
    images += [("synthetic", *im) for im in synthetic_images(96000 + args.seed)][:args.synthetic]
    for source, s, name, rgb, px in images:
        for cond, img, given in conditions(rgb, px):
            rows.append({"source": source, "set": s, "name": name, "condition": cond, "true_px": px,
                         "given_px": given, **measure(img, given)})
    t = pd.DataFrame(rows)
    if args.csv:
        t.to_csv(args.csv, index=False)
    report(t)


if __name__ == "__main__":
    main()
