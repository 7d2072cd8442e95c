"""H&E against its cytokeratin twin: the same synthetic node stained both ways.

The generator draws the anatomy and the tumour from the seed and the stain only from
the stain, so ``make_node_category(..., stain="he", seed=s)`` and ``stain="ihc"`` are
the same cells: an H&E section and its cytokeratin (DAB) twin. Each pair is analysed
with ``pipeline.analyze`` as a user would (``stain="auto"``), and the largest deposit of
the H&E analysis is compared with the cytokeratin one (the aim for real pairs: within
25 %), with the category of both and the truth.

Fresh seeds by default (``--seed0``). Usage: python bench/twins.py [--seed0 120000]
[--workers 2] [--pixel-sizes 0.5,1.0]
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor

import numpy as np


def run_pair(job: dict) -> dict:
    from pipeline.analysis import analyze
    from pipeline.synthetic import make_node_category

    out = dict(job)
    for stain in ("he", "ihc"):
        node = make_node_category(job["category"], stain=stain, pattern=job["pattern"],
                                  pixel_size_um=job["pixel_size_um"], seed=job["seed"])
        r = analyze(node.rgb, pixel_size_um=node.pixel_size_um)
        out[stain] = {"stain": r.stain, "category": r.category, "largest_um": r.largest_deposit_um,
                      "cells": r.tumor_cell_count}
        out["truth_um"] = node.truth_dict()["largest_deposit_um"]
        out["truth"] = node.category
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed0", type=int, default=120000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--pixel-sizes", default="0.5,1.0")
    args = ap.parse_args()
    sizes = [float(v) for v in args.pixel_sizes.split(",")]
    jobs = [{"category": c, "pattern": p, "pixel_size_um": px, "seed": args.seed0 + i}
            for i, (c, p, px) in enumerate(itertools.product(
                ("itc", "micrometastasis", "macrometastasis"), ("cohesive", "single_file"), sizes))]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_pair, jobs))
    print(f"{'seed':>7s} {'truth':15s} {'pattern':11s} {'px':>4s} {'true mm':>7s} {'IHC':>24s} {'H&E':>24s} {'H&E/IHC':>7s}")
    ratios, same = [], 0
    for r in rows:
        he, ihc = r["he"], r["ihc"]
        ratio = he["largest_um"] / ihc["largest_um"] if ihc["largest_um"] > 0 else float("nan")
        ratios.append(ratio)
        same += he["category"] == ihc["category"]
        flag = "" if abs(ratio - 1) <= 0.25 else "  <-- beyond 25 %"
        print(f"{r['seed']:7d} {r['truth']:15s} {r['pattern']:11s} {r['pixel_size_um']:4.2f} {r['truth_um'] / 1000:7.3f} "
              f"{ihc['category']:>15s} {ihc['largest_um'] / 1000:7.3f}  {he['category']:>15s} "
              f"{he['largest_um'] / 1000:7.3f}  {ratio:7.2f}{flag}")
    ratios = np.asarray(ratios)
    ok = np.isfinite(ratios)
    print(f"pairs: {len(rows)}; H&E largest deposit within 25 % of its cytokeratin twin: "
          f"{int((np.abs(ratios[ok] - 1) <= 0.25).sum())} of {int(ok.sum())} (median ratio "
          f"{np.median(ratios[ok]):.2f}); same category: {same} of {len(rows)}")


if __name__ == "__main__":
    main()
