"""NodeScope's Python API, stage by stage, on a synthetic node with known truth.

The three stages below are exactly what ``pipeline.analyze`` runs (and what the
command line and the napari plugin run): no hand-made copy of the pipeline.

Run: python docs/api_example.py
"""

from pipeline import AnalysisOptions, analyze, find_nuclei, find_tumour_cells, measure_node
from pipeline.measure import group_deposits, max_feret_diameter_um
from pipeline.staging import node_category, patient_pn_stage
from pipeline.synthetic import make_node
from pipeline.tissue import tissue_mask

# 1. An image and its pixel size (from a file: rgb, px, meta = pipeline.read_image(path)).
node = make_node(size_um=(800, 800), pixel_size_um=0.5, stain="ihc", pattern="single_file",
                 deposits=[{"diameter_um": 350}], seed=7)
rgb, px = node.rgb, node.pixel_size_um

# 2. Every choice in one options object (defaults: AJCC 8th / CAMELYON16).
options = AnalysisOptions(stain="auto", rule="camelyon", link_um=75)

# 3. The stages, each a public function.
found = find_nuclei(rgb, pixel_size_um=px, options=options)      # tissue, stains, every nucleus
print(f"stain: {found.stain} ({found.stain_reason}); {len(found.nuclei)} nuclei")
tumour = find_tumour_cells(found.nuclei, found.stain, options)    # which nuclei are tumour cells
result = measure_node(tumour.cells, pixel_size_um=px, stain=found.stain, options=options,
                      tissue_area_mm2=found.tissue_area_mm2, shape=found.shape)
print(f"{len(tumour.cells)} tumour cells, {len(result.deposits)} deposit(s)")
print(f"largest deposit {result.largest_deposit_um:.0f} µm -> {result.category}: {result.category_reason}")

# 4. Or everything at once; the result is one immutable dataclass (cells, deposits, summary).
result = analyze(rgb, pixel_size_um=px, options=options)
print(result.category, result.pn_category, f"{result.largest_deposit_um:.0f} µm", result.growth_pattern)
print("truth:", node.category, f"{node.deposits['longest_diameter_um'].max():.0f} µm", node.growth_pattern)

# 5. Measurements and staging are plain functions on tables and arrays too.
deposits = group_deposits(tumour.cells, rule="contiguous")
print(f"{len(deposits)} deposit(s) with the strict contiguity rule; largest "
      f"{deposits['longest_diameter_um'].max():.0f} µm -> {node_category(deposits['longest_diameter_um'].max(), len(tumour.cells))[0]}")
tissue = tissue_mask(found.overview, pixel_size_um=found.overview_pixel_size_um)
print(f"{max_feret_diameter_um(tissue, pixel_size_um=found.overview_pixel_size_um):.0f} µm across the tissue")
print(patient_pn_stage(["macrometastasis", "micrometastasis", "itc", "negative", "negative"], sentinel=True))
