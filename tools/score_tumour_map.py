"""Score tumour-map networks (ONNX) on the PatchCamelyon test split, alone and averaged.

Patch score = mean of the 3 x 3 logits a 96 x 96 patch gives (the training target). Prints
each network's AUC, the AUC of the mean of their logits, and the sensitivity at the
test negatives' 90th-percentile score (an optimistic, test-chosen point: for comparing
networks, not an operating point). The pipeline-level figures are bench/real_he.py's.

With ``--focus`` also on the same patches blurred (Gaussian sigma 0.5 and 0.8 px) and sharpened
(unsharp mask, amount 0.6, sigma 1 px; as ``bench/he_robustness.py`` changes them): the AUC and
the sensitivity at the unchanged patches' threshold, i.e. how far a scanner's sharpness moves a
fixed operating point.

With ``--pre-blur SIGMA`` every patch (changed or not) is blurred by a Gaussian of SIGMA px before
the networks see it: the figures a map would give that brought every input to one softness first.

Usage: python tools/score_tumour_map.py A.onnx [B.onnx ...] [--data ../shared/realdata/pcam-patches] [--focus]
                                        [--pre-blur SIGMA]
"""

from __future__ import annotations

import argparse
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT = Path(__file__).resolve().parents[1].parent / "shared" / "realdata" / "pcam-patches"


#: --focus conditions, changed as bench/he_robustness.py changes them (one definition: its ``changed``)
FOCUS = ("blur 0.5", "blur 0.8", "sharpened")


def focus_changes() -> dict:
    """name -> the patch changed (uint8 RGB in, uint8 RGB out), from ``bench/he_robustness.py``."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    from he_robustness import CONDITIONS, changed

    return {name: (lambda a, how=CONDITIONS[name]: changed(a, how)[0]) for name in FOCUS}


def mean_logits(sessions, x: np.ndarray) -> tuple:
    """(the networks' mean patch score, each network's patch scores); a network's patch score is
    the mean of the 3 x 3 logits it gives a 96 x 96 patch."""
    out = []
    for sess in sessions:
        out.append(np.concatenate([sess.run(["logit"], {"rgb": x[i:i + 256]})[0].mean((1, 2, 3))
                                   for i in range(0, len(x), 256)]))
    return np.mean(out, 0), out


def pre_blur(sigma: float):
    """Patches (N, 96, 96, 3) uint8 -> the same blurred by a Gaussian of ``sigma`` px (0: unchanged)."""
    if sigma <= 0:
        return lambda x: x
    import cv2

    return lambda x: np.stack([cv2.GaussianBlur(a, (0, 0), sigma) for a in x])


def main() -> None:
    import onnxruntime as ort
    from PIL import Image
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("networks", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--focus", action="store_true", help="also blurred and sharpened (see above)")
    ap.add_argument("--pre-blur", type=float, default=0.0, metavar="SIGMA",
                    help="Gaussian blur (px) on every patch before the networks (0: none)")
    args = ap.parse_args()

    table = pd.read_csv(args.data / "labels.csv")
    test = table[table["split"] == "test"]
    with zipfile.ZipFile(args.data / "patches.zip") as z:
        x = np.stack([np.asarray(Image.open(io.BytesIO(z.read(f))).convert("RGB")) for f in test["file"]])
    y = test["label"].to_numpy()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    sessions = [ort.InferenceSession(str(path), opts) for path in args.networks]
    pre = pre_blur(args.pre_blur)
    mean, logits = mean_logits(sessions, pre(x))
    for path, one in zip(args.networks, logits):
        print(f"{path}: PCam test AUC {roc_auc_score(y, one):.4f}")
    neg = np.sort(mean[y == 0])
    thr = neg[int(0.9 * len(neg))]
    print(f"mean of {len(logits)}: PCam test AUC {roc_auc_score(y, mean):.4f}; sensitivity at the test "
          f"negatives' 90th percentile {(mean[y == 1] > thr).mean():.3f} ({len(y)} patches, {int(y.sum())} tumour)")
    if args.focus:
        for name, change in focus_changes().items():
            score, _ = mean_logits(sessions, pre(np.stack([change(a) for a in x])))
            print(f"  {name:10s}: AUC {roc_auc_score(y, score):.4f}; at the unchanged patches' threshold "
                  f"sensitivity {(score[y == 1] > thr).mean():.3f}, specificity {(score[y == 0] <= thr).mean():.3f}")


if __name__ == "__main__":
    main()
