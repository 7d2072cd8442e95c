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

Usage: python bench/pattern.py [--workers 2] [--seed0 95000] [--out bench/out/pattern]
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
    args = ap.parse_args()
    s = args.seed0
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
    real_epithelium(args.out)


if __name__ == "__main__":
    main()
