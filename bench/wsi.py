"""Whole-slide mode on a synthetic pyramidal slide of at least 20,000 x 20,000 pixels.

The slide is a grid of synthetic lymph-node sections (``pipeline.synthetic``) on
glass: one holds a micrometastasis, the others are negative, so the slide's truth
(category and largest deposit) is the tumour node's. It is written as a tiled,
JPEG-compressed pyramidal TIFF, tile by tile (the full slide is never in memory,
not even here), then analysed with ``pipeline.analysis.analyze_slide``:

- megapixels per second with 1 and 2 local workers (threads), and peak memory
  (each run in a fresh process; VmHWM);
- the same through a 2-worker dask.distributed LocalCluster (tiles of the one
  slide spread over the workers);
- whether category and largest deposit equal the truth;
- how time grows from about 100 MP to about 400 MP (same layout, more nodes).

``--macro`` instead measures a macrometastasis slide: a grid of ``--macro-grid`` x
``--macro-grid`` nodes, each a large macrometastasis (a 4000 µm field at 1 µm/px,
one deposit 80 % of its width, ~14,000 tumour cells), so a 5 x 5 grid (400 MP)
holds >= 300,000 tumour cells. It is analysed as ``nodescope analyze`` does
(``pipeline.analysis.analyze_file`` in whole-slide mode, then
``pipeline.export.write_node_outputs`` with the GeoJSON), timing the analysis and
the writing of the outputs separately, with the peak memory of the process.

Usage: python bench/wsi.py [--side-px 20000] [--pixel-size 0.5] [--keep DIR]
       python bench/wsi.py --macro [--macro-grid 5] [--workers 2] [--all-nuclei]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

CHILD = r"""
import json, sys, time
path, workers, cluster = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "cluster"
from pipeline.slide import Slide
from pipeline.analysis import analyze_slide
t0 = time.perf_counter()
with Slide(path) as s:
    if cluster:
        from distributed import Client, LocalCluster
        with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                          dashboard_address=None) as lc, Client(lc) as client:
            t0 = time.perf_counter()
            r = analyze_slide(s, client=client)
    else:
        r = analyze_slide(s, workers=workers)
    shape = s.shape
sec = time.perf_counter() - t0
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"seconds": sec, "mp": shape[0] * shape[1] / 1e6, "category": r.category,
                  "largest_um": r.largest_deposit_um, "cells": r.tumor_cell_count,
                  "nuclei": r.nucleus_count, "peak_mb": int(hwm.split()[1]) / 1024}))
"""


MACRO_CHILD = r"""
import json, sys, tempfile, time
path, workers, all_nuclei = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "all"
from pipeline.analysis import analyze_file
from pipeline.export import write_node_outputs
t0 = time.perf_counter()
result, image = analyze_file(path, workers=workers, all_nuclei=all_nuclei)
t1 = time.perf_counter()
with tempfile.TemporaryDirectory() as d:
    write_node_outputs(d, result, image, geojson=True)
    geojson_mb = (__import__("pathlib").Path(d) / "objects.geojson").stat().st_size / 2**20
t2 = time.perf_counter()
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
print(json.dumps({"analyse_seconds": t1 - t0, "write_seconds": t2 - t1, "mp": result.shape[0] * result.shape[1] / 1e6,
                  "mode": result.parameters.get("mode", ""), "category": result.category,
                  "cells": result.tumor_cell_count, "nuclei": result.nucleus_count,
                  "deposits": len(result.deposits), "geojson_mb": geojson_mb,
                  "outlines_mb": result.outlines.nbytes / 2**20 if result.outlines is not None else 0,
                  "peak_mb": int(hwm.split()[1]) / 1024}))
"""


def make_patches(pixel_size_um: float, patch_um: float, seed: int):
    from pipeline.synthetic import make_node

    tumour = make_node(size_um=(patch_um, patch_um), pixel_size_um=pixel_size_um, stain="he",
                       pattern="cohesive", deposits=[{"diameter_um": 0.55 * patch_um}], seed=seed)
    negatives = [make_node(size_um=(patch_um, patch_um), pixel_size_um=pixel_size_um, stain="he",
                           pattern="none", seed=seed + k) for k in (1, 2, 3)]
    truth = {"category": tumour.category,
             "largest_deposit_um": float(tumour.deposits["longest_diameter_um"].max())}
    return tumour.rgb, [n.rgb for n in negatives], truth


def write_slide(path: Path, side_px: int, tumour, negatives, pixel_size_um: float, *, tile=512, levels=4,
                tumour_everywhere=False):
    """A grid of node patches, written tile by tile as a JPEG pyramidal TIFF (the tumour
    patch in the middle, or in every cell of the grid)."""
    import tifffile

    p = tumour.shape[0]
    n_grid = max(1, side_px // p)
    glass = np.full((p, p, 3), 243, np.uint8)
    layout = {}
    for i in range(n_grid):
        for j in range(n_grid):
            middle = tumour_everywhere or (i, j) == (n_grid // 2, n_grid // 2)
            layout[i, j] = tumour if middle else negatives[(i * 7 + j * 3) % len(negatives)]

    def canvas_block(y0, y1, x0, x1, f):
        out = np.full((y1 - y0, x1 - x0, 3), 243, np.uint8)
        ps = p // f
        for (i, j), patch in layout.items():
            py0, px0 = i * ps, j * ps
            oy0, oy1 = max(y0, py0), min(y1, py0 + ps)
            ox0, ox1 = max(x0, px0), min(x1, px0 + ps)
            if oy0 < oy1 and ox0 < ox1:
                src = small[id(patch), f]
                out[oy0 - y0:oy1 - y0, ox0 - x0:ox1 - x0] = src[oy0 - py0:oy1 - py0, ox0 - px0:ox1 - px0]
        return out

    small = {}
    for patch in [tumour, *negatives]:
        for k in range(levels + 1):
            f = 2**k
            small[id(patch), f] = patch if f == 1 else cv2.resize(patch, (p // f, p // f), interpolation=cv2.INTER_AREA)
    side = side_px

    def tiles(f):
        s = side // f
        for y0 in range(0, s, tile):
            for x0 in range(0, s, tile):
                block = canvas_block(y0, min(y0 + tile, s), x0, min(x0 + tile, s), f)
                full = np.full((tile, tile, 3), 243, np.uint8)
                full[:block.shape[0], :block.shape[1]] = block
                yield full

    res = 1e4 / pixel_size_um
    opts = dict(photometric="rgb", tile=(tile, tile), compression="jpeg", compressionargs={"level": 90})
    with tifffile.TiffWriter(path, bigtiff=True) as tw:
        tw.write(tiles(1), shape=(side, side, 3), dtype=np.uint8, subifds=levels,
                 resolution=(res, res), resolutionunit="CENTIMETER", **opts)
        for k in range(1, levels + 1):
            f = 2**k
            tw.write(tiles(f), shape=(side // f, side // f, 3), dtype=np.uint8, subfiletype=1,
                     resolution=(res / f, res / f), resolutionunit="CENTIMETER", **opts)
    return n_grid


def run(path: Path, workers: int, cluster: bool = False) -> dict:
    out = subprocess.run([sys.executable, "-c", CHILD, str(path), str(workers), "cluster" if cluster else "local"],
                         capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side-px", type=int, default=20000)
    ap.add_argument("--pixel-size", type=float, default=0.5)
    ap.add_argument("--patch-um", type=float, default=2000.0)
    ap.add_argument("--keep", type=Path, default=None, help="keep the slides in this folder")
    ap.add_argument("--gigapixel", action="store_true",
                    help="only measure a ~1-gigapixel slide (time and peak memory, 2 local workers)")
    ap.add_argument("--macro", action="store_true",
                    help="only measure a macrometastasis slide (>= 300,000 tumour cells at --macro-grid 5)")
    ap.add_argument("--macro-grid", type=int, default=5, help="nodes per side of the macrometastasis slide")
    ap.add_argument("--macro-pixel-size", type=float, default=1.0)
    ap.add_argument("--workers", type=int, default=2, help="tile threads of the --macro run")
    ap.add_argument("--all-nuclei", action="store_true", help="--macro: export every nucleus too")
    args = ap.parse_args()
    if args.gigapixel:
        gigapixel(args)
        return
    if args.macro:
        macro(args)
        return
    t0 = time.perf_counter()
    tumour, negatives, truth = make_patches(args.pixel_size, args.patch_um, seed=4242)
    print(f"patches: {tumour.shape[0]} px nodes ({args.patch_um:.0f} µm at {args.pixel_size} µm/px), "
          f"made in {time.perf_counter() - t0:.0f} s; truth {truth['category']}, "
          f"largest deposit {truth['largest_deposit_um']:.0f} µm")
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nodescope-wsi-"))
    folder.mkdir(parents=True, exist_ok=True)
    p = tumour.shape[0]
    sizes = {"main": (args.side_px // p) * p}
    sizes["100MP"] = int(round(np.sqrt(100e6) / p)) * p
    sizes["400MP"] = int(round(np.sqrt(400e6) / p)) * p
    paths = {}
    for name, side in sizes.items():
        paths[name] = folder / f"slide_{name}.tif"
        t1 = time.perf_counter()
        n = write_slide(paths[name], side, tumour, negatives, args.pixel_size)
        print(f"wrote {paths[name].name}: {side} x {side} px ({side * side / 1e6:.0f} MP, {n} x {n} nodes), "
              f"{paths[name].stat().st_size / 2**20:.0f} MiB, {time.perf_counter() - t1:.0f} s")
    print()
    print(f"{'run':28s} {'MP':>6s} {'sec':>7s} {'MP/s':>6s} {'peak MiB':>9s} {'category':16s} {'largest µm':>10s}")
    results = {}
    for label, name, workers, cluster in (("1 local worker", "main", 1, False), ("2 local workers", "main", 2, False),
                                          ("LocalCluster, 2 workers", "main", 2, True),
                                          ("100 MP, 2 local workers", "100MP", 2, False),
                                          ("400 MP, 2 local workers", "400MP", 2, False)):
        r = run(paths[name], workers, cluster)
        results[label] = r
        print(f"{label:28s} {r['mp']:6.0f} {r['seconds']:7.1f} {r['mp'] / r['seconds']:6.1f} {r['peak_mb']:9.0f} "
              f"{r['category']:16s} {r['largest_um']:10.0f}")
    main_r = results["2 local workers"]
    print()
    print(f"truth: {truth['category']}, largest deposit {truth['largest_deposit_um']:.0f} µm; "
          f"found {main_r['category']}, {main_r['largest_um']:.0f} µm "
          f"(category equal: {main_r['category'] == truth['category']}, "
          f"diameter error {abs(main_r['largest_um'] - truth['largest_deposit_um']) / truth['largest_deposit_um']:.1%})")
    a, b = results["100 MP, 2 local workers"], results["400 MP, 2 local workers"]
    print(f"time per MP: {a['seconds'] / a['mp'] * 1000:.0f} ms at {a['mp']:.0f} MP, "
          f"{b['seconds'] / b['mp'] * 1000:.0f} ms at {b['mp']:.0f} MP "
          f"(ratio {b['seconds'] / a['seconds']:.2f} for {b['mp'] / a['mp']:.2f}x the pixels)")
    speedup = results["1 local worker"]["seconds"] / results["2 local workers"]["seconds"]
    print(f"2 workers vs 1: {speedup:.2f}x; peak memory max {max(r['peak_mb'] for r in results.values()):.0f} MiB")


def macro(args) -> None:
    """A grid of large macrometastases, analysed and written as ``nodescope analyze`` does."""
    from pipeline.synthetic import make_node

    t0 = time.perf_counter()
    side_um, px = 4000.0, args.macro_pixel_size
    node = make_node(size_um=(side_um, side_um), pixel_size_um=px, stain="he", pattern="cohesive",
                     deposits=[{"diameter_um": 0.8 * side_um}], seed=11)
    truth_cells = int(node.deposits["cell_count"].sum())
    p = node.rgb.shape[0]
    side = args.macro_grid * p
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nodescope-wsi-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"slide_macro_{args.macro_grid}x{args.macro_grid}.tif"
    write_slide(path, side, node.rgb, [node.rgb], px, tumour_everywhere=True)
    n_nodes = args.macro_grid**2
    print(f"macrometastasis slide: {n_nodes} nodes of {side_um:.0f} µm at {px} µm/px ({p} px, "
          f"{truth_cells} true tumour cells each: {n_nodes * truth_cells} in all); {side} x {side} px = "
          f"{side * side / 1e6:.0f} MP, {path.stat().st_size / 2**20:.0f} MiB; made in {time.perf_counter() - t0:.0f} s")
    del node
    out = subprocess.run([sys.executable, "-c", MACRO_CHILD, str(path), str(args.workers),
                          "all" if args.all_nuclei else "tumour"], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(out.stderr[-2000:])
    r = json.loads(out.stdout.strip().splitlines()[-1])
    total = r["analyse_seconds"] + r["write_seconds"]
    print(f"analysed ({args.workers} tile workers{', every nucleus exported' if args.all_nuclei else ''}): "
          f"{r['mp']:.0f} MP, {r['nuclei']} nuclei, {r['cells']} tumour cells in {r['deposits']} deposits, "
          f"category {r['category']}")
    print(f"analysis {r['analyse_seconds']:.0f} s ({r['mp'] / r['analyse_seconds']:.2f} MP/s); writing the outputs "
          f"{r['write_seconds']:.1f} s = {r['write_seconds'] / total:.1%} of {total:.0f} s (target < 15 %); "
          f"objects.geojson {r['geojson_mb']:.0f} MiB")
    print(f"peak memory {r['peak_mb']:.0f} MiB (target < 3072); nucleus outlines held {r['outlines_mb']:.0f} MiB")
    if not args.keep:
        path.unlink()
        folder.rmdir()


def gigapixel(args) -> None:
    tumour, negatives, truth = make_patches(args.pixel_size, args.patch_um, seed=4242)
    p = tumour.shape[0]
    side = int(np.ceil(np.sqrt(1e9) / p)) * p
    folder = args.keep or Path(tempfile.mkdtemp(prefix="nodescope-wsi-"))
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "slide_1GP.tif"
    write_slide(path, side, tumour, negatives, args.pixel_size)
    r = run(path, 2)
    print(f"{side} x {side} px = {r['mp']:.0f} MP: {r['seconds']:.0f} s ({r['mp'] / r['seconds']:.1f} MP/s), "
          f"peak memory {r['peak_mb']:.0f} MiB (target < 3072), category {r['category']} "
          f"(truth {truth['category']}), largest {r['largest_um']:.0f} µm (truth {truth['largest_deposit_um']:.0f})")
    path.unlink()


if __name__ == "__main__":
    main()
