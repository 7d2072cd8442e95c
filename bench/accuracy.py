"""Accuracy of the whole analysis on freshly generated synthetic nodes.

Nodes come from ``pipeline.synthetic`` with seeds never used during development
(``--seed0``, default 90000): all four categories, cohesive and single-file
tumour, H&E and IHC, pixel sizes 0.25, 0.5 and 1.0 µm/px (macrometastases,
which need a 3 mm field, at 0.5 and 1.0 only). Each node is written to a
calibrated TIFF and analysed through ``read_image`` + ``analyze``, as a user
would.

Prints per node and overall:
- node category accuracy;
- median relative error of the largest-deposit diameter (nodes with tumour);
- tumour-cell detection precision and recall (detections matched one-to-one
  to true tumour-cell centres within 0.75 x the true nuclear diameter);
- quadratic-weighted kappa of the pN stage over 5-node patients drawn from the
  analysed nodes (the CAMELYON17 metric).

Usage: python bench/accuracy.py [--nodes 48] [--workers 2] [--seed0 90000]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

CATEGORIES = ("negative", "itc", "micrometastasis", "macrometastasis")
PATTERNS = ("cohesive", "single_file")
STAINS = ("he", "ihc")
PIXEL_SIZES = (0.25, 0.5, 1.0)


def plan(n_nodes: int, seed0: int) -> list[dict]:
    combos = [c for c in itertools.product(CATEGORIES, PATTERNS, STAINS, PIXEL_SIZES)
              if not (c[0] == "macrometastasis" and c[3] == 0.25)]
    rng = np.random.default_rng(seed0)
    order = rng.permutation(len(combos))
    jobs = []
    for i in range(n_nodes):
        cat, pat, stain, px = combos[order[i % len(combos)]]
        jobs.append({"category": cat, "pattern": pat, "stain": stain, "pixel_size_um": px, "seed": seed0 + i})
    return jobs


def run_one(job: dict) -> dict:
    from pipeline.analysis import analyze
    from pipeline.evaluation import match_points
    from pipeline.io import read_image, write_calibrated_tiff
    from pipeline.synthetic import make_node_category

    t0 = time.perf_counter()
    node = make_node_category(job["category"], stain=job["stain"], pattern=job["pattern"],
                              pixel_size_um=job["pixel_size_um"], seed=job["seed"])
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "node.tif"
        write_calibrated_tiff(path, node.rgb, pixel_size_um=node.pixel_size_um)
        rgb, px, _ = read_image(path)
    t1 = time.perf_counter()
    result = analyze(rgb, pixel_size_um=px)
    t2 = time.perf_counter()
    truth_cells = node.cells[node.cells["is_tumor"]]
    tol = 0.75 * 2 * float(truth_cells["radius_um"].median()) if len(truth_cells) else 5.0
    m = match_points(truth_cells[["y_um", "x_um"]].to_numpy(), result.cells[["y_um", "x_um"]].to_numpy(),
                     max_distance=tol)
    true_d = float(node.deposits["longest_diameter_um"].max()) if len(node.deposits) else 0.0
    return {
        **job,
        "shape": rgb.shape[:2],
        "truth_category": node.category,
        "category": result.category,
        "truth_diameter": true_d,
        "diameter": result.largest_deposit_um,
        "tp": m["tp"], "fp": m["fp"], "fn": m["fn"],
        "stain_found": result.stain,
        "make_s": t1 - t0, "analyze_s": t2 - t1,
    }


def patients_kappa(rows: list[dict], n_patients: int, seed: int) -> tuple[float, float]:
    from pipeline.staging import camelyon17_label, patient_pn_stage, quadratic_weighted_kappa

    rng = np.random.default_rng(seed)
    truth, pred = [], []
    # draw 5-node patients; weight towards realistic mixes (most nodes negative)
    for _ in range(n_patients):
        idx = rng.choice(len(rows), size=5, replace=False)
        truth.append(camelyon17_label(patient_pn_stage([rows[i]["truth_category"] for i in idx])))
        pred.append(camelyon17_label(patient_pn_stage([rows[i]["category"] for i in idx])))
    agree = float(np.mean([t == p for t, p in zip(truth, pred)]))
    return quadratic_weighted_kappa(truth, pred), agree


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=48)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed0", type=int, default=90000)
    ap.add_argument("--patients", type=int, default=500)
    args = ap.parse_args()
    jobs = plan(args.nodes, args.seed0)
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        rows = list(pool.map(run_one, jobs))
    print(f"{'seed':>6s} {'stain':5s} {'pattern':11s} {'px':>5s} {'truth':15s} {'found':15s} "
          f"{'true mm':>7s} {'found mm':>8s} {'P':>5s} {'R':>5s} {'sec':>5s}")
    for r in rows:
        p = r["tp"] / (r["tp"] + r["fp"]) if r["tp"] + r["fp"] else float("nan")
        rc = r["tp"] / (r["tp"] + r["fn"]) if r["tp"] + r["fn"] else float("nan")
        flag = "" if r["category"] == r["truth_category"] else "  <-- wrong"
        print(f"{r['seed']:6d} {r['stain']:5s} {r['pattern']:11s} {r['pixel_size_um']:5.2f} "
              f"{r['truth_category']:15s} {r['category']:15s} {r['truth_diameter'] / 1000:7.3f} "
              f"{r['diameter'] / 1000:8.3f} {p:5.2f} {rc:5.2f} {r['analyze_s']:5.1f}{flag}")
    acc = np.mean([r["category"] == r["truth_category"] for r in rows])
    rel = [abs(r["diameter"] - r["truth_diameter"]) / r["truth_diameter"] for r in rows if r["truth_diameter"] > 0]
    tp, fp, fn = (sum(r[k] for r in rows) for k in ("tp", "fp", "fn"))
    kappa, agree = patients_kappa(rows, args.patients, args.seed0)
    print()
    print(f"nodes: {len(rows)} ({time.perf_counter() - t0:.0f} s with {args.workers} workers)")
    for stain in STAINS:
        sub = [r for r in rows if r["stain"] == stain]
        s_acc = np.mean([r["category"] == r["truth_category"] for r in sub])
        s_tp, s_fp, s_fn = (sum(r[k] for r in sub) for k in ("tp", "fp", "fn"))
        print(f"  {stain}: category accuracy {s_acc:.3f}; cell precision {s_tp / max(1, s_tp + s_fp):.3f}, "
              f"recall {s_tp / max(1, s_tp + s_fn):.3f}")
    print(f"stain detection accuracy: {np.mean([r['stain_found'] == r['stain'] for r in rows]):.3f}")
    print(f"node category accuracy: {acc:.3f} (target >= 0.95)")
    print(f"median relative error of the largest diameter: {np.median(rel):.3f} over {len(rel)} nodes (target <= 0.10)")
    print(f"tumour-cell detection: precision {tp / max(1, tp + fp):.3f}, recall {tp / max(1, tp + fn):.3f} (target >= 0.9)")
    print(f"pN stage over {args.patients} 5-node patients: quadratic-weighted kappa {kappa:.3f} "
          f"(target >= 0.95), exact agreement {agree:.3f}")


if __name__ == "__main__":
    main()
