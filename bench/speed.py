"""End-to-end speed and peak memory on a 16-megapixel node, against a floor.

Also the learned H&E detector alone: the tumour map per megapixel and the cell
decision per 10,000 nuclei.

The floor is what no analysis can avoid: reading the file plus one colour-
deconvolution pass. Each measurement runs in a fresh process so that peak
resident memory (ru_maxrss) belongs to that step alone; the memory of a process
that only imports the libraries is subtracted.

Also the share of the run spent writing the outputs (cells.csv, deposits.csv,
overlay.png, objects.geojson, summary.json), for the tumour cells and, with
every nucleus exported (``--all-nuclei``), for >= 10,000 GeoJSON features.

Usage: python bench/speed.py [--side-um 2000] [--pixel-size 0.5] [--repeats 3] [--deposit 0.7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

CHILD = r"""
import json, sys, time
mode, path = sys.argv[1], sys.argv[2]
import numpy as np
from pipeline.io import read_image
from pipeline.stains import estimate_background, estimate_stain_vectors, separate_stains
from pipeline.analysis import analyze
t0 = time.perf_counter()
if mode == "floor":
    rgb, px, _ = read_image(path)
    sub = rgb[::4, ::4]
    bg = estimate_background(sub)
    v, _ = estimate_stain_vectors(sub, background=bg)
    conc = separate_stains(rgb, v, background=bg)
    out = {"cells": 0}
elif mode == "detector":
    # the learned H&E detector alone: tumour map (whole image) and the cell decision
    from pipeline import AnalysisOptions, find_nuclei, find_tumour_cells
    from pipeline.heatmap import tumour_map
    rgb, px, _ = read_image(path)
    tumour_map(rgb[:256, :256], pixel_size_um=px)  # load the network once
    t1 = time.perf_counter()
    tumour_map(rgb, pixel_size_um=px)
    t_map = time.perf_counter() - t1
    found = find_nuclei(rgb, pixel_size_um=px, options=AnalysisOptions(stain="he"))
    find_tumour_cells(found.nuclei.iloc[:100], "he")  # load the cell model once
    t1 = time.perf_counter()
    find_tumour_cells(found.nuclei, "he")
    t_cells = time.perf_counter() - t1
    out = {"cells": len(found.nuclei), "map_seconds": t_map, "cell_seconds": t_cells}
elif mode in ("analyze", "export"):
    # end to end as `nodescope analyze` does it: read, analyse, write every output;
    # "export" also keeps every nucleus (--all-nuclei), so the GeoJSON holds all of them
    import tempfile
    from pipeline import AnalysisOptions
    from pipeline.export import write_node_outputs
    rgb, px, _ = read_image(path)
    r = analyze(rgb, pixel_size_um=px, options=AnalysisOptions(all_nuclei=mode == "export"))
    t1 = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        write_node_outputs(d, r, rgb, geojson=True)
    out = {"cells": r.nucleus_count, "tumour_cells": len(r.cells), "category": r.category,
           "write_seconds": time.perf_counter() - t1,
           "features": len(r.cells) + len(r.deposits) if r.nuclei is None else len(r.nuclei) + len(r.deposits)}
else:
    out = {}
out["seconds"] = time.perf_counter() - t0
# VmHWM: this process's peak resident memory (ru_maxrss would include the parent's)
hwm = [l for l in open("/proc/self/status") if l.startswith("VmHWM")][0]
out["maxrss_mb"] = int(hwm.split()[1]) / 1024
print(json.dumps(out))
"""


def run(mode: str, path: Path) -> dict:
    res = subprocess.run([sys.executable, "-c", CHILD, mode, str(path)], capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--side-um", type=float, default=2000.0)
    ap.add_argument("--pixel-size", type=float, default=0.5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--deposit", type=float, default=1 / 3, help="deposit diameter / node side (0.7: macro)")
    args = ap.parse_args()

    from pipeline.io import write_calibrated_tiff
    from pipeline.synthetic import make_node

    node = make_node(size_um=(args.side_um, args.side_um), pixel_size_um=args.pixel_size, stain="he",
                     pattern="cohesive", deposits=[{"diameter_um": args.side_um * args.deposit}], seed=11)
    m, n = node.rgb.shape[:2]
    mp = m * n / 1e6
    rgb_mb = node.rgb.nbytes / 2**20
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "speed_node.tif"
        write_calibrated_tiff(path, node.rgb, pixel_size_um=args.pixel_size)
        del node
        base = run("imports", path)
        best = {}
        det = min((run("detector", path) for _ in range(args.repeats)), key=lambda r: r["map_seconds"])
        for mode in ("floor", "analyze", "export"):
            runs = [run(mode, path) for _ in range(args.repeats)]
            best[mode] = min(runs, key=lambda r: r["seconds"])
            best[mode]["maxrss_mb"] = max(r["maxrss_mb"] for r in runs)
    print(f"image: {n} x {m} px = {mp:.1f} MP at {args.pixel_size} µm/px; RGB {rgb_mb:.0f} MiB")
    print(f"baseline process (imports only): {base['maxrss_mb']:.0f} MiB")
    for mode, label in (("floor", "floor (read + 1 deconvolution)"), ("analyze", "end to end (read + analyze)")):
        r = best[mode]
        extra = r["maxrss_mb"] - base["maxrss_mb"]
        print(f"{label:34s} {r['seconds']:6.2f} s  {mp / r['seconds']:6.1f} MP/s  "
              f"peak +{extra:6.0f} MiB = {extra / rgb_mb:4.1f}x RGB")
    ratio = best["floor"]["seconds"] / best["analyze"]["seconds"]
    print(f"end-to-end speed / floor speed: {ratio:.2f} (target >= 0.25)")
    mem_ratio = (best["analyze"]["maxrss_mb"] - base["maxrss_mb"]) / rgb_mb
    print(f"end-to-end peak memory / RGB bytes: {mem_ratio:.1f} (target < 6)")
    print(f"nuclei: {best['analyze']['cells']}, tumour cells: {best['analyze']['tumour_cells']}, "
          f"category: {best['analyze'].get('category')}")
    for mode in ("analyze", "export"):
        r = best[mode]
        share = r["write_seconds"] / r["seconds"]
        print(f"{mode:8s}: {r['features']} GeoJSON features; writing outputs {r['write_seconds']:.2f} s = "
              f"{share:.0%} of {r['seconds']:.2f} s end to end (target < 15 %); end-to-end / floor "
              f"{best['floor']['seconds'] / r['seconds']:.2f} (target >= 0.25)")
    print(f"H&E detector: tumour map {det['map_seconds']:.2f} s = {det['map_seconds'] / mp:.3f} s per MP "
          f"({det['map_seconds'] / best['analyze']['seconds']:.0%} of end to end); cell decision "
          f"{det['cell_seconds']:.2f} s = {det['cell_seconds'] / det['cells'] * 1e4:.3f} s per 10,000 nuclei")


if __name__ == "__main__":
    main()
