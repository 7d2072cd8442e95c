"""Cytokeratin IHC that does not invent deposits: synthetic nodes with faint diffuse DAB.

1. Negative nodes (typical and reactive anatomy) with a diffuse, uneven DAB background of
   0.05-0.12 OD on the tissue: false tumour cells and deposits (target 0 deposits).
2. Lobular ITC nodes (single cells and single files, small tumour cells) with background
   DAB 0.04-0.10: tumour cells found vs the truth (target within +-20 % per node).
3. Micrometastases (cohesive and single-file) with background: still found.

Fresh seeds by default (--seed0). Usage: python bench/ihc_background.py [--negatives 20]
[--lobular 10] [--seed0 710000] [--pixel-size 0.5]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from pipeline import analyze
from pipeline.synthetic import make_node_category


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--negatives", type=int, default=20)
    ap.add_argument("--lobular", type=int, default=10)
    ap.add_argument("--micro", type=int, default=4)
    ap.add_argument("--seed0", type=int, default=710000)
    ap.add_argument("--pixel-size", type=float, default=0.5)
    args = ap.parse_args()
    px, t0 = args.pixel_size, time.perf_counter()
    false_deposits = false_cells = 0
    print(f"negative IHC nodes with diffuse DAB (seeds {args.seed0}+):")
    for i in range(args.negatives):
        od = 0.05 + 0.07 * i / max(1, args.negatives - 1)
        node = make_node_category("negative", stain="ihc", benign=("typical", "reactive")[i % 2],
                                  pixel_size_um=px, seed=args.seed0 + i, dab_background_od=od)
        r = analyze(node.rgb, pixel_size_um=px)
        false_deposits += len(r.deposits)
        false_cells += r.tumor_cell_count
        print(f"  seed {args.seed0 + i} background {od:.3f} OD: {r.stain} {r.category}, "
              f"{r.tumor_cell_count} tumour cells, {len(r.deposits)} deposits")
    print(f"false deposits: {false_deposits} in {args.negatives} negative nodes "
          f"({false_cells} false tumour cells; target 0 deposits)")
    within, errors = 0, []
    print("lobular ITC nodes (single cells and single files):")
    for i in range(args.lobular):
        od = 0.04 + 0.06 * i / max(1, args.lobular - 1)
        seed = args.seed0 + 1000 + i
        node = make_node_category("itc", stain="ihc", pattern="single_file", benign="typical",
                                  pixel_size_um=px, seed=seed, dab_background_od=od)
        r = analyze(node.rgb, pixel_size_um=px)
        err = (r.tumor_cell_count - node.tumor_cell_count) / node.tumor_cell_count
        errors.append(err)
        within += abs(err) <= 0.2
        print(f"  seed {seed} background {od:.3f}: true {node.tumor_cell_count} cells, found "
              f"{r.tumor_cell_count} ({err:+.0%}), {r.category}")
    print(f"lobular ITCs with the cell count within +-20 %: {within} of {args.lobular} "
          f"(median error {np.median(errors):+.0%})")
    print("micrometastases with background DAB 0.08:")
    for i in range(args.micro):
        seed = args.seed0 + 2000 + i
        node = make_node_category("micrometastasis", stain="ihc", pattern=("cohesive", "single_file")[i % 2],
                                  benign="typical", pixel_size_um=px, seed=seed, dab_background_od=0.08)
        r = analyze(node.rgb, pixel_size_um=px)
        print(f"  seed {seed} {node.params.get('pattern', '')}: truth {node.category} "
              f"{node.truth_dict()['largest_deposit_um']:.0f} µm, found {r.category} {r.largest_deposit_um:.0f} µm")
    print(f"{(time.perf_counter() - t0) / 60:.1f} min")


if __name__ == "__main__":
    main()
