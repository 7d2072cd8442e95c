"""NodeScope's Python API, stage by stage, on a synthetic node with known truth.

Run: python docs/api_example.py
"""

from pipeline import analyze
from pipeline.measure import group_deposits, max_feret_diameter_um
from pipeline.nuclei import nucleus_features, segment_nuclei
from pipeline.staging import node_category, patient_pn_stage
from pipeline.stains import detect_stain, estimate_stain_vectors, separate_stains
from pipeline.synthetic import make_node
from pipeline.tissue import tissue_mask
from pipeline.tumor import classify_ihc

# 1. An image and its pixel size (from a file: rgb, px, meta = pipeline.read_image(path)).
node = make_node(size_um=(800, 800), pixel_size_um=0.5, stain="ihc", pattern="single_file",
                 deposits=[{"diameter_um": 350}], seed=7)
rgb, px = node.rgb, node.pixel_size_um

# 2. The stages one by one, each a function on arrays.
tissue = tissue_mask(rgb, pixel_size_um=px)
stain, why = detect_stain(rgb, mask=tissue)
vectors, source = estimate_stain_vectors(rgb, stain=stain, mask=tissue)
conc = separate_stains(rgb, vectors)                    # (M, N, 3): haematoxylin, DAB, residual
labels = segment_nuclei(conc[..., 0], pixel_size_um=px, mask=tissue)
nuclei = nucleus_features(labels, conc[..., 0], conc[..., 1], pixel_size_um=px)
tumour = nuclei[classify_ihc(nuclei)]
deposits = group_deposits(tumour, rule="camelyon", link_um=75)
largest = float(deposits["longest_diameter_um"].max()) if len(deposits) else 0.0
category, reason = node_category(largest, len(tumour))
print(f"stain: {stain} ({why})")
print(f"{len(nuclei)} nuclei, {len(tumour)} tumour cells, {len(deposits)} deposit(s)")
print(f"largest deposit {largest:.0f} µm -> {category}: {reason}")

# 3. Or everything at once; the result is one dataclass (cells, deposits, summary).
result = analyze(rgb, pixel_size_um=px)
print(result.category, result.pn_category, f"{result.largest_deposit_um:.0f} µm",
      result.summary()["growth_pattern"])
print("truth:", node.category, f"{node.deposits['longest_diameter_um'].max():.0f} µm", node.growth_pattern)

# 4. Measurements and staging are plain functions too.
print(max_feret_diameter_um(tissue, pixel_size_um=px), "µm across the tissue")
print(patient_pn_stage(["macrometastasis", "micrometastasis", "itc", "negative", "negative"], sentinel=True))
