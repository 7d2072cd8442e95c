"""Score tumour-map networks (ONNX) on the PatchCamelyon test split, alone and averaged.

Patch score = mean of the 3 x 3 logits a 96 x 96 patch gives (the training target). Prints
each network's AUC, the AUC of the mean of their logits, and the sensitivity at the
test negatives' 90th-percentile score (an optimistic, test-chosen point: for comparing
networks, not an operating point). The pipeline-level figures are bench/real_he.py's.

Usage: python tools/score_tumour_map.py A.onnx [B.onnx ...] [--data ../shared/realdata/pcam-patches]
"""

from __future__ import annotations

import argparse
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "pcam-patches"


def main() -> None:
    import onnxruntime as ort
    from PIL import Image
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("networks", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()

    table = pd.read_csv(args.data / "labels.csv")
    test = table[table["split"] == "test"]
    with zipfile.ZipFile(args.data / "patches.zip") as z:
        x = np.stack([np.asarray(Image.open(io.BytesIO(z.read(f))).convert("RGB")) for f in test["file"]])
    y = test["label"].to_numpy()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    logits = []
    for path in args.networks:
        sess = ort.InferenceSession(str(path), opts)
        logits.append(np.concatenate([sess.run(["logit"], {"rgb": x[i:i + 256]})[0].mean((1, 2, 3))
                                      for i in range(0, len(x), 256)]))
        print(f"{path}: PCam test AUC {roc_auc_score(y, logits[-1]):.4f}")
    mean = np.mean(logits, 0)
    neg = np.sort(mean[y == 0])
    thr = neg[int(0.9 * len(neg))]
    print(f"mean of {len(logits)}: PCam test AUC {roc_auc_score(y, mean):.4f}; sensitivity at the test "
          f"negatives' 90th percentile {(mean[y == 1] > thr).mean():.3f} ({len(y)} patches, {int(y.sum())} tumour)")


if __name__ == "__main__":
    main()
