"""How many confident cells an H&E deposit needs: two (shipped since 2026-12-02), one or three (measured, not shipped).

``find_tumour_cells`` keeps a deposit of candidate cells when one of its cells reaches the seed
probability. This bench asks what a deposit that needs ``k`` cells at the seed would do, from one
pass of the public stages: ``find_nuclei`` -> ``find_tumour_cells`` with the hysteresis off
(``seed_probability=0, seed_cells=1``: every candidate kept) -> ``pipeline.measure.assign_deposits`` (the
analysis' linking rule), then the ``k``-th highest probability of each deposit.

- PatchCamelyon: the 1,600 patches the tumour map kept for its own validation (800 per class, as
  ``tools/train_he_cells.py`` chooses the seed on them) and the 3,200 ``test`` patches. A patch
  is called positive when one of its deposits passes (a 96 µm patch is one deposit at 75 µm
  linking). For each ``k`` and seed: sensitivity and specificity, and the one-sided 95 %
  Clopper-Pearson lower bound of the validation specificity (``--specificity-confidence`` of
  ``tools/train_he_cells.py``).
- Synthetic H&E nodes (``bench/accuracy.py``'s plans): negatives of ``--neg-seed0`` (each plan
  of 24, its H&E half) and the ITCs and micrometastases of ``--seed0`` (plans of 40, H&E). A
  negative is false when a deposit passes; a positive is found when a deposit holding a true
  tumour cell passes.

Rules (``--rules``): ``k:seed`` pairs; ``model`` is the shipped cell model's own rule (its
``seed_cells`` and ``seed_threshold``), so that a model trained by ``tools/train_he_cells.py`` is
measured at the operating point it chose.

Usage: python bench/he_seed_cells.py [--realdata DIR] [--workers 2] [--neg-seed0 211000,212000]
       [--seed0 210000,213000] [--only pcam,synthetic] [--rules model,1:0.9144,2:0.9,2:0.9144,3:0.9]
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = ROOT.parent / "shared" / "realdata"
PCAM_UM = 0.972
RULES = "model,1:0.9144,1:0.93,2:0.9,2:0.9144,3:0.9"


def parse_rules(text: str) -> list[tuple[int, float]]:
    """``"model,2:0.9"`` -> [(the shipped model's seed cells, its seed), (2, 0.9)]; k is 1, 2 or 3."""
    rules = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if part == "model":
            from pipeline.he_cells import load_he_cell_model

            m = load_he_cell_model()
            rules.append((int(m.seed_cells), float(m.seed_threshold)))
            continue
        try:
            k, seed = part.split(":")
            rules.append((int(k), float(seed)))
        except ValueError:
            raise SystemExit(f"--rules: {part!r} is not k:seed (e.g. 2:0.9) or 'model'") from None
        if rules[-1][0] not in (1, 2, 3):
            raise SystemExit(f"--rules: k must be 1, 2 or 3, got {part!r}")
    return rules


def _deposit_probabilities(nuclei, truth=None) -> list[dict]:
    """Per deposit of candidates (hysteresis off): cell count, true tumour cells, top 3 probabilities."""
    from scipy.spatial import cKDTree

    from pipeline import AnalysisOptions, find_tumour_cells
    from pipeline.measure import assign_deposits

    cells = find_tumour_cells(nuclei, "he", AnalysisOptions(seed_probability=0.0, seed_cells=1)).cells
    if not len(cells):
        return []
    ids = assign_deposits(cells, rule="camelyon", link_um=75.0, contact_um=3.0)
    prob = cells["tumor_probability"].to_numpy()
    is_true = np.zeros(len(cells), bool)
    if truth is not None:
        dist, idx = cKDTree(truth[["y_um", "x_um"]].to_numpy()).query(cells[["y_um", "x_um"]].to_numpy())
        is_true = (dist <= 0.75 * 2 * truth["radius_um"].to_numpy()[idx]) & (truth["kind"].to_numpy()[idx] == "tumor")
    rows = []
    for g in np.unique(ids):
        m = ids == g
        p = np.r_[np.sort(prob[m])[::-1], 0.0, 0.0][:3]
        rows.append({"cells": int(m.sum()), "true_cells": int(is_true[m].sum()), "p1": p[0], "p2": p[1], "p3": p[2]})
    return rows


def _patch(args) -> dict:
    from PIL import Image

    from pipeline import find_nuclei

    name, label, part, data = args
    rgb = np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    found = find_nuclei(rgb, pixel_size_um=PCAM_UM, workers=1)
    deps = _deposit_probabilities(found.nuclei) if found.stain == "he" and len(found.nuclei) else []
    top = {f"p{k}": max((d[f"p{k}"] for d in deps), default=0.0) for k in (1, 2, 3)}
    return {"file": name, "label": label, "set": part, **top}


def _node(job) -> list[dict]:
    from pipeline import find_nuclei
    from pipeline.synthetic import make_node_category

    if job["kind"] == "negative":
        node = make_node_category("negative", stain="he", pixel_size_um=job["pixel_size_um"], seed=job["seed"],
                                  benign=job["benign"])
    else:
        node = make_node_category(job["category"], pattern=job["pattern"], stain="he",
                                  pixel_size_um=job["pixel_size_um"], seed=job["seed"])
    found = find_nuclei(node.rgb, pixel_size_um=node.pixel_size_um, workers=1)
    deps = _deposit_probabilities(found.nuclei, node.cells) if found.stain == "he" and len(found.nuclei) else []
    # a node without a deposit still gets a row (it counts among the nodes)
    return [{**job, **d} for d in deps] or [{**job, "cells": 0, "true_cells": 0, "p1": 0.0, "p2": 0.0, "p3": 0.0}]


def pcam(root: Path, workers: int, rules) -> None:
    from scipy.stats import beta

    sys.path.insert(0, str(ROOT / "tools"))
    from train_he_detector import split_train_val

    labels = pd.read_csv(root / "pcam-patches" / "labels.csv")
    _, map_val = split_train_val(labels, 0.125, 0)
    val = labels.iloc[map_val].sample(frac=1.0, random_state=20261129)  # as tools/train_he_cells.py
    val = pd.concat([val[val["label"] == 1].iloc[:800], val[val["label"] == 0].iloc[:800]]).assign(set="validation")
    table = pd.concat([val, labels[labels["split"] == "test"].assign(set="test")])
    with zipfile.ZipFile(root / "pcam-patches" / "patches.zip") as zf:
        names = {Path(f).name: f for f in zf.namelist()}
        jobs = [(r.file, int(r.label), r.set, zf.read(names[r.file])) for r in table.itertuples()]
    with ProcessPoolExecutor(workers) as pool:
        d = pd.DataFrame(list(pool.map(_patch, jobs, chunksize=16)))
    v, t = d[d["set"] == "validation"], d[d["set"] == "test"]
    print(f"PatchCamelyon ({len(v)} validation, {len(t)} test patches): a patch is positive when a deposit "
          "has k cells at the seed")
    for k, seed in rules:
        cv, ct = v[f"p{k}"] >= seed, t[f"p{k}"] >= seed
        n_neg = int((v["label"] == 0).sum())
        tn = int((~cv[v["label"] == 0]).sum())
        bound = float(beta.ppf(0.05, tn, n_neg - tn + 1)) if tn else 0.0
        print(f"  k {k}, seed {seed:.4f}: validation sensitivity {cv[v['label'] == 1].mean():.3f}, specificity "
              f"{1 - cv[v['label'] == 0].mean():.3f} (95 % lower bound {bound:.3f}); test sensitivity "
              f"{ct[t['label'] == 1].mean():.3f}, specificity {1 - ct[t['label'] == 0].mean():.3f}")


def synthetic(neg_seeds, pos_seeds, workers: int, rules) -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    from accuracy import plan, plan_negatives

    jobs = [dict(j, kind="negative") for s in neg_seeds for j in plan_negatives(24, s) if j["stain"] == "he"]
    jobs += [dict(j, kind="positive") for s in pos_seeds for j in plan(40, s)
             if j["stain"] == "he" and j["category"] in ("itc", "micrometastasis")]
    with ProcessPoolExecutor(workers) as pool:
        d = pd.DataFrame([r for part in pool.map(_node, jobs) for r in part])
    d["node"] = d["kind"] + d["seed"].astype(str)
    neg, pos = d[d["kind"] == "negative"], d[d["kind"] == "positive"]
    print(f"synthetic H&E nodes: {neg['node'].nunique()} negatives (seeds {neg_seeds}), "
          f"{pos['node'].nunique()} ITCs and micrometastases (seeds {pos_seeds})")
    for k, seed in rules:
        col = f"p{k}"
        false = neg[neg[col] >= seed]
        found = pos[(pos[col] >= seed) & (pos["true_cells"] > 0)]["node"].nunique()
        print(f"  k {k}, seed {seed:.4f}: negatives with a false deposit {false['node'].nunique()} "
              f"({int(false['cells'].sum())} cells); positives found {found} / {pos['node'].nunique()}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=DEFAULT)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--neg-seed0", default="211000,212000")
    ap.add_argument("--seed0", default="210000,213000")
    ap.add_argument("--only", default="pcam,synthetic")
    ap.add_argument("--rules", default=RULES, help="k:seed pairs; 'model': the shipped model's own rule")
    args = ap.parse_args()
    rules = parse_rules(args.rules)
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if "pcam" in parts:
        pcam(args.realdata, args.workers, rules)
    if "synthetic" in parts:
        synthetic([int(s) for s in args.neg_seed0.split(",")], [int(s) for s in args.seed0.split(",")], args.workers, rules)


if __name__ == "__main__":
    main()
