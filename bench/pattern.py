"""Growth-pattern accuracy, monotonicity and stability on fresh synthetic nodes.

Nodes (seeds from --seed0, default 95000, never used for tuning) are generated with
``pipeline.synthetic`` and analysed with ``pipeline.analyze``:

1. pure cases: cohesive and single-file micro- and macrometastases, H&E and IHC,
   0.5 and 1.0 µm/px: accuracy of ``growth_pattern`` against the generator's truth;
2. mixed cases: one deposit with a dispersed fraction swept 0..1: Spearman
   correlation between the true fraction and ``discohesion_index``;
3. stability: the same node (same seed) rendered at 0.5 and 1.0 µm/px, and the
   detected tumour cells with 10 % dropped at random (5 draws): does the label flip?
4. the real ``../shared/realdata/breast-epithelium`` image (ER+ carcinoma, nests,
   cords and strands; manual epithelium mask): the index and the overlay.
5. cut-off stability: nodes whose true dispersed fraction is near a cut-off (0.25-0.35,
   0.65-0.75), H&E and IHC, rendered at a base pixel size and at 0.9, 0.95, 1.05 and
   1.1 x it (the same cells, scanned a little finer or coarser): how often the label
   differs from the base one, with the plain threshold call (``scale_span=0``, before)
   and with the scale-interval call (after); a *confident* flip is one where neither
   label is ``pattern_borderline``.
6. resolution: solid (cohesive) nests rendered at 0.25, 0.5, 1.0 and 2.0 µm/px must be
   cohesive (H&E coarser than ``pipeline.stages.HE_PATTERN_MAX_PIXEL_UM``, 1.25 µm/px:
   ``not_assessable``); the same nodes downsampled to 2.5 and 4 µm/px must be
   ``not_assessable``.

Usage: python bench/pattern.py [--workers 2] [--seed0 95000] [--out bench/out/pattern]
                               [--only 1,2,3,4,5,6] [--base-px 1.0]
"""

from __future__ import annotations

import argparse
import itertools
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REAL = HERE.parent.parent / "shared" / "realdata" / "breast-epithelium"


def pure_case(job):
    from pipeline.analysis import analyze
    from pipeline.synthetic import make_node_category

    cat, pattern, stain, px, seed = job
    node = make_node_category(cat, stain=stain, pattern=pattern, pixel_size_um=px, seed=seed)
    r = analyze(node.rgb, pixel_size_um=px)
    s = r.summary()
    return {"job": job, "truth": node.growth_pattern, "found": s["growth_pattern"],
            "index": s["discohesion_index"], "true_fraction": node.dispersed_fraction}


def mixed_case(job):
    from pipeline.analysis import analyze
    from pipeline.synthetic import make_node

    fraction, stain, seed = job
    node = make_node(size_um=(1300.0, 1300.0), pixel_size_um=0.5, stain=stain, pattern="mixed",
                     deposits=[{"diameter_um": 800.0, "pattern": "mixed", "dispersed_fraction": fraction}],
                     seed=seed)
    s = analyze(node.rgb, pixel_size_um=0.5).summary()
    return {"job": job, "true_fraction": node.dispersed_fraction, "index": s["discohesion_index"],
            "found": s["growth_pattern"], "truth": node.growth_pattern}


def stability_case(job):
    from pipeline.analysis import analyze
    from pipeline.stages import measure_node
    from pipeline.synthetic import make_node

    pattern, stain, seed = job
    labels = {}
    for px in (0.5, 1.0):
        node = make_node(size_um=(1000.0, 1000.0), pixel_size_um=px, stain=stain, pattern=pattern,
                         deposits=[{"diameter_um": 500.0}], seed=seed)
        r = analyze(node.rgb, pixel_size_um=px)
        labels[px] = (r.summary()["growth_pattern"], r.summary()["discohesion_index"])
        if px == 0.5:
            rng = np.random.default_rng(seed)
            drops = []
            for _ in range(5):
                keep = rng.random(len(r.cells)) >= 0.10
                sub = r.cells[keep][["y_um", "x_um", "radius_um"]]
                d = measure_node(sub, pixel_size_um=px, stain=r.stain).summary()
                drops.append((d["growth_pattern"], d["discohesion_index"]))
    return {"job": job, "truth": node.growth_pattern, "px": labels, "drops": drops}


def cutoff_case(job):
    from pipeline.analysis import analyze
    from pipeline.pattern import pattern_summary
    from pipeline.synthetic import make_node

    fraction, stain, base, seed = job
    out = {}
    for f in (1.0, 0.9, 0.95, 1.05, 1.1):
        px = base * f
        node = make_node(size_um=(800.0, 800.0), pixel_size_um=px, stain=stain, pattern="mixed",
                         deposits=[{"diameter_um": 500.0, "pattern": "mixed", "dispersed_fraction": fraction}],
                         seed=seed)
        r = analyze(node.rgb, pixel_size_um=px)
        s = r.summary()
        plain = pattern_summary(r.cells, scale_span=0)
        out[f] = {"before": plain["growth_pattern"], "after": s["growth_pattern"],
                  "borderline": s["pattern_borderline"], "index": s["discohesion_index"],
                  "low": s["pattern"]["discohesion_low"], "high": s["pattern"]["discohesion_high"]}
    return {"job": job, "truth": node.growth_pattern, "true_fraction": node.dispersed_fraction, "px": out}


def resolution_case(job):
    import cv2

    from pipeline.analysis import analyze
    from pipeline.stages import HE_PATTERN_MAX_PIXEL_UM
    from pipeline.synthetic import make_node

    stain, seed = job
    rows = []
    for px in (0.25, 0.5, 1.0, 2.0):
        node = make_node(size_um=(700.0, 700.0), pixel_size_um=px, stain=stain, pattern="cohesive",
                         deposits=[{"diameter_um": 350.0}], seed=seed)
        s = analyze(node.rgb, pixel_size_um=px).summary()
        # an H&E pattern coarser than the detector's range is not assessable by design
        want = "not_assessable" if stain == "he" and px > HE_PATTERN_MAX_PIXEL_UM else node.growth_pattern
        rows.append((px, want, s["growth_pattern"], s["discohesion_index"], s["flags"]))
        if px == 1.0:
            h, w = node.rgb.shape[:2]
            for coarse in (2.5, 4.0):
                rgb = cv2.resize(node.rgb, (round(w / coarse), round(h / coarse)), interpolation=cv2.INTER_AREA)
                s = analyze(rgb, pixel_size_um=coarse).summary()
                rows.append((coarse, "not_assessable", s["growth_pattern"], s["discohesion_index"], s["flags"]))
    return {"job": job, "rows": sorted(rows)}


def report_cutoffs(results) -> None:
    print("cut-off stability (label at 0.9/0.95/1.05/1.1 x the base pixel size vs the base one)")
    flips = {"before": 0, "after": 0, "confident": 0}
    n = 0
    for r in results:
        fraction, stain, base, seed = r["job"]
        b = r["px"][1.0]
        for f in (0.9, 0.95, 1.05, 1.1):
            o = r["px"][f]
            n += 1
            flips["before"] += o["before"] != b["before"]
            flips["after"] += o["after"] != b["after"]
            flips["confident"] += o["after"] != b["after"] and not (o["borderline"] or b["borderline"])
        cells = ", ".join(f"{f:g}x {o['before']}->{o['after']}{'*' if o['borderline'] else ''} "
                          f"{o['index']:.2f} [{o['low']:.2f}, {o['high']:.2f}]" for f, o in r["px"].items())
        print(f"  {seed} {stain:4s} true {r['true_fraction']:.2f} ({r['truth']}): {cells}")
    print(f"label flips over {n} perturbed renderings: before (plain threshold) {flips['before']}, "
          f"after (scale interval) {flips['after']}, of which confident (neither borderline) "
          f"{flips['confident']}   (* = borderline)")


def report_resolution(results) -> None:
    print("resolution: solid nests at 0.25-2 µm/px, the same downsampled to 2.5 and 4 µm/px")
    ok = total = 0
    for r in results:
        for px, want, got, index, flags in r["rows"]:
            total += 1
            ok += got == want
            print(f"  {r['job'][0]:4s} seed {r['job'][1]} {px:4.2f} µm/px: want {want:14s} got {got:14s} "
                  f"index {index:.3f} flags {flags}{'' if got == want else '  <-- wrong'}")
    print(f"resolution cases right: {ok} of {total}")


def spearman(a, b) -> float:
    ra = np.argsort(np.argsort(a)).astype(float)
    rb = np.argsort(np.argsort(b)).astype(float)
    return float(np.corrcoef(ra, rb)[0, 1])


def real_epithelium(out: Path) -> None:
    import cv2
    from PIL import Image

    from pipeline.detection import find_nuclei
    from pipeline.options import AnalysisOptions
    from pipeline.overlay import render_overlay
    from pipeline.stages import measure_node

    img = REAL / "12947_00004.tiff"
    if not img.exists():
        print("real epithelium image not found; skipped")
        return
    px = 0.5  # README: 20x, ~0.5 µm/px (not in the metadata)
    rgb = np.asarray(Image.open(img).convert("RGB"))
    mask = np.asarray(Image.open(REAL / "12947_00004_mask.png").convert("L")) > 127
    nuclei = find_nuclei(rgb, pixel_size_um=px, options=AnalysisOptions(stain="he")).nuclei
    # tumour cells = nuclei inside the pathologist's epithelium mask (pattern only, not detection)
    iy = np.clip((nuclei["y_um"] / px).round().astype(int), 0, mask.shape[0] - 1)
    ix = np.clip((nuclei["x_um"] / px).round().astype(int), 0, mask.shape[1] - 1)
    cells = nuclei[mask[iy, ix]][["y_um", "x_um", "radius_um"]]
    r = measure_node(cells, pixel_size_um=px, stain="he")
    s = r.summary()
    p = s["pattern"]
    print(f"real ER+ carcinoma (breast-epithelium, manual mask): {len(cells)} epithelial nuclei; "
          f"discohesion index {s['discohesion_index']:.3f}, growth pattern {s['growth_pattern']}; "
          f"fractions single {p['fraction_single']:.2f}, 2-5 {p['fraction_2_5']:.2f}, "
          f"6-19 {p['fraction_6_19']:.2f}, >=20 {p['fraction_20_plus']:.2f}, linear {p['fraction_linear']:.2f}; "
          f"mean degree {p['mean_degree']:.2f}")
    out.mkdir(parents=True, exist_ok=True)
    overlay = render_overlay(rgb, r)
    cv2.imwrite(str(out / "epithelium_overlay.png"), cv2.cvtColor(overlay, cv2.COLOR_RGB2BGR))
    print(f"overlay written to {out / 'epithelium_overlay.png'}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed0", type=int, default=95000)
    ap.add_argument("--out", type=Path, default=HERE / "out" / "pattern")
    ap.add_argument("--only", default="1,2,3,4,5,6", help="sections to run, e.g. 5,6")
    ap.add_argument("--base-px", type=float, default=1.0, help="base pixel size of section 5, µm/px")
    args = ap.parse_args()
    only = {int(v) for v in args.only.split(",")}
    s = args.seed0
    cut = [(f, st, args.base_px, s + 300 + i) for i, (f, st) in enumerate(itertools.product(
        (0.25, 0.3, 0.35, 0.65, 0.7, 0.75), ("ihc", "he")))]
    res = [(st, s + 400 + i) for i, st in enumerate(("ihc", "he"))]
    with ProcessPoolExecutor(args.workers) as pool:
        cut_r = list(pool.map(cutoff_case, cut)) if 5 in only else []
        res_r = list(pool.map(resolution_case, res)) if 6 in only else []
    if 5 in only:
        report_cutoffs(cut_r)
    if 6 in only:
        report_resolution(res_r)
    if not only & {1, 2, 3, 4}:
        return
    pure = [(c, p, st, px, s + i) for i, (c, p, st, px) in enumerate(itertools.product(
        ("micrometastasis", "macrometastasis"), ("cohesive", "single_file"), ("he", "ihc"), (0.5, 1.0)))]
    mixed = [(f, st, s + 100 + i) for i, (f, st) in enumerate(itertools.product(
        (0.0, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9, 1.0), ("he", "ihc")))]
    stab = [(p, st, s + 200 + i) for i, (p, st) in enumerate(itertools.product(("cohesive", "single_file"), ("he", "ihc")))]
    with ProcessPoolExecutor(args.workers) as pool:
        pure_r = list(pool.map(pure_case, pure))
        mixed_r = list(pool.map(mixed_case, mixed))
        stab_r = list(pool.map(stability_case, stab))
    print("pure cases")
    for r in pure_r:
        cat, pat, st, px, seed = r["job"]
        flag = "" if r["found"] == r["truth"] else "  <-- wrong"
        print(f"  {seed} {cat:15s} {st:4s} {px:4.1f} truth {r['truth']:11s} found {r['found']:11s} "
              f"index {r['index']:.2f}{flag}")
    acc = np.mean([r["found"] == r["truth"] for r in pure_r])
    print(f"growth-pattern accuracy on pure cases: {acc:.3f} over {len(pure_r)} nodes (target >= 0.95)")
    print("mixed cases (true dispersed fraction -> discohesion index)")
    for st in ("he", "ihc"):
        rows = [r for r in mixed_r if r["job"][1] == st]
        pairs = ", ".join(f"{r['true_fraction']:.2f}->{r['index']:.2f}" for r in rows)
        print(f"  {st}: {pairs}; Spearman {spearman([r['true_fraction'] for r in rows], [r['index'] for r in rows]):.3f}")
    rho = spearman([r["true_fraction"] for r in mixed_r], [r["index"] for r in mixed_r])
    print(f"Spearman over all mixed cases: {rho:.3f} (target >= 0.9)")
    print("stability")
    flips_px = flips_drop = 0
    for r in stab_r:
        a, b = r["px"][0.5], r["px"][1.0]
        flips_px += a[0] != b[0]
        flips_drop += sum(d[0] != a[0] for d in r["drops"])
        print(f"  {r['job'][0]:11s} {r['job'][1]:4s} truth {r['truth']:11s} 0.5 µm/px {a[0]} ({a[1]:.2f}), "
              f"1.0 µm/px {b[0]} ({b[1]:.2f}); 10 % dropped: {', '.join(f'{d[0]} ({d[1]:.2f})' for d in r['drops'])}")
    print(f"label flips between 0.5 and 1.0 µm/px: {flips_px} of {len(stab_r)}; "
          f"after dropping 10 % of cells: {flips_drop} of {5 * len(stab_r)}")
    if 4 in only:
        real_epithelium(args.out)


if __name__ == "__main__":
    main()
