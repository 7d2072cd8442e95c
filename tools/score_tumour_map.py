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
With ``--pre-blur-target F`` as well, each patch gets only as much of it as it needs: the smallest
pre-blur (0, 0.2, 0.3, ... px, at most SIGMA) after which its focus ratio (:func:`focus_ratio`,
higher is softer) reaches F; a patch already that soft is left alone.

``--split val`` scores the tumour map's own validation subset of the train split (the 1,600
patches ``tools/train_he_detector.py`` holds out with its default fraction and split seed 0, on
which ``tools/train_he_cells.py`` sets the seed threshold) instead of the test split.

``--rotations 2|4`` averages each network's patch score over the patch turned by half or quarter
turns (test-time augmentation, as ``pipeline.heatmap.tumour_map(rotations=)`` does with the
map's probabilities).

``--tiles DIR`` also reads the first network as a map (``pipeline.heatmap.tumour_map``, which
applies the pre-blur itself, on its resampled input) on the CAMELYON tiles of DIR (``camelyon-tiles-masks``, 1 µm/px):
pixel AUC against the coarse masks, median Dice of map >= 0.5 with them, and the share of the
empty-mask tile at map >= 0.5.

Usage: python tools/score_tumour_map.py A.onnx [B.onnx ...] [--data ../shared/realdata/pcam-patches] [--focus]
                                        [--pre-blur SIGMA [--pre-blur-target F]] [--split test|val]
                                        [--rotations 1|2|4] [--tiles ../shared/realdata/camelyon-tiles-masks]
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


def mean_logits(sessions, x: np.ndarray, rotations: int = 1) -> tuple:
    """(the networks' mean patch score, each network's patch scores); a network's patch score is
    the mean of the 3 x 3 logits it gives a 96 x 96 patch, averaged over the patch turned by
    ``rotations`` orientations (1: as it is; 2: and half a turn; 4: every quarter turn)."""
    if rotations not in (1, 2, 4):
        raise ValueError(f"rotations must be 1, 2 or 4, got {rotations}")
    turns = range(0, 4, 4 // rotations)
    out = []
    for sess in sessions:
        one = 0.0
        for k in turns:
            xk = np.ascontiguousarray(np.rot90(x, k, axes=(1, 2)))
            one = one + np.concatenate([sess.run(["logit"], {"rgb": xk[i:i + 256]})[0].mean((1, 2, 3))
                                        for i in range(0, len(xk), 256)])
        out.append(one / len(turns))
    return np.mean(out, 0), out


def pre_blur(sigma: float):
    """Patches (N, 96, 96, 3) uint8 -> the same blurred by a Gaussian of ``sigma`` px (0: unchanged)."""
    if sigma <= 0:
        return lambda x: x
    import cv2

    return lambda x: np.stack([cv2.GaussianBlur(a, (0, 0), sigma) for a in x])


def focus_ratio(rgb: np.ndarray) -> float:
    """How soft an RGB uint8 image is (higher is softer): ``pipeline.heatmap.map_focus_ratio``, the
    measure the map's own pre-blur rule reads."""
    from pipeline.heatmap import map_focus_ratio

    return map_focus_ratio(rgb)


def pre_blur_needed(rgb: np.ndarray, target: float, cap: float) -> float:
    """The smallest pre-blur (px) among 0, 0.2, 0.3, ... up to ``cap`` after which ``rgb``'s
    :func:`focus_ratio` reaches ``target`` (``cap`` if none does; 0 if the ratio is undefined):
    the rule ``pipeline.heatmap.tumour_map`` applies with a model's ``pre_blur`` metadata."""
    from pipeline.heatmap import choose_pre_blur

    return choose_pre_blur([rgb], target, cap)[0]


def adaptive_pre_blur(target: float, cap: float):
    """Patches (N, 96, 96, 3) uint8 -> (the same, each blurred by its :func:`pre_blur_needed`, the sigmas)."""
    import cv2

    def apply(x):
        sigmas = np.array([pre_blur_needed(a, target, cap) for a in x])
        out = np.stack([a if s == 0 else cv2.GaussianBlur(a, (0, 0), s) for a, s in zip(x, sigmas)])
        return out, sigmas

    return apply


def patches(data: Path, split: str):
    """(patches (N, 96, 96, 3) uint8, labels (N,)) of the test split or of the map's validation subset."""
    from PIL import Image

    table = pd.read_csv(data / "labels.csv")
    if split == "val":
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from train_he_detector import split_train_val

        _, val = split_train_val(table, 0.125, 0)
        rows = table.iloc[val]
    else:
        rows = table[table["split"] == split]
    with zipfile.ZipFile(data / "patches.zip") as z:
        x = np.stack([np.asarray(Image.open(io.BytesIO(z.read(f))).convert("RGB")) for f in rows["file"]])
    return x, rows["label"].to_numpy()


def score_tiles(network: Path, root: Path, sigma: float, target, rotations: int = 1) -> dict:
    """The map of ``network`` on the CAMELYON tiles (see the module docstring), pre-blurred by
    ``pipeline.heatmap.tumour_map`` itself: ``sigma`` px of the map's input, or with ``target`` the
    model given the rule ``{"focus_target": target, "max_px": sigma}`` (read on the map's input);
    its probabilities averaged over ``rotations`` orientations at every point."""
    from dataclasses import replace

    import cv2
    from sklearn.metrics import roc_auc_score

    from pipeline.heatmap import load_heatmap_model, tumour_map

    model = load_heatmap_model(network)
    if target is not None:
        model = replace(model, meta={**model.meta, "pre_blur": {"focus_target": target, "max_px": sigma}})
    tiles = pd.read_csv(root / "tiles.csv")
    truth, scores, dice, empty, sigmas = [], [], [], [], []
    for _, row in tiles.iterrows():
        rgb = cv2.cvtColor(cv2.imread(str(root / row["image"])), cv2.COLOR_BGR2RGB)
        mask = cv2.imread(str(root / row["mask"]), cv2.IMREAD_GRAYSCALE) > 127
        tmap = tumour_map(rgb, pixel_size_um=1.0, model=model, pre_blur=None if target is not None else sigma,
                          rotations=rotations)
        sigmas.append(tmap.pre_blur_px)
        prob = cv2.resize(tmap.probability, (rgb.shape[1], rgb.shape[0]), interpolation=cv2.INTER_LINEAR)
        if not mask.any():
            empty.append(float((prob >= 0.5).mean()))
            continue
        hit = prob >= 0.5
        dice.append(2 * (hit & mask).sum() / (hit.sum() + mask.sum()))
        truth.append(mask[::4, ::4].ravel())
        scores.append(prob[::4, ::4].ravel())
    return {"tiles": len(tiles), "pixel_auc": roc_auc_score(np.concatenate(truth), np.concatenate(scores)),
            "median_dice": float(np.median(dice)), "empty_tile_share": empty,
            "pre_blurred": int(np.count_nonzero(sigmas)), "mean_pre_blur": float(np.mean(sigmas))}


def main() -> None:
    import onnxruntime as ort
    from sklearn.metrics import roc_auc_score

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("networks", nargs="+", type=Path)
    ap.add_argument("--data", type=Path, default=DEFAULT)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--focus", action="store_true", help="also blurred and sharpened (see above)")
    ap.add_argument("--pre-blur", type=float, default=0.0, metavar="SIGMA",
                    help="Gaussian blur (px) on every patch before the networks (0: none)")
    ap.add_argument("--pre-blur-target", type=float, default=None, metavar="F",
                    help="blur each patch only until its focus ratio reaches F (at most --pre-blur px)")
    ap.add_argument("--split", choices=("test", "val"), default="test",
                    help="the test split, or the map's validation subset of the train split")
    ap.add_argument("--rotations", type=int, choices=(1, 2, 4), default=1,
                    help="average each patch score over this many orientations (quarter turns)")
    ap.add_argument("--tiles", type=Path, default=None, metavar="DIR",
                    help="also the first network's map on the CAMELYON tiles of DIR (camelyon-tiles-masks)")
    args = ap.parse_args()
    if args.pre_blur_target is not None and args.pre_blur <= 0:
        ap.error("--pre-blur-target needs --pre-blur SIGMA > 0 (the most pre-blur a patch may get)")

    x, y = patches(args.data, args.split)
    name = "test" if args.split == "test" else "validation"
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = args.threads
    sessions = [ort.InferenceSession(str(path), opts) for path in args.networks]
    if args.pre_blur_target is None:
        fixed = pre_blur(args.pre_blur)

        def pre(v):
            return fixed(v), np.full(len(v), max(args.pre_blur, 0.0))
    else:
        pre = adaptive_pre_blur(args.pre_blur_target, args.pre_blur)
    xs, sig = pre(x)
    mean, logits = mean_logits(sessions, xs, args.rotations)
    for path, one in zip(args.networks, logits):
        print(f"{path}: PCam {name} AUC {roc_auc_score(y, one):.4f}")
    neg = np.sort(mean[y == 0])
    thr = neg[int(0.9 * len(neg))]
    print(f"mean of {len(logits)}: PCam {name} AUC {roc_auc_score(y, mean):.4f}; sensitivity at the {name} "
          f"negatives' 90th percentile {(mean[y == 1] > thr).mean():.3f} ({len(y)} patches, {int(y.sum())} tumour; "
          f"mean pre-blur {sig.mean():.2f} px)")
    if args.focus:
        for label, change in focus_changes().items():
            changed, sig = pre(np.stack([change(a) for a in x]))
            score, _ = mean_logits(sessions, changed, args.rotations)
            print(f"  {label:10s}: AUC {roc_auc_score(y, score):.4f}; at the unchanged patches' threshold "
                  f"sensitivity {(score[y == 1] > thr).mean():.3f}, specificity {(score[y == 0] <= thr).mean():.3f} "
                  f"(mean pre-blur {sig.mean():.2f} px)")
    if args.tiles is not None:
        t = score_tiles(args.networks[0], args.tiles, args.pre_blur, args.pre_blur_target, args.rotations)
        print(f"{args.networks[0]} as a map on {t['tiles']} CAMELYON tiles: pixel AUC {t['pixel_auc']:.4f}, median "
              f"Dice of map >= 0.5 {t['median_dice']:.3f}, empty-mask tile at map >= 0.5 "
              f"{', '.join(f'{v:.3f}' for v in t['empty_tile_share'])}; pre-blurred {t['pre_blurred']} "
              f"(mean {t['mean_pre_blur']:.2f} px)")


if __name__ == "__main__":
    main()
