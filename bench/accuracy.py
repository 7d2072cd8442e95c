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

Then a negative-node set (``--negatives``, default 24; seeds from ``--neg-seed0``,
default 97000, disjoint from the classifier's training seeds 7000+, this bench's
90000+ and ``bench/pattern.py``'s 95000+): negative nodes full of benign tumour
look-alikes, half ``benign="typical"`` (medulla with plasma cells, trabeculae,
high endothelial venules) and half ``benign="reactive"`` (many large germinal
centres with mitoses, sinus histiocytosis, plasma-cell-rich cords), H&E and
cytokeratin IHC, at 0.25, 0.5 and 1.0 µm/px, analysed the same way. Prints per
node the category found, the tumour-cell count and the largest deposit, then
the false ITCs / micrometastases / macrometastases out of N and which benign
kinds the false tumour cells were (each found cell is matched to the nearest
true nucleus within 0.75 x its diameter; none: "no nucleus").

``--pixel-sizes 0.25 --nucleus-pixel-size 0`` against ``--pixel-sizes 0.25`` compares 40x nodes
segmented at full resolution with the default (2 x 2 blocks).

Usage: python bench/accuracy.py [--nodes 48] [--negatives 24] [--workers 2] [--seed0 90000]
       [--neg-seed0 97000] [--patients 500] [--pixel-sizes 0.25,0.5,1.0] [--nucleus-pixel-size UM]
"""

from __future__ import annotations

import argparse
import itertools
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

BENIGN = ("typical", "reactive")
CATEGORIES = ("negative", "itc", "micrometastasis", "macrometastasis")
PATTERNS = ("cohesive", "single_file")
STAINS = ("he", "ihc")
PIXEL_SIZES = (0.25, 0.5, 1.0)


def plan(n_nodes: int, seed0: int, sizes=PIXEL_SIZES) -> list[dict]:
    combos = [c for c in itertools.product(CATEGORIES, PATTERNS, STAINS, sizes)
              if not (c[0] == "macrometastasis" and c[3] == 0.25)]
    rng = np.random.default_rng(seed0)
    order = rng.permutation(len(combos))
    jobs = []
    for i in range(n_nodes):
        cat, pat, stain, px = combos[order[i % len(combos)]]
        jobs.append({"category": cat, "pattern": pat, "stain": stain, "pixel_size_um": px, "seed": seed0 + i})
    return jobs


def plan_negatives(n_nodes: int, seed0: int, sizes=PIXEL_SIZES) -> list[dict]:
    """Negative nodes: the anatomy alternates, the stain every second node, the pixel size cycles.

    Every 12 consecutive nodes hold each (anatomy, stain, pixel size) once
    (i mod 4 and i mod 3 are independent), so any even N is half reactive.
    """
    sizes = np.random.default_rng(seed0).permutation(sizes)
    return [{"benign": BENIGN[i % 2], "stain": STAINS[(i // 2) % 2],
             "pixel_size_um": float(sizes[i % len(sizes)]), "seed": seed0 + i}
            for i in range(n_nodes)]


def _analyze_as_a_user(node, options=None):
    """Write ``node`` to a calibrated TIFF, read it back and analyse it (the public path)."""
    from pipeline.analysis import analyze
    from pipeline.io import read_image, write_calibrated_tiff

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "node.tif"
        write_calibrated_tiff(path, node.rgb, pixel_size_um=node.pixel_size_um)
        rgb, px, _ = read_image(path)
    t0 = time.perf_counter()
    result = analyze(rgb, pixel_size_um=px, **(options or {}))
    return result, time.perf_counter() - t0


def false_cell_kinds(truth_cells, found_yx) -> dict:
    """Benign kind of each found tumour cell: the nearest true nucleus within 0.75 x its diameter."""
    from scipy.spatial import cKDTree

    if len(found_yx) == 0:
        return {}
    tree = cKDTree(truth_cells[["y_um", "x_um"]].to_numpy())
    dist, idx = tree.query(np.asarray(found_yx, dtype=float))
    tol = 0.75 * 2 * truth_cells["radius_um"].to_numpy()[idx]
    kinds = np.where(dist <= tol, truth_cells["kind"].to_numpy()[idx], "no nucleus")
    names, counts = np.unique(kinds, return_counts=True)
    return {str(k): int(c) for k, c in zip(names, counts)}


def run_negative(job: dict) -> dict:
    from pipeline.synthetic import make_node_category

    node = make_node_category("negative", stain=job["stain"], pixel_size_um=job["pixel_size_um"],
                              seed=job["seed"], benign=job["benign"])
    if node.category != "negative":  # the truth of a negative node must stay negative
        raise RuntimeError(f"seed {job['seed']}: truth category {node.category!r}, expected 'negative'")
    result, seconds = _analyze_as_a_user(node, job.get("options"))
    return {
        **job,
        "shape": node.rgb.shape[:2],
        "truth_counts": node.cells["kind"].value_counts().to_dict(),
        "category": result.category,
        "tumor_cells": int(result.tumor_cell_count),
        "diameter": float(result.largest_deposit_um),
        "kinds": false_cell_kinds(node.cells, result.cells[["y_um", "x_um"]].to_numpy()),
        "stain_found": result.stain,
        "analyze_s": seconds,
    }


def report_negatives(rows: list[dict], seed0: int) -> None:
    n = len(rows)
    print()
    print(f"negative nodes with benign look-alikes (seeds {seed0}-{seed0 + n - 1}; half typical, half reactive)")
    print(f"{'seed':>6s} {'benign':8s} {'stain':5s} {'px':>5s} {'MP':>5s} {'found':15s} {'tumour cells':>12s} "
          f"{'largest mm':>10s} {'sec':>5s}  false cells by kind")
    for r in rows:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r["kinds"].items(), key=lambda kv: -kv[1]))
        flag = "" if r["category"] == "negative" else "  <-- false"
        print(f"{r['seed']:6d} {r['benign']:8s} {r['stain']:5s} {r['pixel_size_um']:5.2f} "
              f"{r['shape'][0] * r['shape'][1] / 1e6:5.1f} {r['category']:15s} {r['tumor_cells']:12d} "
              f"{r['diameter'] / 1000:10.3f} {r['analyze_s']:5.1f}  {kinds}{flag}")
    print()

    def falses(sub):
        return ", ".join(f"false {name} {sum(r['category'] == cat for r in sub)}/{len(sub)}"
                         for cat, name in (("itc", "ITC"), ("micrometastasis", "micro"),
                                           ("macrometastasis", "macro")))

    print(f"negatives: {n} nodes; {falses(rows)} (target: 0 false ITCs)")
    for key, values in (("stain", STAINS), ("benign", BENIGN), ("pixel_size_um", PIXEL_SIZES)):
        for value in values:
            sub = [r for r in rows if r[key] == value]
            if sub:
                cells = sum(r["tumor_cells"] for r in sub)
                print(f"  {key} {value}: {falses(sub)}; {cells} false tumour cells")
    for stain in STAINS:
        total: dict = {}
        for r in rows:
            if r["stain"] == stain:
                for k, v in r["kinds"].items():
                    total[k] = total.get(k, 0) + v
        present: dict = {}
        for r in rows:
            if r["stain"] == stain:
                for k, v in r["truth_counts"].items():
                    present[k] = present.get(k, 0) + v
        parts = [f"{k} {v} (of {present.get(k, 0)})" if k in present else f"{k} {v}"
                 for k, v in sorted(total.items(), key=lambda kv: -kv[1])]
        print(f"false tumour cells by benign kind ({stain}): {', '.join(parts) or 'none'}")


def run_one(job: dict) -> dict:
    from pipeline.evaluation import match_points
    from pipeline.synthetic import make_node_category

    t0 = time.perf_counter()
    node = make_node_category(job["category"], stain=job["stain"], pattern=job["pattern"],
                              pixel_size_um=job["pixel_size_um"], seed=job["seed"])
    make_s = time.perf_counter() - t0
    result, analyze_s = _analyze_as_a_user(node, job.get("options"))
    truth_cells = node.cells[node.cells["is_tumor"]]
    tol = 0.75 * 2 * float(truth_cells["radius_um"].median()) if len(truth_cells) else 5.0
    m = match_points(truth_cells[["y_um", "x_um"]].to_numpy(), result.cells[["y_um", "x_um"]].to_numpy(),
                     max_distance=tol)
    true_d = float(node.deposits["longest_diameter_um"].max()) if len(node.deposits) else 0.0
    return {
        **job,
        "shape": node.rgb.shape[:2],
        "truth_category": node.category,
        "category": result.category,
        "truth_diameter": true_d,
        "diameter": result.largest_deposit_um,
        "tp": m["tp"], "fp": m["fp"], "fn": m["fn"],
        "stain_found": result.stain,
        "make_s": make_s, "analyze_s": analyze_s,
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
    ap.add_argument("--patients", type=int, default=500, help="5-node patients drawn for the pN kappa (0: none)")
    ap.add_argument("--negatives", type=int, default=24,
                    help="negative nodes with benign look-alikes (0 skips them)")
    ap.add_argument("--neg-seed0", type=int, default=97000)
    ap.add_argument("--pixel-sizes", default=",".join(map(str, PIXEL_SIZES)),
                    help="comma-separated pixel sizes to draw from (µm/px)")
    ap.add_argument("--nucleus-pixel-size", type=float, default=None,
                    help="analysis option nucleus_pixel_size_um (default: the analysis' own; 0: full resolution)")
    args = ap.parse_args()
    if args.nodes < 1 or args.negatives < 0:
        ap.error(f"--nodes must be >= 1 and --negatives >= 0, got {args.nodes} and {args.negatives}")
    sizes = tuple(float(v) for v in args.pixel_sizes.split(","))
    options = {} if args.nucleus_pixel_size is None else {"nucleus_pixel_size_um": args.nucleus_pixel_size}
    jobs = [dict(j, options=options) for j in plan(args.nodes, args.seed0, sizes)]
    neg_jobs = [dict(j, options=options) for j in plan_negatives(args.negatives, args.neg_seed0, sizes)]
    t0 = time.perf_counter()
    with ProcessPoolExecutor(args.workers) as pool:
        node_futures = [pool.submit(run_one, j) for j in jobs]
        neg_futures = [pool.submit(run_negative, j) for j in neg_jobs]
        rows = [f.result() for f in node_futures]
        t_nodes = time.perf_counter() - t0
        neg_rows = [f.result() for f in neg_futures]
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
    kappa, agree = patients_kappa(rows, args.patients, args.seed0) if args.patients > 0 else (None, None)
    print()
    print(f"nodes: {len(rows)} ({t_nodes:.0f} s with {args.workers} workers)")
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
    if kappa is not None:
        print(f"pN stage over {args.patients} 5-node patients: quadratic-weighted kappa {kappa:.3f} "
              f"(target >= 0.95), exact agreement {agree:.3f}")
    if neg_rows:
        report_negatives(neg_rows, args.neg_seed0)
        print(f"all done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
