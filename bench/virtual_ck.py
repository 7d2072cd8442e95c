"""Cytokeratin IHC on real lymph-node morphology: "virtual cytokeratin" from real H&E tiles.

NodeScope is judged on real cytokeratin slides, and none is at hand (``../shared/realdata``
has Ki67 only, a nuclear DAB stain); the cytokeratin benches so far (``ihc_robustness.py``,
``ihc_background.py``, ``twins.py``) draw their tissue with NodeScope's own generator. This
bench keeps the tissue real: the 62 CAMELYON lymph-node tiles of
``camelyon-tiles-masks`` (~1 µm/px, real lymphocytes, sinuses, vessels and carcinoma nuclei;
a coarse tumour mask each, one tile with an empty mask) are restained in silico as a
cytokeratin IHC would show them:

1. each tile is unmixed with its own H&E stain vectors (``pipeline.stains``);
2. the eosin is dropped; inside the tumour mask, the eosin density (cytoplasm, and the
   stroma between nests that the coarse masks hold) becomes DAB, times a stain strength
   (DAB OD where the eosin is at the mask's median, at most 1.5 x that: ``weak`` 0.25,
   ``normal`` 0.5, ``strong`` 0.9); spared over the nuclei (0.1 x above the mask's 75th
   percentile of haematoxylin, none below its median, pale vesicular nuclei too), since
   cytokeratin is cytoplasmic; and none where dark nuclei crowd (lymphocytes caught in the
   coarse mask: their share within ~6 µm, of the haematoxylin above the tile's 80th
   percentile, x 2);
3. the haematoxylin is kept (x 0.7: an IHC counterstain is lighter than an H&E one), and a
   faint, uneven non-specific DAB of ``--background`` OD (0.04 by default, smooth noise of
   0.5-1.5 x that) lies on all tissue in the ``+ bg`` conditions;
4. recomposed with the reference haematoxylin and DAB vectors onto neutral glass as bright as
   the tile's.

What is synthetic: the DAB (its amount follows the eosin), not the cells. The masks are coarse
(blocky, with stroma), so they are the truth for the region only. Every tile goes through
``pipeline.analyze`` with ``stain="auto"`` (what ``nodescope analyze`` runs) at 1 µm/px.

Printed per condition: the stain read, tumour found in the 61 tumour tiles, the Dice of the
deposits' outlines (filled) with the mask, the largest deposit against the mask's largest
region (regions within 75 µm linked, Feret; as in ``real_he.py``), the growth pattern and
the empty-mask tile's call.

Usage: python bench/virtual_ck.py [--realdata DIR] [--background 0.04] [--workers 2]
                                  [--only "normal,weak + bg,..."] [--save DIR] [--csv FILE]
"""

from __future__ import annotations

import argparse
import sys
import zlib
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))  # run as a script: bench/ modules
from real_he import DEFAULT, POSITIVE, dice, largest_feret_um  # noqa: E402

TILE_UM = 1.0  # camelyon-tiles-masks: ~1 µm/px (see its README)
H_SCALE = 0.7  # an IHC counterstain is lighter than the haematoxylin of an H&E
#: DAB optical density where the eosin is at the mask's median (weak, normal, strong staining)
STRENGTHS = {"weak": 0.25, "normal": 0.5, "strong": 0.9}
CONDITIONS = {f"{name}{bg}": (gain, bool(bg)) for bg in ("", " + bg") for name, gain in STRENGTHS.items()}


def virtual_ck(rgb, mask, *, gain, background_od=0.0, seed=0):
    """A cytokeratin IHC rendering of a real H&E tile: (M, N, 3) uint8."""
    from pipeline.stains import REFERENCE_VECTORS, estimate_background, estimate_stain_vectors, separate_stains
    from pipeline.tissue import tissue_mask

    glass = estimate_background(rgb)
    vectors, _ = estimate_stain_vectors(rgb, stain="he", background=glass)
    conc = separate_stains(rgb, vectors, background=glass)
    h, e = conc[..., 0], conc[..., 1]
    # the DAB follows the eosin (cytoplasm) in the mask: ``gain`` OD where the eosin is at the
    # mask's median, whatever the tile's own eosin strength, at most 1.5 x that
    inside = e[mask > 0]
    level = float(np.median(inside)) if inside.size else 1.0
    dab = gain * np.minimum(e / max(level, 1e-3), 1.5) * mask
    # lymphocytes caught in the coarse mask stay unstained: no DAB where dark, dense nuclei crowd
    # (their share within ~6 µm, from the haematoxylin above the tile's 80th percentile)
    dark = (h > np.percentile(h, 80)).astype(np.float32)
    crowd = cv2.GaussianBlur(dark, (0, 0), 6.0 / TILE_UM)
    dab *= 1.0 - np.clip(2.0 * crowd, 0, 1)
    # cytoplasmic: spare the nuclei, pale vesicular ones too (the unmixing leaves some eosin on
    # them), as cytokeratin does: nothing spared at or under the mask's median haematoxylin
    # (cytoplasm), 0.9 of the DAB spared above its 75th percentile (nuclei)
    inside_h = h[mask > 0]
    c50, c75 = (np.percentile(inside_h, (50, 75)) if inside_h.size else (0.0, 1.0))
    nucleus = np.clip((h - c50) / max(float(c75 - c50), 1e-3), 0, 1)
    dab *= 1.0 - 0.9 * cv2.GaussianBlur(nucleus.astype(np.float32), (0, 0), 0.7 / TILE_UM)
    if background_od > 0:
        rng = np.random.default_rng(seed)
        noise = cv2.GaussianBlur(rng.random(h.shape, dtype=np.float32), (0, 0), 12)
        noise = (noise - noise.min()) / max(float(np.ptp(noise)), 1e-6)  # 0-1, smooth
        tissue = tissue_mask(rgb, pixel_size_um=TILE_UM)
        dab = dab + background_od * (0.5 + noise) * tissue
    od = (H_SCALE * h)[..., None] * REFERENCE_VECTORS["hematoxylin"] + dab[..., None] * REFERENCE_VECTORS["dab"]
    # neutral glass as bright as the tile's (a cytokeratin slide is not pink where it is empty)
    out = float(np.max(glass)) * 10.0 ** (-od)
    return np.clip(np.round(out), 0, 255).astype(np.uint8)


def _region(result, shape):
    """The deposits' outlines, filled, as a mask of ``shape`` (``NodeResult.deposits`` outline
    vertices are (y, x) µm; the exported ``deposits.csv`` turns them to [x, y])."""
    region = np.zeros(shape, np.uint8)
    for outline in result.deposits["outline"]:
        pts = np.round(np.asarray(outline, float)[:, ::-1] / TILE_UM).astype(np.int32)  # (x, y) px
        if len(pts) >= 3:
            cv2.fillPoly(region, [pts.reshape(-1, 1, 2)], 1)
    return region > 0


def _one(args):
    root, image, mask_path, condition, background, save = args
    from PIL import Image

    from pipeline import analyze

    rgb = np.asarray(Image.open(root / image).convert("RGB"))
    mask = np.asarray(Image.open(root / mask_path).convert("L")) > 127
    gain, bg = CONDITIONS[condition]
    ck = virtual_ck(rgb, mask.astype(np.float32), gain=gain, background_od=background if bg else 0.0,
                    seed=zlib.crc32(image.encode()))  # the same noise in every run
    if save is not None:
        out = Path(save) / condition.replace(" + ", "_")
        out.mkdir(parents=True, exist_ok=True)
        Image.fromarray(ck).save(out / Path(image).with_suffix(".png").name)
    r = analyze(ck, pixel_size_um=TILE_UM)
    region = _region(r, mask.shape)
    return {"tile": image, "condition": condition, "tumour": bool(mask.any()), "stain": r.stain,
            "category": r.category, "cells": r.tumor_cell_count, "deposits": len(r.deposits),
            "largest_um": r.largest_deposit_um, "mask_largest_um": largest_feret_um(mask, TILE_UM),
            "dice": dice(region, mask) if mask.any() else float("nan"),
            "region_fraction": float(region.mean()), "pattern": r.growth_pattern,
            "reason": r.not_assessable_reason or ""}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--realdata", type=Path, default=DEFAULT)
    ap.add_argument("--background", type=float, default=0.04, help="non-specific DAB of the '+ bg' conditions (OD)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--only", default="", help="comma-separated conditions (default: all)")
    ap.add_argument("--save", type=Path, default=None, help="write the virtual cytokeratin tiles here (PNG)")
    ap.add_argument("--csv", type=Path, default=None, help="write one row per tile and condition here")
    args = ap.parse_args()
    conditions = [c.strip() for c in args.only.split(",") if c.strip()] or list(CONDITIONS)
    unknown = sorted(set(conditions) - set(CONDITIONS))
    if unknown:
        raise SystemExit(f"--only: unknown condition(s) {unknown}; use {', '.join(CONDITIONS)}")
    root = args.realdata / "camelyon-tiles-masks"
    table = pd.read_csv(root / "tiles.csv")
    jobs = [(root, row.image, row.mask, c, args.background, args.save)
            for c in conditions for row in table.itertuples()]
    with ProcessPoolExecutor(args.workers) as pool:
        rows = pd.DataFrame(list(pool.map(_one, jobs, chunksize=4)))
    if args.csv is not None:
        rows.to_csv(args.csv, index=False)
    print(f"virtual cytokeratin on camelyon-tiles-masks ({len(table)} real lymph-node tiles, 1 µm/px), "
          f"through pipeline.analyze (stain auto); haematoxylin x{H_SCALE}, DAB = strength x eosin in the mask"
          f"{f', + bg: {args.background} OD non-specific DAB' if any(CONDITIONS[c][1] for c in conditions) else ''}")
    print(f"{'condition':14s} {'read IHC':>8s} {'found':>7s} {'Dice med':>8s} {'Dice min':>8s} "
          f"{'largest/mask med':>16s} {'within 25%':>10s} {'shorter':>7s} {'longer':>6s}  empty-mask tile")
    for c in conditions:
        part = rows[rows["condition"] == c]
        tumour = part[part["tumour"]]
        found = tumour["category"].isin(POSITIVE)
        ratio = tumour["largest_um"].fillna(0) / tumour["mask_largest_um"]
        empty = part[~part["tumour"]]
        empty_call = ", ".join(f"{e.category} ({e.cells} cells)" for e in empty.itertuples())
        print(f"{c:14s} {int((part['stain'] == 'ihc').sum()):>4d}/{len(part):<3d} {int(found.sum()):>3d}/{len(tumour):<3d} "
              f"{tumour['dice'].median():8.3f} {tumour['dice'].min():8.3f} {ratio.median():16.2f} "
              f"{int(((ratio - 1).abs() <= 0.25).sum()):>6d}/{len(ratio):<3d} {int((ratio < 0.75).sum()):>7d} "
              f"{int((ratio > 1.25).sum()):>6d}  {empty_call}")
        missed = tumour[~found]
        if len(missed):
            print(f"{'':14s} missed: " + ", ".join(f"{Path(m.tile).stem} ({m.category}{'; ' + m.reason if m.reason else ''})"
                                                 for m in missed.itertuples()))
        other = part[part["stain"] != "ihc"]
        if len(other):
            print(f"{'':14s} not read as IHC: " + ", ".join(f"{Path(o.tile).stem} ({o.stain}, {o.category})"
                                                         for o in other.itertuples()))
        calls = tumour["pattern"].value_counts()
        print(f"{'':14s} growth pattern: " + ", ".join(f"{k} {v}" for k, v in calls.items()))


if __name__ == "__main__":
    main()
