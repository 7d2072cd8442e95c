"""Train the H&E tumour-cell forest shipped in pipeline/models/he_tumour_forest.json.

Reproducible: fixed seeds (7000-7000+N, disjoint from the accuracy bench's 90000+ and
from the tests'), fixed forest seed. Nodes of every category, cohesive and single-file
tumour, at 0.25, 0.5 and 1.0 µm/px are generated with ``pipeline.synthetic``; their
nuclei are found by the same code as ``pipeline.analyze`` and labelled tumour when
they lie within half a nuclear diameter of a true tumour-cell centre. The features
are the unit-free ratios of ``pipeline.tumor.he_features`` (relative to each image's
own lymphocytes), so the forest does not see pixel size or stain strength.

Needs scikit-learn (a development dependency; inference uses numpy only).

Usage: python tools/train_he_classifier.py [--nodes 36] [--workers 2]
"""

from __future__ import annotations

import argparse
import itertools
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "pipeline" / "models" / "he_tumour_forest.json"
CATEGORIES = ("negative", "itc", "micrometastasis")
PATTERNS = ("cohesive", "single_file", "mixed")
PIXEL_SIZES = (0.25, 0.5, 1.0)


def node_table(job):
    from scipy.spatial import cKDTree

    from pipeline.detection import find_nuclei
    from pipeline.options import AnalysisOptions
    from pipeline.synthetic import make_node_category
    from pipeline.tumor import he_features, lymphocyte_reference

    cat, pat, px, seed = job
    node = make_node_category(cat, stain="he", pattern=pat, pixel_size_um=px, seed=seed)
    nuclei = find_nuclei(node.rgb, pixel_size_um=px, options=AnalysisOptions(stain="he"), workers=1).nuclei
    feats = he_features(nuclei, reference=lymphocyte_reference(nuclei))
    truth = node.cells
    tree = cKDTree(truth[["y_um", "x_um"]].to_numpy())
    dist, idx = tree.query(nuclei[["y_um", "x_um"]].to_numpy())
    radius = truth["radius_um"].to_numpy()[idx]
    feats["tumor"] = (dist <= radius) & truth["is_tumor"].to_numpy()[idx]
    feats["node"] = f"{cat}-{pat}-{px}-{seed}"
    return feats


def export_forest(model, features, threshold, meta) -> dict:
    trees = []
    for est in model.estimators_:
        t = est.tree_
        value = t.value[:, 0, :]
        prob = value[:, 1] / np.maximum(value.sum(1), 1e-12)
        trees.append({
            "feature": t.feature.tolist(),
            "threshold": np.round(t.threshold, 6).tolist(),
            "left": t.children_left.tolist(),
            "right": t.children_right.tolist(),
            "value": np.round(prob, 5).tolist(),
        })
    return {"features": list(features), "threshold": threshold, "meta": meta, "trees": trees}


def main() -> None:
    from sklearn.ensemble import RandomForestClassifier

    from pipeline.tumor import HE_FEATURES

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nodes", type=int, default=36)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed0", type=int, default=7000)
    ap.add_argument("--out", type=Path, default=OUT)
    args = ap.parse_args()
    combos = list(itertools.product(CATEGORIES, PATTERNS, PIXEL_SIZES))
    jobs = [(*combos[i % len(combos)], args.seed0 + i) for i in range(args.nodes)]
    with ProcessPoolExecutor(args.workers) as pool:
        table = pd.concat(list(pool.map(node_table, jobs)), ignore_index=True)
    x = table[list(HE_FEATURES)].to_numpy(float)
    y = table["tumor"].to_numpy(bool)
    model = RandomForestClassifier(n_estimators=30, max_depth=7, min_samples_leaf=20,
                                   random_state=0, n_jobs=args.workers).fit(x, y)
    threshold = 0.5
    meta = {
        "trained_by": "tools/train_he_classifier.py",
        "nodes": args.nodes, "seeds": [args.seed0, args.seed0 + args.nodes - 1],
        "nuclei": int(len(y)), "tumour_nuclei": int(y.sum()),
        "model": "RandomForestClassifier(n_estimators=30, max_depth=7, min_samples_leaf=20, random_state=0)",
        "feature_importance": dict(zip(HE_FEATURES, np.round(model.feature_importances_, 3).tolist())),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(export_forest(model, HE_FEATURES, threshold, meta)) + "\n")
    pred = model.predict_proba(x)[:, 1] >= threshold
    tp, fp, fn = (pred & y).sum(), (pred & ~y).sum(), (~pred & y).sum()
    print(f"trained on {len(y)} nuclei ({y.sum()} tumour) from {args.nodes} nodes")
    print(f"training precision {tp / max(1, tp + fp):.3f}, recall {tp / max(1, tp + fn):.3f}")
    print("feature importance:", meta["feature_importance"])
    print(f"written {args.out} ({args.out.stat().st_size / 1024:.0f} KiB)")


if __name__ == "__main__":
    main()
