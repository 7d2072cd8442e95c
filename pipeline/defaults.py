"""The default values and choices of NodeScope's analysis, each written once, with its source.

A plain module of constants (no imports), so that the command line can build its
options from them without loading the scientific stack. The stage modules use
them as their functions' defaults and :class:`pipeline.options.AnalysisOptions`
as its fields' defaults.

References
----------
.. [1] Amin MB et al. (eds). AJCC Cancer Staging Manual, 8th edition. Springer, 2017.
.. [2] Ehteshami Bejnordi B et al. Diagnostic assessment of deep learning algorithms for
       detection of lymph node metastases in women with breast cancer (CAMELYON16).
       JAMA 318(22), 2017.
"""

__all__ = [
    "STAIN_KINDS", "RULES", "CAMELYON_LINK_UM", "CONTACT_UM", "ITC_MAX_UM", "MICRO_MAX_UM",
    "ITC_MAX_CELLS", "MIN_PATTERN_CELLS", "COHESIVE_MAX", "SINGLE_FILE_MIN",
    "PATTERN_SCALE_SPAN", "PATTERN_CUTOFF_MARGIN", "DAB_THRESHOLD",
    "DAB_CONTRAST", "DAB_STRONG_FACTOR", "DAB_STRONG_MIN_COVERAGE", "DAB_STRONG_MAX_INSIDE_RATIO", "DAB_BACKGROUND_RADIUS_UM", "DAB_HYSTERESIS",
    "DAB_CANDIDATE_SIZE_RATIO", "IHC_NEIGHBOUR_UM", "IHC_NEST_MIN_CELLS", "IHC_NEST_MIN_GAP_RATIO", "MIN_RING_COVERAGE", "DAB_MAX_AXIS_RATIO", "RING_UM", "DAB_OUTER_UM", "DAB_MAX_OUTER_RATIO", "SAMPLE_TILES", "WSI_THRESHOLD_MP", "IN_MEMORY_TILE_PX",
    "WHOLE_SLIDE_TILE_PX",
]

#: Stains NodeScope analyses: H&E, and haematoxylin + DAB (cytokeratin IHC).
STAIN_KINDS = ("he", "ihc")

#: Deposit-linking rules: CAMELYON16 distance linking, or strict contiguity.
RULES = ("camelyon", "contiguous")

#: Tumour cells whose outlines are within this distance form one deposit, µm (CAMELYON16 [2]).
CAMELYON_LINK_UM = 75.0

#: Largest nuclear-outline gap that counts as contact for the contiguous rule, µm: the
#: width of the cytoplasm two neighbouring carcinoma cells share (a lymphocyte between
#: two tumour cells, 6-7 µm, breaks contact).
CONTACT_UM = 3.0

#: Largest deposit of isolated tumour cells, µm (AJCC 8th [1]: <= 0.2 mm).
ITC_MAX_UM = 200.0

#: Largest deposit of a micrometastasis, µm (AJCC 8th [1]: <= 2 mm).
MICRO_MAX_UM = 2000.0

#: Most tumour cells of an ITC node (AJCC 8th [1]: <= 200 cells).
ITC_MAX_CELLS = 200

#: Fewest tumour cells for a growth-pattern call (fewer: "none"); chosen on bench/pattern.py.
MIN_PATTERN_CELLS = 10

#: Discohesion index at or below which growth is called cohesive (bench/pattern.py).
COHESIVE_MAX = 0.3

#: Discohesion index at or above which growth is called single-file (bench/pattern.py).
SINGLE_FILE_MIN = 0.7

#: Relative change of the linking distance over which a growth-pattern call must hold
#: (the *scale interval*, see :func:`pipeline.pattern.pattern_summary`): the index is also computed at
#: ``(1 - span)`` and ``(1 + span)`` x the linking distance, 2.0-2.2 nuclear diameters
#: with the default factor of 2.1 (docs/growth_pattern.md gives the measurements);
#: 0 turns the interval off (a plain threshold call).
PATTERN_SCALE_SPAN = 0.05

#: Distance of the discohesion index from a cut-off within which a call is borderline
#: ``"mixed"`` even when the index does not move with the scale (cells all far apart
#: or all touching): a node at 0.29 and the same node rescanned at 0.31 must not get
#: two confident labels. Applies with the scale interval (``scale_span > 0``); never
#: wider than the band between a cut-off and 0 or 1.
PATTERN_CUTOFF_MARGIN = 0.02

#: Median DAB optical density of a cytoplasm ring above which an IHC cell is positive
#: (bench/accuracy.py, bench/ihc_background.py; QuPath's positive-cell detection uses a
#: similar OD threshold). 0.2, not 0.15: histiocyte cytoplasm in a sinus under faint diffuse
#: brown (0.1 OD, patchy) reaches 0.16-0.18 among unstained lymphocytes.
DAB_THRESHOLD = 0.2
#: Hysteresis of the IHC call: a cell whose ring reaches this fraction of the threshold and
#: of the contrast over background (and that is at least ``DAB_CANDIDATE_SIZE_RATIO`` times
#: the image's lymphocytes, or stained all round) counts when a cell over the full threshold
#: lies within 20 µm: weakly stained or small lobular cells in a file of positive cells
#: (bench/ihc_background.py: lobular ITC cell counts within +-20 % in 18 -> 20 of 20 nodes,
#: still 0 false cells in 20 negative nodes with diffuse DAB).
DAB_HYSTERESIS = 0.75
#: Neighbourhood (µm) of a cytokeratin cell: its nest (positive cells around a lymphocyte-sized
#: nucleus) and, for a weakly stained cell, the clearly positive cell it must be near.
IHC_NEIGHBOUR_UM = 20.0
#: Fewest tumour cells within ``IHC_NEIGHBOUR_UM`` that make a pale, weakly positive nucleus
#: (paler than ``DAB_PALE_NUCLEUS_RATIO`` x the lymphocytes, its ring at ``DAB_HYSTERESIS`` x the
#: threshold) a cell of their nest whatever its size (``pipeline.stages``; the nest fills from its
#: positive cells inwards). On real carcinoma the size rule had left half of a nest's nuclei out:
#: ``bench/virtual_ck.py`` (the CAMELYON tiles restained as cytokeratin) found ~0.5 of the tumour
#: cells that H&E finds on the same tiles, too sparse a point set for the contact graph, so
#: mostly ductal nests read "mixed" or "single_file" (docs/hardening.md). 3, not 2: a nest
#: around the nucleus, not a file beside it (2 gave 2 more cohesive tiles of 61 and more false
#: cells on synthetic nodes).
IHC_NEST_MIN_CELLS = 3
#: Such a nucleus must lie at least this many times the sum of the two radii from every tumour
#: cell (centre to centre): a piece touching a cell is more likely part of its split nucleus
#: (synthetic cytokeratin macrometastasis, seed 200000 of ``bench/accuracy.py``: of 644 nuclei
#: the fill added without this rule, 489 were second pieces of cells already counted, at 0.8-1.4
#: x the sum (5th-95th percentile), the others at 1.2-1.8 x; 1.3 adds 167).
IHC_NEST_MIN_GAP_RATIO = 1.3
#: Least ``ring_coverage`` (the part of a full 4 µm ring around a nucleus that is not other
#: nuclei) for a cytokeratin call: a lymphocyte packed among lymphocytes has almost no ring
#: of its own, and one brown speck can fill what is left (synthetic negative seed 780006 of
#: bench/ihc_background.py: coverage 0.13, ring median 0.90 OD, a false 1-cell ITC); true
#: tumour cells of synthetic cohesive and single-file nodes at 0.25-1 µm/px: 0.21 at least,
#: 0.56-0.66 at the 5th percentile.
MIN_RING_COVERAGE = 0.17
#: Size (times the lymphocyte diameter) above which a hysteresis candidate needs no all-round stain.
DAB_CANDIDATE_SIZE_RATIO = 1.1
#: How far (OD) above the image's own local DAB background a positive ring must be.
DAB_CONTRAST = 0.12
#: A cytoplasm ring this many times a cell's own threshold is positive even when its
#: nucleus looks brown too: the spared-nucleus rule is there for diffuse haze (0.05-0.12
#: OD; a stromal cell in a brown patch: ring 0.22, nucleus 0.12), not for a cell whose
#: cytokeratin-filled cytoplasm also lies over or under its nucleus in the section
#: (ring 0.45, nucleus 0.50 OD in a rendering where DAB fills the whole cell).
DAB_STRONG_FACTOR = 2.0
#: Least ``ring_coverage`` for a small nucleus to count on a strong ring alone: a cell
#: with its own cytoplasm has most of its ring free of other nuclei (true tumour cells of
#: synthetic cohesive and single-file nodes: 5th percentile 0.56-0.66), while a lymphocyte
#: packed among others beside a brown speck has little (bench/ihc_background.py seeds
#: 780002, 780018, 800004: ring median 0.51-0.57 OD, coverage 0.25-0.30).
DAB_STRONG_MIN_COVERAGE = 0.5
#: Most DAB over the nucleus, as a multiple of the ring's, for a strong ring to count
#: although the nucleus is brown: cytokeratin over or under the nucleus browns it about as
#: much as the cytoplasm (1.1 in a whole-cell rendering), while a nuclear marker read as
#: cytoplasmic (Ki67, OpenSlide OS-2) browns the nucleus more than its ring (1.1-2.6 among
#: the 21 cells a cap of 1.5 let through; 1.2 leaves 8, 1.1 leaves 3).
DAB_STRONG_MAX_INSIDE_RATIO = 1.1
#: A nucleus whose mean haematoxylin is under this fraction of the image's lymphocytes' (the
#: median of its lymphocyte-sized nuclei) is no lymphocyte: lymphocytes have dense chromatin,
#: carcinoma nuclei are pale and vesicular. On real sections a carcinoma nucleus is often
#: segmented no larger than a lymphocyte (its pale centre falls under the haematoxylin threshold:
#: ~6 µm on the CAMELYON tiles at 1 µm/px, against 5-5.5 µm for their lymphocytes), so in
#: cytokeratin IHC such a pale nucleus does not set the DAB background (it would set it from
#: inside a positive nest), and a positive one marks a nest as a large one does
#: (``pipeline.tumor.dab_background``). It still needs the all-round stain asked of a
#: lymphocyte-sized nucleus to count: exempting it made pale histiocytes and endothelial cells
#: under diffuse brown false 1-2-cell ITCs (``bench/ihc_background.py`` seed 720021, 1 µm/px).
#: ``bench/virtual_ck.py`` (the CAMELYON tiles restained as cytokeratin; in silico DAB, real
#: cells): their tumour nuclei with a brown ring read 0.56-0.85 of the lymphocytes' haematoxylin
#: (median per tile), the lymphocytes' 10th percentile 0.61-0.91.
DAB_PALE_NUCLEUS_RATIO = 0.8
#: Neighbourhood (µm) over which the local DAB background is taken from lymphocytes.
DAB_BACKGROUND_RADIUS_UM = 150.0
#: A spindle nucleus (major / minor axis at least this) is never a cytokeratin-positive tumour
#: cell: fibroblasts of a capsule or trabecula whose collagen holds diffuse brown have a brown
#: ring all round and a spared nucleus (bench/ihc_background.py seed 720021, reactive, 0.10 OD:
#: 8 capsule fibroblasts, axis ratio 2.9-4.6, made a false 0.25 mm micrometastasis), and
#: cytokeratin-positive interstitial reticulum cells, the classic pitfall of sentinel-node IHC,
#: are spindle or dendritic too. Carcinoma nuclei are round to oval: true tumour cells of
#: synthetic cohesive and single-file nodes reach 1.85 at most.
DAB_MAX_AXIS_RATIO = 2.5

#: Width (µm) of the cytoplasm ring around each nucleus (``pipeline.nuclei.nucleus_features``).
RING_UM = 4.0

#: Width (µm) of the band beyond a cell's 4 µm cytoplasm ring whose median DAB
#: (``counterstain_outer``, measured in cytokeratin images) tells the matrix around a cell
#: from the cell's own cytoplasm.
DAB_OUTER_UM = 4.0

#: A positive cytokeratin cell with no other stained nucleus within 16 µm of its own, edge to
#: edge (whose cytoplasm could fill its outer band), and whose surroundings
#: (``counterstain_outer``) are at least this fraction of its ring's DAB is a nucleus in brown
#: matrix (capsule collagen, a browned fat septum), not a cell with a cytokeratin-filled
#: cytoplasm: two such false one-cell ITCs at 1 µm/px had 1.01-1.02, lone true lobular cells
#: of ``bench/ihc_background.py`` (0.5 and 1 µm/px) 0.13-0.64.
DAB_MAX_OUTER_RATIO = 0.8

#: Full-resolution tissue samples for the stain and nuclear-threshold estimates.
SAMPLE_TILES = 16

#: Nuclei are segmented at this pixel size (µm) or, for an image whose pixels are not a whole
#: fraction of it, the nearest finer one: a finer image is averaged down by a whole factor
#: (0.25 µm/px by 2, 0.23 µm/px to 0.46). QuPath's cell detection works the same way
#: ("requested pixel size", 0.5 µm by default). Real breast carcinoma nuclei segment as well at
#: 0.5 µm/px as at 0.25 (MoNuSeg object F1 0.64 both ways), in a quarter of the pixels.
NUCLEUS_PIXEL_SIZE_UM = 0.5

#: TIFF-family files above this many megapixels are analysed tile by tile from the file.
WSI_THRESHOLD_MP = 64.0

#: Processing tile side for an image in memory, pixels (bounded memory, same nuclei).
IN_MEMORY_TILE_PX = 512

#: Processing tile side for a slide read from its file, pixels (fewer, larger reads).
WHOLE_SLIDE_TILE_PX = 2048
